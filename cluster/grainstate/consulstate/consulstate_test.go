package consulstate_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/consuldir"
	"github.com/granary-rt/granary/cluster/grainstate"
	"github.com/granary-rt/granary/cluster/grainstate/consulstate"
	"github.com/granary-rt/granary/cluster/grainstate/grainstatetest"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/hashicorp/consul/api"
)

// TestConformance: grain state on Consul KV, each write fenced by the
// member's claim in the grain directory (a session check in the same
// transaction). Both ways of sending state writes: through the api client
// (New) and through an endpoint of the agent (WriteWith).
func TestConformance(t *testing.T) {
	for _, via := range []string{"client", "endpoint"} {
		t.Run(via, func(t *testing.T) { stateConformance(t, via) })
	}
}

// writeVia makes st send its state writes through an endpoint of agent
// when via is "endpoint".
func writeVia(t *testing.T, agent *testconsul.Agent, via string, st *consulstate.Store) *consulstate.Store {
	if via == "endpoint" {
		st.WriteWith(&api.Config{Address: agent.HTTPAddr()})
	}
	t.Cleanup(st.Close)
	return st
}

func stateConformance(t *testing.T, via string) {
	agent := testconsul.Start(t, testconsul.Options{})
	c := agent.Client()
	var n atomic.Int64
	grainstatetest.Run(t, func(t *testing.T) grainstatetest.Store {
		sess := testconsul.Session(t, c)
		cluster := fmt.Sprintf("state%d", n.Add(1))
		dir := consuldir.New(c, cluster, func() string { return sess })
		return grainstatetest.Store{
			ReminderStore: writeVia(t, agent, via, consulstate.New(c, cluster, func() string { return sess })),
			Claim: func(t *testing.T, kind, identity string) {
				if h, err := dir.Claim(testutil.Context(t, 10*time.Second), kind, identity, "m1"); err != nil || h != "m1" {
					t.Fatalf("claim %s/%s: holder %q, %v", kind, identity, h, err)
				}
			},
			Lose: func(t *testing.T, kind, identity string) {
				// The member's session ends (Consul declared it dead): its
				// claims go with it (behaviour delete).
				if _, err := c.Session().Destroy(sess, nil); err != nil {
					t.Fatal(err)
				}
			},
		}
	})
}

