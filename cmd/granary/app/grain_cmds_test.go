package app

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/internal/testnode"
)

// TestGrainStateCommands: a durable grain's state is stored and shown by
// `grain state`, survives a restart of the node (same data directory),
// and `grain clear` makes its next activation start from zero; a grain
// kind without durable state, or a bad identity, is a usage error.
func TestGrainStateCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts granary processes")
	}
	node := testnode.Dev(t)
	addr := "http://" + node.HTTP
	for _, n := range []string{"2", "3"} {
		if r := cli(t, addr, "call", "--kind", "counter", "--id", "c1", "--payload", `{"op":"add","n":`+n+`}`); r.code != exitOK {
			t.Fatalf("call: exit %d %s", r.code, r.stderr)
		}
	}
	r := cli(t, addr, "grain", "state", "counter", "c1", "--json")
	var st api.GrainState
	var count struct{ Value int64 }
	if r.code != exitOK || json.Unmarshal([]byte(r.stdout), &st) != nil || json.Unmarshal(st.State, &count) != nil || count.Value != 5 || st.Version == 0 {
		t.Fatalf("grain state: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}
	node.Stop(30 * time.Second)
	node.Start()
	if r := cli(t, addr, "call", "--kind", "counter", "--id", "c1", "--payload", `{"op":"get"}`); r.code != exitOK || !strings.Contains(r.stdout, `"value":5`) {
		t.Fatalf("the count after a restart: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, addr, "grain", "clear", "counter", "c1"); r.code != exitOK {
		t.Fatalf("grain clear: exit %d %s", r.code, r.stderr)
	}
	// The live activation learns of the clear at its next write: that
	// call is refused (retried by the client) and the next activation
	// starts from zero.
	if r := cli(t, addr, "call", "--kind", "counter", "--id", "c1", "--payload", `{"op":"add","n":1}`); r.code != exitOK || !strings.Contains(r.stdout, `"value":1`) {
		t.Fatalf("an add after clear: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, addr, "grain", "state", "counter", "nobody"); r.code != exitOK || !strings.Contains(r.stdout, "no state stored") {
		t.Fatalf("state of a grain never called: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}
	// A grain's durable reminders are listed with its state.
	if r := cli(t, addr, "call", "--kind", "alarm", "--id", "a1", "--payload", `{"op":"set","name":"wake","after_ms":3600000,"period_ms":60000}`); r.code != exitOK {
		t.Fatalf("setting a reminder: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}
	r = cli(t, addr, "grain", "state", "alarm", "a1", "--json")
	st = api.GrainState{}
	if r.code != exitOK || json.Unmarshal([]byte(r.stdout), &st) != nil || len(st.Reminders) != 1 || st.Reminders[0].Name != "wake" ||
		time.Duration(st.Reminders[0].Period) != time.Minute || time.Until(st.Reminders[0].Due) < 50*time.Minute {
		t.Fatalf("grain state of an alarm: exit %d, %s %s; want its reminder listed", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, addr, "grain", "state", "alarm", "a1"); r.code != exitOK || !strings.Contains(r.stdout, "reminder wake: due ") || !strings.Contains(r.stdout, "every 1m0s") {
		t.Fatalf("grain state of an alarm: exit %d, %s %s; want its reminder listed", r.code, r.stdout, r.stderr)
	}
	for _, args := range [][]string{{"grain", "state", "whoami", "x"}, {"grain", "state", "counter", "../x"}, {"grain", "state", "counter"}, {"grain", "frob"}} {
		if r := cli(t, addr, args...); r.code != exitUsage {
			t.Errorf("%v: exit %d (%s), want a usage error", args, r.code, r.stderr)
		}
	}
}
