package promserver_test

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/granary-rt/granary/internal/promserver"
)

// alertRules is the alerting rules file the README offers operators.
var alertRules, _ = filepath.Abs("../../docs/prometheus/granary-alerts.yml")

// TestAlertRules: the alerting rules are valid Prometheus rules and pass
// their unit tests (docs/prometheus/granary-alerts_test.yml: each alert
// fires on the series it is for and not on the ones next to them).
// TestPrometheusSeesFailover has a real Prometheus evaluate them.
func TestAlertRules(t *testing.T) {
	promtool, err := promserver.Promtool()
	if err != nil {
		if testing.Short() {
			t.Skipf("-short: %v", err)
		}
		t.Fatalf("the alert rules test needs promtool: %v", err)
	}
	dir := filepath.Dir(alertRules)
	for _, args := range [][]string{
		{"check", "rules", "granary-alerts.yml"},
		{"test", "rules", "granary-alerts_test.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("promtool %v in %s: %v\n%s", args, dir, err, out)
		}
		t.Logf("promtool %v: %s", args, out)
	}
}