// TestEmptyReminderShardWatchSleeps: a watch of a shard with no reminders
// does not wake at every write elsewhere in Consul (Consul answers a
// blocking query on an empty prefix at the index of the whole KV store;
// 64 such watches per member once halved the cluster's task throughput).
func TestEmptyReminderShardWatchSleeps(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	c := agent.Client()
	st := consulstate.New(c, "quiet", func() string { return "" })
	t.Cleanup(st.Close)
	ctx := testutil.Context(t, 20*time.Second)
	entries, index, err := st.WatchReminders(ctx, 7, 0)
	if err != nil || len(entries) != 0 {
		t.Fatalf("first listing of an empty shard: %v, %v", entries, err)
	}
	woke := make(chan error, 1)
	wctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	go func() {
		_, _, err := st.WatchReminders(wctx, 7, index)
		woke <- err
	}()
	for i := range 20 { // writes elsewhere while it waits
		if _, err := c.KV().Put(&api.KVPair{Key: fmt.Sprintf("granary/quiet/tasks/t%d", i), Value: []byte("x")}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-woke; err == nil {
		t.Fatal("the watch of an empty shard woke at writes to other keys")
	}
}

// TestConcurrentStateWritesOfManyGrains: state writes of many grains at
// once share transactions, and the two that must be refused — one grain
// whose claim another member holds (this member is fenced out of it), one
// written over a stale version — are refused alone: every other grain's
// write commits, with its own version.
func TestConcurrentStateWritesOfManyGrains(t *testing.T) {
	for _, via := range []string{"client", "endpoint"} {
		t.Run(via, func(t *testing.T) { concurrentStateWritesOfManyGrains(t, via) })
	}
}

func concurrentStateWritesOfManyGrains(t *testing.T, via string) {
	agent := testconsul.Start(t, testconsul.Options{})
	c := agent.Client()
	ctx := testutil.Context(t, 30*time.Second)
	mine, theirs := testconsul.Session(t, c), testconsul.Session(t, c)
	dir, st := consuldir.New(c, "many", func() string { return mine }), writeVia(t, agent, via, consulstate.New(c, "many", func() string { return mine }))
	other := consuldir.New(c, "many", func() string { return theirs })
	const grains, fenced, stale = 200, 17, 101
	id := func(i int) string { return fmt.Sprintf("g%d", i) }
	for i := range grains {
		d, member := dir, "m1"
		if i == fenced {
			d, member = other, "m2"
		}
		if h, err := d.Claim(ctx, "counter", id(i), member); err != nil || h != member {
			t.Fatalf("claim %s: %q, %v", id(i), h, err)
		}
	}
	v0, err := st.SaveState(ctx, "counter", id(stale), "m1", []byte("first"), 0)
	if err != nil {
		t.Fatal(err)
	}
	versions := make([]uint64, grains)
	errs := make([]error, grains)
	var wg sync.WaitGroup
	for i := range grains {
		wg.Add(1)
		go func() {
			defer wg.Done()
			version := uint64(0)
			if i == stale {
				version = v0 + 1000 // not what is stored
			}
			versions[i], errs[i] = st.SaveState(ctx, "counter", id(i), "m1", []byte("v-"+id(i)), version)
		}()
	}
	wg.Wait()
	for i := range grains {
		data, version, err := st.LoadState(ctx, "counter", id(i))
		if err != nil {
			t.Fatal(err)
		}
		switch i {
		case fenced, stale:
			if !errors.Is(errs[i], grainstate.ErrStateConflict) {
				t.Errorf("%s: the write was not refused: %v", id(i), errs[i])
			}
			if want := map[int]string{fenced: "", stale: "first"}[i]; string(data) != want {
				t.Errorf("%s holds %q after a refused write, want %q", id(i), data, want)
			}
		default:
			if errs[i] != nil {
				t.Errorf("%s: %v (another grain's refusal failed it?)", id(i), errs[i])
			} else if string(data) != "v-"+id(i) || version != versions[i] {
				t.Errorf("%s holds %q at version %d; the write answered version %d", id(i), data, version, versions[i])
			}
		}
	}
}

// TestStoredLayout: keys written in the layout of earlier releases (below,
// byte by byte) are read as they were, and this release's writes land on
// the same keys, so members of both releases share a cluster during a
// rolling upgrade.
func TestStoredLayout(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	c := agent.Client()
	ctx := testutil.Context(t, 30*time.Second)
	sess := testconsul.Session(t, c)
	st := consulstate.New(c, "old", func() string { return sess })
	t.Cleanup(st.Close)
	const id = "a/b" // path-escaped in keys
	shard := grainstate.ReminderShard("counter", id)
	put := func(key, value string) {
		if _, err := c.KV().Put(&api.KVPair{Key: key, Value: []byte(value)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	put("granary/old/grainstate/counter/a%2Fb", "old record")
	put(fmt.Sprintf("granary/old/reminders/%02d/counter/a%%2Fb/tick", shard), "1700000000000000007")
	data, v, err := st.LoadState(ctx, "counter", id)
	if err != nil || string(data) != "old record" || v == 0 {
		t.Fatalf("the old record reads as %q at %d, %v", data, v, err)
	}
	es, _, err := st.WatchReminders(ctx, shard, 0)
	if err != nil || len(es) != 1 || es[0].Kind != "counter" || es[0].Identity != id || es[0].Name != "tick" || es[0].Due.UnixNano() != 1700000000000000007 {
		t.Fatalf("the old reminder index lists %+v, %v", es, err)
	}
	// The claim an earlier release's member holds is the key its state
	// writes check: held here, the write lands on the old key.
	if _, _, err := c.KV().Acquire(&api.KVPair{Key: "granary/old/grains/counter/a%2Fb", Value: []byte("m1"), Session: sess}, nil); err != nil {
		t.Fatal(err)
	}
	if consuldir.ClaimKey("old", "counter", id) != "granary/old/grains/counter/a%2Fb" {
		t.Fatalf("claim key %s", consuldir.ClaimKey("old", "counter", id))
	}
	if _, err := st.SaveStateIndexed(ctx, "counter", id, "m1", []byte("new record"), v, []grainstate.IndexChange{{Name: "tock", Due: time.Unix(0, 42)}}); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"granary/old/grainstate/counter/a%2Fb":                               "new record",
		fmt.Sprintf("granary/old/reminders/%02d/counter/a%%2Fb/tock", shard): "42",
	} {
		if p, _, err := c.KV().Get(key, nil); err != nil || p == nil || string(p.Value) != want {
			t.Errorf("%s holds %+v (%v), want %q", key, p, err, want)
		}
	}
}
