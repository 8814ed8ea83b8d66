package promserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/httpapi"
	"github.com/granary-rt/granary/cluster/node"
	"github.com/granary-rt/granary/examples/kinds"
	"github.com/granary-rt/granary/internal/promserver"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testnode"
	"github.com/granary-rt/granary/internal/testutil"
)

// one is the value of a query that must answer one series.
func one(ctx context.Context, srv *promserver.Server, q string) (float64, string) {
	s, err := srv.Query(ctx, q)
	switch {
	case err != nil:
		return 0, err.Error()
	case len(s) != 1:
		return 0, fmt.Sprintf("%s: %d series (%v), want 1", q, len(s), s)
	}
	return s[0].Value, ""
}

// TestPrometheusSeesFailover is the kill test read back through a real
// Prometheus server: three `granary node` processes on a real Consul, a
// Prometheus scraping all three every 500ms, tasks running on them; the
// member running the most is killed with SIGKILL; then PromQL over
// Prometheus' HTTP API must show the killed target down, the survivors
// adopting every task it ran (counted once each), the attempts it lost,
// and the time from its loss to the adoptions. The same Prometheus
// evaluates the alerting rules of docs/prometheus: none is pending on the
// busy, healthy cluster, and after the kill GranaryMemberDown is, for the
// killed member only, and no other.
func TestPrometheusSeesFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Consul, Prometheus and granary processes")
	}
	if _, err := promserver.Binary(); err != nil {
		t.Fatalf("the Prometheus kill test needs a prometheus binary: %v", err)
	}
	agent := testconsul.Start(t, testconsul.Options{})
	var nodes []*testnode.Node
	var targets []string
	for i := range 3 {
		n := testnode.ClusterNode(t, "prom", agent.HTTPAddr(), fmt.Sprintf("n%d", i+1))
		nodes, targets = append(nodes, n), append(targets, n.HTTP)
	}
	ctx := testutil.Context(t, 3*time.Minute)
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		for _, n := range nodes {
			if ms, err := n.Client().Members(ctx); err != nil || len(ms) != 3 {
				return false, fmt.Sprintf("%s sees %d members (%v)", n.ID, len(ms), err)
			}
		}
		return true, ""
	})
	srv := promserver.Start(t, promserver.Options{Targets: targets, RuleFiles: []string{alertRules}})
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		v, why := one(ctx, srv, `sum(up{job="granary"})`)
		return v == 3, fmt.Sprintf("targets up: %v %s; want 3", v, why)
	})

	const tasks = 30
	for i := range tasks {
		// A minute: the tasks run through the kill and the adoption.
		if _, err := nodes[i%3].Client().Submit(ctx, api.SubmitRequest{ID: fmt.Sprintf("sleep-%02d", i), Kind: "sleep", Payload: json.RawMessage(`{"ms":60000}`)}); err != nil {
			t.Fatal(err)
		}
	}
	// Which member runs the most, as Prometheus sees it.
	byInstance := map[string]float64{}
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		s, err := srv.Query(ctx, `sum by (instance) (granary_tasks_owned{state="running"})`)
		if err != nil {
			return false, err.Error()
		}
		total := 0.0
		for _, x := range s {
			byInstance[x.Labels["instance"]] = x.Value
			total += x.Value
		}
		return total == tasks, fmt.Sprintf("running tasks by instance: %v; want %d in all", byInstance, tasks)
	})
	var victim *testnode.Node
	for _, n := range nodes {
		if victim == nil || byInstance[n.HTTP] > byInstance[victim.HTTP] {
			victim = n
		}
	}
	owned := byInstance[victim.HTTP]
	if owned == 0 {
		t.Fatalf("no member runs a task: %v", byInstance)
	}
	// The rules have been evaluated on the busy cluster: nothing to say.
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		rules, err := srv.Rules(ctx)
		if err != nil || len(rules) == 0 {
			return false, fmt.Sprintf("rules %v, %v; want the alerting rules loaded", rules, err)
		}
		for _, r := range rules {
			if r.Health != "ok" {
				return false, fmt.Sprintf("rule %s: health %q %s; want ok", r.Name, r.Health, r.LastError)
			}
		}
		return true, ""
	})
	if s, err := srv.Query(ctx, `ALERTS`); err != nil || len(s) != 0 {
		t.Fatalf("alerts on a healthy cluster: %v (%v); want none", s, err)
	}
	t.Logf("killing %s (%s), running %v of %d tasks", victim.ID, victim.HTTP, owned, tasks)
	killed := time.Now()
	victim.Kill()

	others := fmt.Sprintf(`instance!=%q`, victim.HTTP)
	testutil.Eventually(t, 60*time.Second, func() (bool, string) {
		v, why := one(ctx, srv, fmt.Sprintf(`up{instance=%q}`, victim.HTTP))
		return v == 0 && why == "", fmt.Sprintf("up of the killed target: %v %s; want 0", v, why)
	})
	testutil.Eventually(t, 60*time.Second, func() (bool, string) {
		v, why := one(ctx, srv, fmt.Sprintf(`sum(granary_failover_tasks_adopted_total{%s})`, others))
		return v == owned, fmt.Sprintf("tasks adopted by the survivors: %v %s; want %v, the killed member's", v, why, owned)
	})
	t.Logf("every task adopted %s after the kill, as Prometheus saw it", time.Since(killed).Round(100*time.Millisecond))
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		s, err := srv.Query(ctx, `ALERTS`)
		if err != nil {
			return false, err.Error()
		}
		down := false
		for _, a := range s {
			if a.Labels["alertname"] != "GranaryMemberDown" || a.Labels["instance"] != victim.HTTP {
				t.Fatalf("alert %v after the kill; want only GranaryMemberDown for %s", a.Labels, victim.HTTP)
			}
			down = true
		}
		return down, fmt.Sprintf("alerts %v; want GranaryMemberDown for %s (pending: it fires after a minute)", s, victim.HTTP)
	})
	for _, c := range []struct {
		q    string
		ok   func(float64) bool
		want string
	}{
		{fmt.Sprintf(`sum(increase(granary_failover_tasks_adopted_total{%s}[5m]))`, others), func(v float64) bool { return v > 0 }, "> 0"},
		{fmt.Sprintf(`sum(granary_task_attempts_finished_total{outcome="member_lost",%s})`, others), func(v float64) bool { return v == owned }, fmt.Sprint(owned, ": each adopted task's attempt lost with the member")},
		{fmt.Sprintf(`sum(granary_failover_adoption_seconds_count{%s})`, others), func(v float64) bool { return v >= owned }, fmt.Sprint(">= ", owned, ": each adoption timed")},
		{fmt.Sprintf(`histogram_quantile(0.99, sum by (le) (granary_failover_adoption_seconds_bucket{%s}))`, others), func(v float64) bool { return v > 0 && v <= 10 }, "within 10s of the view losing the member"},
		{fmt.Sprintf(`sum(granary_tasks_owned{state="running",%s})`, others), func(v float64) bool { return v == tasks }, fmt.Sprint(tasks, ": every task runs on a survivor")},
		{fmt.Sprintf(`min(granary_members{health="lost",%s})`, others), func(v float64) bool { return v == 1 }, "1 on each survivor"},
		{fmt.Sprintf(`max(granary_member_fenced{%s})`, others), func(v float64) bool { return v == 0 }, "0: no survivor fenced"},
	} {
		testutil.Eventually(t, 20*time.Second, func() (bool, string) {
			v, why := one(ctx, srv, c.q)
			return why == "" && c.ok(v), fmt.Sprintf("%s = %v %s; want %s", c.q, v, why, c.want)
		})
		v, _ := one(ctx, srv, c.q)
		t.Logf("%s = %v", c.q, v)
	}
}

