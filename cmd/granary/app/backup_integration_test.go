package app

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/internal/testcluster"
	"github.com/granary-rt/granary/internal/testnode"
	"github.com/granary-rt/granary/internal/testutil"
)

// TestDevBackupAndRestore: `granary backup` of a running dev node, taken
// while a task runs, then `granary restore` under the stopped node: the
// node comes back with every task and grain state of the backup and
// nothing written after it, and the task that was running runs again to
// completion. A restore under the running node, a backup onto an existing
// file and a restore of a file that is not a backup are refused and change
// nothing.
func TestDevBackupAndRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a granary process")
	}
	n := testnode.Dev(t)
	c := n.Client()
	ctx := testutil.Context(t, 2*time.Minute)
	done := testcluster.Completed(t, ctx, c, "done", 20)
	if _, err := c.Submit(ctx, api.SubmitRequest{ID: "running", Kind: "sleep", Payload: json.RawMessage(`{"ms":3000}`)}); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := c.CallRaw(ctx, "counter", "c1", []byte(`{"op":"add","n":1}`)); err != nil {
			t.Fatal(err)
		}
	}
	backup := filepath.Join(t.TempDir(), "dev.db")
	r := cli(t, n.HTTP, "backup", backup)
	if r.code != 0 || !strings.Contains(r.stdout, "21 tasks") {
		t.Fatalf("backup: code %d, stdout %q, stderr %q; want 21 tasks saved", r.code, r.stdout, r.stderr)
	}
	t.Logf("backup: %s", strings.TrimSpace(r.stdout))
	if r := cli(t, n.HTTP, "backup", backup); r.code != exitUsage || !strings.Contains(r.stderr, "exists") {
		t.Fatalf("backup onto an existing file: code %d, stderr %q; want a usage error", r.code, r.stderr)
	}

	// Written after the backup: gone once it is restored.
	if _, err := c.SubmitAndWait(ctx, api.SubmitRequest{ID: "after", Kind: "sleep", Payload: json.RawMessage(`{"ms":1}`)}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CallRaw(ctx, "counter", "c1", []byte(`{"op":"add","n":100}`)); err != nil {
		t.Fatal(err)
	}
	if r := cli(t, "", "restore", "--data-dir", n.DataDir, backup); r.code == 0 || !strings.Contains(r.stderr, "stop it first") {
		t.Fatalf("restore under the running node: code %d, stderr %q; want a refusal", r.code, r.stderr)
	}
	n.Stop(30 * time.Second)
	if r := cli(t, "", "restore", "--data-dir", n.DataDir, filepath.Join(n.DataDir, "nope.db")); r.code != exitUsage {
		t.Fatalf("restore of a missing file: code %d, stderr %q; want a usage error", r.code, r.stderr)
	}
	r = cli(t, "", "restore", "--data-dir", n.DataDir, backup)
	if r.code != 0 || !strings.Contains(r.stdout, "before-restore") {
		t.Fatalf("restore: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	n.Start()

	for _, id := range done {
		if st, err := c.Get(ctx, id); err != nil || st.State != api.StateCompleted {
			t.Fatalf("restored %s: %+v %v; want completed", id, st, err)
		}
	}
	if _, err := c.Get(ctx, "after"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("a task submitted after the backup: %v; want not found", err)
	}
	gs, err := c.GrainState(ctx, "counter", "c1")
	if err != nil || !strings.Contains(string(gs.State), `"value":5`) {
		t.Fatalf("counter c1 after the restore: %+v %v; want the backup's value 5", gs, err)
	}
	st, err := c.Wait(ctx, "running", nil)
	if err != nil || st.State != api.StateCompleted {
		t.Fatalf("the task running at the backup: %+v %v; want it run again to completion", st, err)
	}
	t.Logf("the task running at the backup completed after the restore (attempts %d)", st.Attempts)
}
