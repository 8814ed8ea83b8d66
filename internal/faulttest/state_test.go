//go:build linux

package faulttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/internal/netproxy"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testnode"
	"github.com/granary-rt/granary/internal/testutil"
)

type counterAnswer struct {
	Value      int64  `json:"value"`
	Member     string `json:"member"`
	Activation string `json:"activation"`
}

// addOnce sends one increment to the counter identity id through n, with
// no retry of its own: each answer is one application or none.
func addOnce(hc *http.Client, n *testnode.Node, id string, by int) (counterAnswer, error) {
	body := fmt.Sprintf(`{"op":"add","n":%d}`, by)
	resp, err := hc.Post(fmt.Sprintf("http://%s/v1/grains/counter/%s", n.HTTP, id), "application/json", bytes.NewBufferString(body))
	if err != nil {
		return counterAnswer{}, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return counterAnswer{}, fmt.Errorf("%d %s", resp.StatusCode, data)
	}
	var reply api.GrainReply
	var a counterAnswer
	if err := json.Unmarshal(data, &reply); err != nil {
		return a, err
	}
	err = json.Unmarshal(reply.Result, &a)
	return a, err
}

// countersOn finds want counter identities held by n, each at 1 (those
// that land elsewhere are put back to 0 through other and not followed);
// it returns identity -> the activation holding it on n.
func countersOn(t *testing.T, hc *http.Client, n, other *testnode.Node, prefix string, want int) map[string]string {
	t.Helper()
	held := map[string]string{}
	for i := 0; len(held) < want && i < 200; i++ {
		id := fmt.Sprintf("%s%d", prefix, i)
		a, err := addOnce(hc, n, id, 1)
		if err != nil {
			t.Fatal(err)
		}
		if a.Member == n.ID {
			held[id] = a.Activation
		} else if _, err := addOnce(hc, other, id, -1); err != nil {
			t.Fatal(err)
		}
	}
	if len(held) < want {
		t.Fatalf("only %d counters landed on %s", len(held), n.ID)
	}
	return held
}

// checkCounts checks each counter of ids reads 1 + 10 + 100 for each of
// its extra increments answered (applied), read through n.
func checkCounts(t *testing.T, hc *http.Client, n *testnode.Node, ids map[string]string, applied map[string]int) {
	t.Helper()
	for id := range ids {
		a, err := addOnce(hc, n, id, 0)
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(11 + 100*applied[id]); a.Value != want {
			t.Errorf("%s: count %d, want %d (1 + 10 + 100 for each of the %d increments of 100 answered)", id, a.Value, want, applied[id])
		}
	}
}

// TestPausedGrainNeverOverwritesItsSuccessor is issue #13's fencing of
// grain state: the member holding durable counters is stopped (SIGSTOP)
// past its lease with increments queued in its sockets; survivors take the
// counters over (loading their stored counts) and add to them; when the
// paused member wakes, its old activations must not write: every
// increment answered was applied exactly once, by an activation that held
// the claim, and the final counts say so.
func TestPausedGrainNeverOverwritesItsSuccessor(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Consul and three granary processes")
	}
	nodes := threeMembers(t, "gstate")
	paused, survivor := nodes[0], nodes[1]
	hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

	// Counters held by the member to pause, each at 1.
	old := countersOn(t, hc, paused, nodes[2], "g", 4)

	Pause(t, paused.PID())
	var queued sync.WaitGroup
	var mu sync.Mutex
	applied := map[string]int{} // identity -> queued increments answered
	for id := range old {
		for range 5 {
			queued.Add(1)
			go func() {
				defer queued.Done()
				a, err := addOnce(hc, paused, id, 100)
				if err != nil {
					return // refused: not applied
				}
				if a.Activation == old[id] {
					t.Errorf("%s: the paused member's old activation %s answered an increment after waking", id, a.Activation)
				}
				mu.Lock()
				applied[id]++
				mu.Unlock()
			}()
		}
	}
	// Survivors take over, load each count (1) and add 10.
	time.Sleep(minPause) // the pause itself: past the lease
	for id := range old {
		testutil.Eventually(t, 30*time.Second, func() (bool, string) {
			a, err := addOnce(hc, survivor, id, 10)
			if err != nil {
				return false, err.Error()
			}
			if a.Member == paused.ID {
				t.Fatalf("%s answered by the paused member while stopped", id)
			}
			if a.Value != 11 {
				t.Fatalf("%s: the survivor's first increment read %d, want 11 (the stored 1, plus 10)", id, a.Value)
			}
			return true, ""
		})
	}
	Resume(t, paused.PID())
	queued.Wait()
	waitMembers(t, nodes, 3)
	checkCounts(t, hc, survivor, old, applied)
	t.Logf("queued increments answered after the wake: %v (each applied once, by a holder of the claim)", applied)
}

