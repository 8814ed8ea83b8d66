package app

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHelpMatchesCommands: the overview names the flags a command takes
// (tasks listed only --state), grain's help names clear, and `grain clear
// --json` prints a boolean, as a script expects.
func TestHelpMatchesCommands(t *testing.T) {
	r := cli(t, "", "help")
	for _, want := range []string{"[--state S] [--kind K] [--label k=v]... [--job J] [--limit N] [--cursor C | --all] [--json]", "clear KIND ID [--json]"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("granary help lacks %q on stdout:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "version \n") {
		t.Errorf("granary help has a trailing space after version:\n%q", r.stdout)
	}
	r = cli(t, "", "version", "--json")
	var v struct{ Version, Go string }
	if r.code != exitOK || json.Unmarshal([]byte(r.stdout), &v) != nil || v.Go == "" {
		t.Errorf("granary version --json: exit %d %q %s; want JSON with the Go version", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, "", "grain", "-h"); !strings.Contains(r.stdout, "grain clear KIND ID") {
		t.Errorf("granary grain -h does not name clear on stdout:\n%s", r.stdout)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"kind":"counter","identity":"c1","version":0}`))
	}))
	t.Cleanup(srv.Close)
	r = cli(t, srv.URL, "grain", "clear", "counter", "c1", "--json")
	var out struct {
		Cleared bool `json:"cleared"`
	}
	if r.code != exitOK || json.Unmarshal([]byte(r.stdout), &out) != nil || !out.Cleared {
		t.Fatalf("grain clear --json: exit %d %s %s; want {\"cleared\": true}", r.code, r.stdout, r.stderr)
	}
}
