package grains_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/grains"
	"github.com/granary-rt/granary/cluster/grains/remindertest"
	"github.com/granary-rt/granary/cluster/grainstate"
	"github.com/granary-rt/granary/cluster/grainstate/grainstatetest"
	"github.com/granary-rt/granary/internal/testutil"
)

// remindingNode starts member id hosting the reminding kind (hosted nil)
// or the kinds hosted, its firings going to rec.
func (c *cluster) remindingNode(id string, rec *remindertest.Recorder, idle time.Duration, hosted ...string) *node {
	c.t.Helper()
	return c.remindingNodeWith(id, rec, idle, nil, hosted...)
}

// remindingNodeWith is remindingNode with more configuration: tweak, if
// not nil, changes the host's Config before it starts.
func (c *cluster) remindingNodeWith(id string, rec *remindertest.Recorder, idle time.Duration, tweak func(*grains.Config), hosted ...string) *node {
	t := c.t
	t.Helper()
	reg := actors.NewRegistry()
	if err := remindertest.Register(reg, rec); err != nil {
		t.Fatal(err)
	}
	return c.tweakedNode(id, reg, func(cfg *grains.Config) {
		cfg.Kinds = hosted
		if hosted == nil {
			cfg.Kinds = []string{remindertest.Kind}
		}
		if idle > 0 {
			cfg.IdleTimeout = idle
		}
		cfg.Logger = testutil.Logger(t, slog.LevelWarn)
		if tweak != nil {
			tweak(cfg)
		}
	})
}

func command(t *testing.T, n *node, identity string, cmd remindertest.Command) remindertest.Reply {
	t.Helper()
	r, err := tryCommand(n, identity, cmd)
	if err != nil {
		t.Fatalf("%s: %s %+v: %v", n.id, identity, cmd, err)
	}
	return r
}

func tryCommand(n *node, identity string, cmd remindertest.Command) (remindertest.Reply, error) {
	payload, _ := json.Marshal(cmd)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var r remindertest.Reply
	resp, err := n.host.Call(ctx, remindertest.Kind, identity, payload)
	if err != nil {
		return r, err
	}
	err = json.Unmarshal(resp.GetPayload(), &r)
	return r, err
}

func names(rs []actors.Reminder) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return out
}

// TestReminderSetFireListCancel: a one-shot reminder fires once, with its
// payload, near its due time, and is gone from the list after; a
// cancelled one never fires; a request that fails sets nothing.
func TestReminderSetFireListCancel(t *testing.T) {
	c := newCluster(t)
	rec := &remindertest.Recorder{}
	n := c.remindingNode("n1", rec, 0)
	setViews([]*node{n}, n)

	set := time.Now()
	r := command(t, n, "g", remindertest.Command{Op: "set", Name: "once", AfterMs: 200, Payload: "hello"})
	command(t, n, "g", remindertest.Command{Op: "set", Name: "never", AfterMs: 300})
	if _, err := tryCommand(n, "g", remindertest.Command{Op: "set", Name: "failed", AfterMs: 100, Fail: true}); err == nil {
		t.Fatal("a request asked to fail succeeded")
	}
	r = command(t, n, "g", remindertest.Command{Op: "get"})
	if got := fmt.Sprint(names(r.Reminders)); got != "[never once]" {
		t.Fatalf("reminders listed %s, want [never once] (a failed request sets nothing)", got)
	}
	command(t, n, "g", remindertest.Command{Op: "cancel", Name: "never"})

	testutil.Eventually(t, 5*time.Second, func() (bool, string) {
		return len(rec.Firings("g")) > 0, "the reminder has not fired"
	})
	time.Sleep(500 * time.Millisecond) // let a wrongful second firing or the cancelled one show
	fs := rec.Firings("g")
	if len(fs) != 1 || fs[0].Name != "once" || fs[0].Payload != "hello" {
		t.Fatalf("firings %+v, want one of once with its payload", fs)
	}
	if late := fs[0].At.Sub(fs[0].Due); fs[0].Due.Before(set.Add(200*time.Millisecond)) || late < 0 || late > time.Second {
		t.Fatalf("fired at %v for a due time %v (set at %v + 200ms)", fs[0].At, fs[0].Due, set)
	}
	r = command(t, n, "g", remindertest.Command{Op: "get"})
	if len(r.Reminders) != 0 || r.Fired["once"] != 1 {
		t.Fatalf("after firing: reminders %v, fired %v; want none left and once counted in the state", names(r.Reminders), r.Fired)
	}
}

