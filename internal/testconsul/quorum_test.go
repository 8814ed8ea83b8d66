package testconsul

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

func TestQuorumOptionsValidation(t *testing.T) {
	for _, o := range []QuorumOptions{{Servers: 1}, {Servers: 2}, {Servers: 4}, {StartTimeout: -time.Second}} {
		if _, err := o.withDefaults(); !errors.Is(err, errBadQuorum) {
			t.Errorf("withDefaults(%+v) = %v; want errBadQuorum", o, err)
		}
	}
	if o, err := (QuorumOptions{}).withDefaults(); err != nil || o.Servers != 3 {
		t.Errorf("zero options = %+v, %v; want 3 servers", o, err)
	}
}

// TestQuorumSurvivesLeaderLossAndLosesQuorum: a client agent's writes go
// through after the leader is killed (a new one is elected), fail while two
// of three servers are paused, and go through again once they continue.
func TestQuorumSurvivesLeaderLossAndLosesQuorum(t *testing.T) {
	q := StartQuorum(t, QuorumOptions{})
	local := q.AddClient(t)
	kv := local.Client().KV()
	put := func(timeout time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		_, err := kv.Put(&api.KVPair{Key: "q/k", Value: []byte("v")}, (&api.WriteOptions{}).WithContext(ctx))
		return err
	}
	if err := put(5 * time.Second); err != nil {
		t.Fatalf("write through the client agent: %v", err)
	}

	old := q.WaitLeader(t, 10*time.Second)
	old.Kill()
	began := time.Now()
	waitPut(t, put, 30*time.Second)
	newLeader := q.WaitLeader(t, 10*time.Second)
	if newLeader == old {
		t.Fatalf("killed leader %s still leads", old.node)
	}
	t.Logf("writes resumed %v after the leader was killed", time.Since(began).Round(time.Millisecond))

	paused := q.PauseServers(2)
	if len(paused) != 2 {
		t.Fatalf("paused %d servers, want 2", len(paused))
	}
	if err := put(3 * time.Second); err == nil {
		t.Fatal("a write succeeded with two of three servers paused")
	}
	q.ResumeAll()
	began = time.Now()
	waitPut(t, put, 30*time.Second)
	t.Logf("writes resumed %v after quorum returned", time.Since(began).Round(time.Millisecond))
}

func waitPut(t *testing.T, put func(time.Duration) error, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := put(2 * time.Second)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write succeeded within %v: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
