package consuldir_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/consuldir"
	"github.com/granary-rt/granary/cluster/grains/statetest"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testutil"
	"github.com/hashicorp/consul/api"
)

// TestStateConformance: grain state on Consul KV, each write fenced by
// the member's claim (a session check in the same transaction).
func TestStateConformance(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	c := agent.Client()
	var n atomic.Int64
	statetest.Run(t, func(t *testing.T) statetest.Store {
		sess := session(t, c)
		dir := consuldir.New(c, fmt.Sprintf("state%d", n.Add(1)), func() string { return sess })
		return statetest.Store{
			StateStore: dir,
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
	dir := consuldir.New(c, "quiet", func() string { return "" })
	ctx := testutil.Context(t, 20*time.Second)
	entries, index, err := dir.WatchReminders(ctx, 7, 0)
	if err != nil || len(entries) != 0 {
		t.Fatalf("first listing of an empty shard: %v, %v", entries, err)
	}
	woke := make(chan error, 1)
	wctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	go func() {
		_, _, err := dir.WatchReminders(wctx, 7, index)
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