// TestPrometheusScrapesWithToken: a node with tokens is scraped by a
// Prometheus configured as the README says (a read token in a file,
// authorization.credentials_file); without the token the target is down.
func TestPrometheusScrapesWithToken(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Prometheus")
	}
	const read, write = "prometheus-read-token-0123", "the-write-token-0123456789"
	tokens, err := httpapi.NewTokens([]string{read}, []string{write})
	if err != nil {
		t.Fatal(err)
	}
	reg := actors.NewRegistry()
	if err := kinds.Register(reg); err != nil {
		t.Fatal(err)
	}
	cfg := node.DefaultConfig()
	cfg.Registry, cfg.DataDir, cfg.HTTPAddr, cfg.Tokens = reg, t.TempDir(), "127.0.0.1:0", tokens
	cfg.Logger = testutil.Logger(t, slog.LevelWarn)
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testutil.Context(t, time.Minute)
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Stop(context.Background()) })
	tokenFile := filepath.Join(t.TempDir(), "granary-token")
	if err := os.WriteFile(tokenFile, []byte(read+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	with := promserver.Start(t, promserver.Options{Targets: []string{n.HTTPAddr()}, BearerTokenFile: tokenFile})
	without := promserver.Start(t, promserver.Options{Targets: []string{n.HTTPAddr()}})
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		v, why := one(ctx, with, `granary_member_fenced`)
		return why == "" && v == 0, fmt.Sprintf("granary_member_fenced through the token: %v %s", v, why)
	})
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		v, why := one(ctx, without, `up`)
		return why == "" && v == 0, fmt.Sprintf("up without a token: %v %s; want 0 (401)", v, why)
	})
}