// TestPeriodicReminderKeepsItsPeriod: firings are due on the reminder's
// grid (set time + after + k·period), each once, and not late.
func TestPeriodicReminderKeepsItsPeriod(t *testing.T) {
	c := newCluster(t)
	rec := &remindertest.Recorder{}
	n := c.remindingNode("n1", rec, 0)
	setViews([]*node{n}, n)
	command(t, n, "p", remindertest.Command{Op: "set", Name: "tick", AfterMs: 100, PeriodMs: 100})
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		return len(rec.Firings("p")) >= 8, fmt.Sprintf("%d firings", len(rec.Firings("p")))
	})
	command(t, n, "p", remindertest.Command{Op: "cancel", Name: "tick"})
	fs := rec.Firings("p")
	for i := 1; i < len(fs); i++ {
		if d := fs[i].Due.Sub(fs[i-1].Due); d != 100*time.Millisecond {
			t.Fatalf("firing %d due %v after the one before, want the period 100ms: %+v", i, d, fs)
		}
		if late := fs[i].At.Sub(fs[i].Due); late < 0 || late > 100*time.Millisecond {
			t.Fatalf("firing %d is %v late", i, late)
		}
	}
	settled := len(rec.Firings("p"))
	time.Sleep(300 * time.Millisecond)
	if n := len(rec.Firings("p")); n > settled+1 {
		t.Fatalf("%d firings after the cancel", n-settled)
	}
}

// TestReminderActivatesIdleGrain: a reminder fires although its grain
// went idle and deactivated: it is activated for it, with its state.
func TestReminderActivatesIdleGrain(t *testing.T) {
	c := newCluster(t)
	rec := &remindertest.Recorder{}
	n := c.remindingNode("n1", rec, 100*time.Millisecond)
	setViews([]*node{n}, n)
	first := command(t, n, "idle", remindertest.Command{Op: "set", Name: "wake", AfterMs: 600})
	testutil.Eventually(t, 5*time.Second, func() (bool, string) {
		return n.host.Activations() == 0, "the grain did not go idle"
	})
	testutil.Eventually(t, 5*time.Second, func() (bool, string) {
		return len(rec.Firings("idle")) == 1, fmt.Sprintf("%d firings", len(rec.Firings("idle")))
	})
	if f := rec.Firings("idle")[0]; f.Activation == first.Activation {
		t.Fatalf("fired in the activation that went idle")
	}
}

// TestRemindersOfLostMemberFireOnSurvivor: a member holding grains with
// reminders, and owning shards of the index, dies; every reminder fires
// on a survivor, once.
func TestRemindersOfLostMemberFireOnSurvivor(t *testing.T) {
	c := newCluster(t)
	rec := &remindertest.Recorder{}
	nodes := []*node{c.remindingNode("n1", rec, 0), c.remindingNode("n2", rec, 0), c.remindingNode("n3", rec, 0)}
	setViews(nodes, nodes...)
	const grainsN = 40
	onN3 := 0
	for i := 0; i < grainsN; i++ {
		r := command(t, nodes[0], fmt.Sprintf("g%d", i), remindertest.Command{Op: "set", Name: "r", AfterMs: 700})
		if r.Member == "n3" {
			onN3++
		}
	}
	if onN3 == 0 {
		t.Fatal("no grain on the member to kill; the test proves nothing")
	}
	c.kill(nodes[2])
	setViews(nodes[:2], nodes[:2]...)
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		return len(rec.Firings("")) >= grainsN, fmt.Sprintf("%d of %d fired", len(rec.Firings("")), grainsN)
	})
	seen := map[string]int{}
	for _, f := range rec.Firings("") {
		seen[f.Identity]++
		if f.Member == "n3" {
			t.Errorf("%s fired on the dead member", f.Identity)
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s fired %d times", id, n)
		}
	}
}