// TestKillDuringIncrements is issue #13's kill test: streams of increments
// to durable counters, each through the Go client (which retries a call
// under the same request id), while the member holding the counters is
// killed with SIGKILL. Afterwards every acknowledged increment is in the
// counts, none is applied twice, and the counts go on from a survivor.
func TestKillDuringIncrements(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Consul and three granary processes")
	}
	nodes := threeMembers(t, "gkill")
	victim, via := nodes[0], nodes[1]
	hc := &http.Client{Timeout: 20 * time.Second}
	var ids []string
	for i := 0; len(ids) < 4 && i < 200; i++ {
		id := fmt.Sprintf("k%d", i)
		a, err := addOnce(hc, victim, id, 0)
		if err != nil {
			t.Fatal(err)
		}
		if a.Member == victim.ID {
			ids = append(ids, id)
		}
	}
	if len(ids) < 4 {
		t.Fatalf("only %d counters landed on %s", len(ids), victim.ID)
	}
	const perStream = 150
	c := via.Client()
	ctx := testutil.Context(t, 3*time.Minute)
	acked := make([]int64, len(ids))
	failed := make([]int, len(ids))
	killAt := make(chan struct{})
	var streams sync.WaitGroup
	for i, id := range ids {
		streams.Add(1)
		go func() {
			defer streams.Done()
			for n := range perStream {
				if i == 0 && n == perStream/3 {
					close(killAt)
				}
				reply, err := c.CallRaw(ctx, "counter", id, []byte(`{"op":"add","n":1}`))
				if err != nil {
					failed[i]++
					t.Logf("%s: increment %d not acknowledged: %v", id, n, err)
					continue
				}
				var a counterAnswer
				if err := json.Unmarshal(reply.Result, &a); err != nil {
					t.Error(err)
					return
				}
				acked[i]++
				if a.Value != acked[i]+int64(failed[i]) && failed[i] == 0 {
					t.Errorf("%s: increment %d read %d; with every earlier one acknowledged, want %d", id, n, a.Value, acked[i])
					return
				}
			}
		}()
	}
	<-killAt
	victim.Kill()
	streams.Wait()
	for i, id := range ids {
		reply, err := c.CallRaw(ctx, "counter", id, []byte(`{"op":"get"}`))
		if err != nil {
			t.Fatal(err)
		}
		var a counterAnswer
		_ = json.Unmarshal(reply.Result, &a)
		if a.Member == victim.ID {
			t.Errorf("%s answered by the killed member", id)
		}
		// Unacknowledged increments may or may not have been applied;
		// acknowledged ones are in, each once.
		if a.Value < acked[i] || a.Value > acked[i]+int64(failed[i]) {
			t.Errorf("%s: count %d after %d acknowledged and %d unacknowledged increments", id, a.Value, acked[i], failed[i])
		}
	}
	t.Logf("acknowledged %v, unacknowledged %v (of %d each), with %s killed a third of the way", acked, failed, perStream, victim.ID)
}

// TestPartitionedGrainNeverOverwritesItsSuccessor: as the pause test, with
// the member holding durable counters cut from Consul (a severed TCP proxy)
// instead of stopped: survivors take the counters over from their stored
// counts; increments sent to the cut-off member meanwhile and after the
// link heals are applied at most once, never by its old activations, and
// the final counts account for every increment answered.
func TestPartitionedGrainNeverOverwritesItsSuccessor(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Consul and three granary processes")
	}
	agent := testconsul.Start(t, testconsul.Options{})
	proxy, err := netproxy.New("127.0.0.1:0", agent.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Close() })
	cut := testnode.ClusterNode(t, "gpart", proxy.Addr(), "n1")
	survivor := testnode.ClusterNode(t, "gpart", agent.HTTPAddr(), "n2")
	third := testnode.ClusterNode(t, "gpart", agent.HTTPAddr(), "n3")
	nodes := []*testnode.Node{cut, survivor, third}
	waitMembers(t, nodes, 3)
	hc := &http.Client{Timeout: 20 * time.Second}
	old := countersOn(t, hc, cut, third, "p", 4)
	proxy.Sever()
	applied := map[string]int{}
	var mu sync.Mutex
	var sent sync.WaitGroup
	send := func(id string) {
		defer sent.Done()
		a, err := addOnce(hc, cut, id, 100)
		if err != nil {
			return
		}
		if a.Activation == old[id] {
			t.Errorf("%s: the cut-off member's old activation %s answered an increment", id, a.Activation)
		}
		mu.Lock()
		applied[id]++
		mu.Unlock()
	}
	for id := range old {
		testutil.Eventually(t, 30*time.Second, func() (bool, string) {
			sent.Add(1)
			go send(id) // to the cut-off member, while the survivors take over
			a, err := addOnce(hc, survivor, id, 10)
			if err != nil {
				return false, err.Error()
			}
			if a.Member == cut.ID {
				return false, "still answered by the cut-off member"
			}
			mu.Lock()
			defer mu.Unlock()
			if want := int64(11 + 100*applied[id]); a.Value != want {
				t.Fatalf("%s: the survivor's first increment read %d, want %d", id, a.Value, want)
			}
			return true, ""
		})
	}
	proxy.Restore()
	for id := range old {
		sent.Add(1)
		send(id) // right after the link heals
	}
	sent.Wait()
	waitMembers(t, nodes, 3)
	checkCounts(t, hc, survivor, old, applied)
	t.Logf("increments answered through the cut-off member: %v", applied)
}
