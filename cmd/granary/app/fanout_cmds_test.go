package app

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/examples/wordcount"
	"github.com/granary-rt/granary/internal/testnode"
	"github.com/granary-rt/granary/internal/testutil"
)

// TestDependsOnAndChildrenOnDev: on `granary dev`, `submit --depends-on`
// waits for its dependencies (status says so), refuses an unknown one
// (exit 2), and the stock wordcount-mapreduce fans out to child tasks and
// sums them.
func TestDependsOnAndChildrenOnDev(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a granary process")
	}
	node := testnode.Dev(t)
	addr := "http://" + node.HTTP
	must := func(args ...string) result {
		t.Helper()
		r := cli(t, addr, args...)
		if r.code != exitOK {
			t.Fatalf("granary %v: exit %d: %s %s", args, r.code, r.stdout, r.stderr)
		}
		return r
	}
	must("submit", "--kind", "sleep", "--payload", `{"ms":1500}`, "--id", "a")
	must("submit", "--kind", "echo", "--payload", `{"x":1}`, "--id", "b", "--depends-on", "a")
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		r := must("status", "b")
		return strings.Contains(r.stdout, "depends on:") && strings.Contains(r.stdout, "waiting for dependencies: a"), "granary status b while a runs:\n" + r.stdout
	})
	if r := cli(t, addr, "submit", "--kind", "echo", "--payload", `{}`, "--depends-on", "a,ghost"); r.code != exitUsage || !strings.Contains(r.stderr, "ghost does not exist") {
		t.Errorf("--depends-on ghost: exit %d %s; want 2 saying it does not exist", r.code, r.stderr)
	}
	if r := must("wait", "b"); !strings.Contains(r.stdout, "completed") {
		t.Errorf("granary wait b: %s", r.stdout)
	}

	in := wordcount.JobIn{Shards: 20, WordsPerShard: 100, Seed: 3}
	payload, _ := json.Marshal(in)
	ctx := testutil.Context(t, time.Minute)
	st, err := node.Client().SubmitAndWait(ctx, api.SubmitRequest{ID: "wc", Kind: "wordcount-mapreduce", Payload: payload}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got wordcount.Counts
	want := wordcount.Expected(in)
	if err := json.Unmarshal(st.Result, &got); st.State != api.StateCompleted || err != nil || got.Words != want.Words || !maps.Equal(got.Counts, want.Counts) {
		t.Fatalf("wordcount-mapreduce %s (%s): %s; want %+v", st.State, st.Error, st.Result, want)
	}
}