// TestFencedShardOwnerFiresNothing: the member owning a shard of the
// reminder index has lost its lease (paused, or cut off from Consul); the
// grains live on another member, which could take the firings. It fires
// none of the shard's reminders while fenced — the survivors may own the
// shard by now — and fires them all once it holds a lease again; the
// other member's shards fire on time throughout.
func TestFencedShardOwnerFiresNothing(t *testing.T) {
	c := newCluster(t)
	rec := &remindertest.Recorder{}
	var fenced atomic.Bool
	host := c.remindingNode("host", rec, 0)
	owner := c.remindingNodeWith("owner", rec, 0, func(cfg *grains.Config) { cfg.Fenced = fenced.Load }, []string{}...) // hosts no kind
	setViews([]*node{host, owner}, host, owner)
	ownerShards := grains.OwnedShards([]grains.Member{host.member(), owner.member()}, "owner")
	var ofOwner, ofHost []string
	for i := 0; len(ofOwner) < 5 || len(ofHost) < 5; i++ {
		id := fmt.Sprintf("f%d", i)
		if ownerShards[grains.ReminderShard(remindertest.Kind, id)] {
			ofOwner = append(ofOwner, id)
		} else {
			ofHost = append(ofHost, id)
		}
	}
	ofOwner, ofHost = ofOwner[:5], ofHost[:5]
	for _, id := range append(append([]string(nil), ofOwner...), ofHost...) {
		if r := command(t, host, id, remindertest.Command{Op: "set", Name: "r", AfterMs: 300}); r.Member != "host" {
			t.Fatalf("%s is on %s, want host", id, r.Member)
		}
	}
	fenced.Store(true)
	testutil.Eventually(t, 5*time.Second, func() (bool, string) {
		for _, id := range ofHost {
			if len(rec.Firings(id)) == 0 {
				return false, id + " (the unfenced member's shard) has not fired"
			}
		}
		return true, ""
	})
	time.Sleep(500 * time.Millisecond) // well past due: let a wrongful firing show
	for _, id := range ofOwner {
		if fs := rec.Firings(id); len(fs) > 0 {
			t.Fatalf("%s fired %v late while its shard's owner was fenced", id, fs[0].At.Sub(fs[0].Due))
		}
	}
	fenced.Store(false)
	testutil.Eventually(t, 5*time.Second, func() (bool, string) {
		for _, id := range ofOwner {
			if len(rec.Firings(id)) != 1 {
				return false, fmt.Sprintf("%s fired %d times after the fence ended, want 1", id, len(rec.Firings(id)))
			}
		}
		return true, ""
	})
}

// TestMissedTicksFireOnce: while no member hosts the kind, a periodic
// reminder cannot fire; when one does again, it fires once for all the
// ticks it missed, then on its grid.
func TestMissedTicksFireOnce(t *testing.T) {
	c := newCluster(t)
	rec := &remindertest.Recorder{}
	host := c.remindingNode("host", rec, 0)
	other := c.remindingNode("other", rec, 0, []string{}...) // hosts no kind
	setViews([]*node{host, other}, host, other)
	command(t, host, "m", remindertest.Command{Op: "set", Name: "tick", AfterMs: 100, PeriodMs: 100})
	testutil.Eventually(t, 5*time.Second, func() (bool, string) { return len(rec.Firings("m")) >= 2, "no firings" })
	c.kill(host)
	setViews([]*node{other}, other)
	before := len(rec.Firings("m"))
	time.Sleep(700 * time.Millisecond) // ~7 ticks missed
	back := c.remindingNode("back", rec, 0)
	setViews([]*node{other, back}, other, back)
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		return len(rec.Firings("m")) >= before+4, "no firings after recovery"
	})
	fs := rec.Firings("m")[before:]
	if fs[0].At.Sub(fs[0].Due) < 500*time.Millisecond {
		t.Fatalf("first firing after recovery was due %v before it fired; want the missed tick", fs[0].At.Sub(fs[0].Due))
	}
	for i := 1; i < len(fs); i++ {
		if late := fs[i].At.Sub(fs[i].Due); late > 100*time.Millisecond {
			t.Fatalf("firing %d after recovery is %v late: missed ticks fired one by one: %+v", i, late, fs)
		}
		if d := fs[i].Due.Sub(fs[0].Due); d%(100*time.Millisecond) != 0 {
			t.Fatalf("firing %d is off the reminder's grid by %v", i, d%(100*time.Millisecond))
		}
	}
}

// TestTimersFireInActivationAndDieWithIt: a periodic timer fires in the
// activation that set it, and stops when it deactivates.
func TestTimersFireInActivationAndDieWithIt(t *testing.T) {
	c := newCluster(t)
	rec := &remindertest.Recorder{}
	n := c.remindingNode("n1", rec, 400*time.Millisecond)
	setViews([]*node{n}, n)
	r := command(t, n, "t", remindertest.Command{Op: "timer", Name: "beat", AfterMs: 20, PeriodMs: 50, Payload: "x"})
	testutil.Eventually(t, 5*time.Second, func() (bool, string) {
		return len(rec.Firings("t")) >= 3, fmt.Sprintf("%d timer firings", len(rec.Firings("t")))
	})
	for _, f := range rec.Firings("t") {
		if !f.Timer || f.Activation != r.Activation || f.Payload != "x" {
			t.Fatalf("timer firing %+v, want one in activation %s with its payload", f, r.Activation)
		}
	}
	// The timer's firings do not keep the grain active.
	testutil.Eventually(t, 5*time.Second, func() (bool, string) {
		return n.host.Activations() == 0, "the grain with a timer never went idle"
	})
	after := len(rec.Firings("t"))
	time.Sleep(200 * time.Millisecond)
	if got := len(rec.Firings("t")); got != after {
		t.Fatalf("%d timer firings after the activation ended", got-after)
	}
}

// TestLocalStateConformance: the in-memory store passes the suite of
// state stores, its reminder index included.
func TestLocalStateConformance(t *testing.T) {
	grainstatetest.Run(t, func(t *testing.T) grainstatetest.Store { return localStore(t, nil) })
}

// localStore is a LocalState with its directory for the suite, wrapped by
// wrap (nil: as it is).
func localStore(t *testing.T, wrap func(grains.StateStore) grains.StateStore) grainstatetest.Store {
	dir := &grains.LocalDirectory{}
	var st grains.StateStore = &grains.LocalState{Directory: dir}
	if wrap != nil {
		st = wrap(st)
	}
	rs, ok := st.(grains.ReminderStore)
	if !ok {
		t.Fatalf("%T keeps no reminder index", st)
	}
	return grainstatetest.Store{
		ReminderStore: rs,
		Claim: func(t *testing.T, kind, identity string) {
			if h, _ := dir.Claim(context.Background(), kind, identity, "m1"); h != "m1" {
				t.Fatalf("claim %s/%s: held by %s", kind, identity, h)
			}
		},
		Lose: func(*testing.T, string, string) { dir.ReleaseAll("m1") },
	}
}

// TestReminderChangesPastOneWrite: a call that cancels a grain's 32
// reminders and sets 32 others changes 64 index entries, more than one
// write holds (grainstate.MaxIndexChanges: a Consul transaction). Every
// store refuses it alike, and the caller gets a handler error at once,
// not retries until its deadline; the grain keeps its stored reminders.
func TestReminderChangesPastOneWrite(t *testing.T) {
	c := newCluster(t)
	n := c.remindingNode("n1", &remindertest.Recorder{}, 0)
	setViews([]*node{n}, n)
	command(t, n, "g", remindertest.Command{Op: "replace", Name: "a", Count: actors.MaxReminders, AfterMs: 3_600_000})
	start := time.Now()
	_, err := tryCommand(n, "g", remindertest.Command{Op: "replace", Name: "b", Count: actors.MaxReminders, AfterMs: 3_600_000})
	if !errors.Is(err, grains.ErrHandler) || !strings.Contains(err.Error(), "reminder index changes") {
		t.Fatalf("a call changing %d reminders: %v, want a handler error naming the limit", 2*actors.MaxReminders, err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the refusal took %v (retried?)", took)
	}
	r := command(t, n, "g", remindertest.Command{Op: "get"})
	if len(r.Reminders) != actors.MaxReminders || r.Reminders[0].Name[0] != 'a' {
		t.Fatalf("after the refused call the grain holds %v", names(r.Reminders))
	}
	// Fewer changes in one call are stored.
	command(t, n, "g", remindertest.Command{Op: "replace", Name: "c", Count: grainstate.MaxIndexChanges - actors.MaxReminders, AfterMs: 3_600_000})
}
