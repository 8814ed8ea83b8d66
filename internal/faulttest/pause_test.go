//go:build linux

package faulttest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/membership"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testnode"
	"github.com/granary-rt/granary/internal/testutil"
)

const (
	// pauses is how many times the test stops a member, each time another.
	pauses = 3
	// pausedIdentities is how many whoami identities of the paused member
	// the test follows.
	pausedIdentities = 8
	// queuedPerIdentity is how many calls per identity wait in the paused
	// member's sockets, to run first thing when it wakes.
	queuedPerIdentity = 20
	// afterWake is how long calls keep going to the woken member.
	afterWake = 1500 * time.Millisecond
	// afterWakeEvery paces those calls, per identity.
	afterWakeEvery = 50 * time.Millisecond
)

// minPause is how long the member stays stopped at least: more than twice
// the lease (TTL), so Consul certainly declared it critical and released
// its claims. The survivors' takeover (TTL, then lock-delay, then a claim)
// may make the pause longer.
var minPause = 2*membership.DefaultConfig().TTL + 500*time.Millisecond

// TestPausedMemberNeverAnswersFromALostActivation is issue #11's fault 1: a
// member stopped (SIGSTOP) for longer than its lease woke up and answered
// grain calls from activations Consul had already released, after
// survivors had activated the same identities and answered from them. The
// fence flag it checked is set by a watchdog tick that, after a pause, may
// come after the HTTP handlers and activations have run.
//
// Each round follows some identities of one member, stops it, calls them
// through another until survivors answer with new activations, leaves
// calls to the stopped member queued in its sockets, resumes it and keeps
// calling it. Every call is recorded; no call sent after a survivor's
// activation answered may be answered by the paused member's old
// activation. Whether the woken process runs a handler before its
// watchdog is a race it lost in about half the rounds without the fix,
// hence several rounds.
func TestPausedMemberNeverAnswersFromALostActivation(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Consul and three granary processes")
	}
	nodes := threeMembers(t, "pause")
	c := newCaller(t)
	for round := 1; round <= pauses; round++ {
		// Each round pauses another process: whether a woken process loses
		// the race seems to hold for the process, not for each pause.
		paused, survivor := nodes[(round-1)%len(nodes)], nodes[round%len(nodes)]
		old := identitiesOn(t, c, paused, fmt.Sprintf("r%d-", round), pausedIdentities)
		stopped := c.pauseDuringCalls(paused, survivor, old)
		t.Logf("pause %d: %s", round, c.summary(paused.ID, old, stopped))
		if stale := c.hist.StaleAnswers(); len(stale) > 0 {
			for _, s := range stale {
				t.Errorf("stale answer: %s", s)
			}
			t.FailNow()
		}
		// The woken member must come back, not stay fenced.
		waitMembers(t, nodes, 3)
	}
}

// pauseDuringCalls is one round: it stops paused, calls the identities in
// old (identity -> activation on paused) through survivor until another
// member answers for each, queues calls to paused, resumes it and calls
// both for afterWake. It returns when paused was stopped.
func (c *caller) pauseDuringCalls(paused, survivor *testnode.Node, old map[string]string) time.Time {
	t := c.t
	t.Helper()
	ids := keys(old)
	// One call per queued call at once, so each later has its own open
	// connection to paused: calls queued during the pause then wait on
	// sockets it already reads from, and run as soon as it wakes.
	c.all(paused, ids, queuedPerIdentity).Wait()

	pid := paused.PID()
	Pause(t, pid)
	stopped := time.Now()
	takenOver := c.takeOver(survivor, old, 30*time.Second)
	queued := c.all(paused, ids, queuedPerIdentity)
	c.waitWritten(queued, len(ids)*queuedPerIdentity, 10*time.Second)
	if rest := minPause - time.Since(stopped); rest > 0 {
		time.Sleep(rest) // the pause itself, not a wait for a condition
	}
	Resume(t, pid)
	t.Logf("%s (pid %d) stopped for %v; every identity answered by a survivor %v after the stop",
		paused.ID, pid, time.Since(stopped).Round(time.Millisecond), takenOver.Sub(stopped).Round(time.Millisecond))

	var after sync.WaitGroup
	for end := time.Now().Add(afterWake); time.Now().Before(end); time.Sleep(afterWakeEvery) {
		after.Add(2)
		go func() { defer after.Done(); c.all(paused, ids, 1).Wait() }()
		go func() { defer after.Done(); c.all(survivor, ids, 1).Wait() }()
	}
	queued.Wait()
	after.Wait()
	return stopped
}

// caller sends whoami calls over plain HTTP, one request per call with no
// client retries, and records each in hist.
type caller struct {
	t    *testing.T
	http *http.Client
	hist History
}

func newCaller(t *testing.T) *caller {
	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	t.Cleanup(tr.CloseIdleConnections)
	return &caller{t: t, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// call sends one whoami call for id to n and records it; wrote, if not
// nil, is called once the request is in n's socket.
func (c *caller) call(n *testnode.Node, id string, wrote func()) Answer {
	a := Answer{Identity: id, Via: n.ID}
	ctx := context.Background()
	if wrote != nil {
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { wrote() }})
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+n.HTTP+"/v1/grains/whoami/"+id, bytes.NewReader([]byte(`{}`)))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	a.Sent = time.Now()
	resp, err := c.http.Do(req)
	if err == nil {
		var body []byte
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		a.Answered = time.Now()
		var reply api.GrainReply
		switch {
		case err != nil:
		case resp.StatusCode != http.StatusOK:
			a.Err = fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(body))
		case json.Unmarshal(body, &reply) != nil:
			a.Err = fmt.Sprintf("undecodable answer %s", body)
		default:
			a.Member, a.Activation = reply.Member, reply.ActivationID
		}
	}
	if err != nil {
		a.Answered, a.Err = time.Now(), err.Error()
	}
	c.hist.Add(a)
	return a
}

// batch is a set of calls in flight.
type batch struct {
	wg      sync.WaitGroup
	written atomic.Int32
}

// Wait waits until every call of the batch has an answer.
func (b *batch) Wait() { b.wg.Wait() }

// all sends each identity per calls to n, all at once.
func (c *caller) all(n *testnode.Node, ids []string, per int) *batch {
	b := &batch{}
	for _, id := range ids {
		for range per {
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				c.call(n, id, func() { b.written.Add(1) })
			}()
		}
	}
	return b
}

// waitWritten waits until want requests of b are in the server's sockets.
func (c *caller) waitWritten(b *batch, want int, timeout time.Duration) {
	c.t.Helper()
	testutil.Eventually(c.t, timeout, func() (bool, string) {
		got := int(b.written.Load())
		return got >= want, fmt.Sprintf("%d of %d requests written", got, want)
	})
}

// identitiesOn returns want identities, named prefix and a number, whose
// activations live on n, with their activation ids.
func identitiesOn(t *testing.T, c *caller, n *testnode.Node, prefix string, want int) map[string]string {
	t.Helper()
	found := map[string]string{}
	for i := 0; len(found) < want; i++ {
		if i == 50*want {
			t.Fatalf("%d of %d identities tried landed on %s; want %d", len(found), i, n.ID, want)
		}
		a := c.call(n, fmt.Sprintf("%s%d", prefix, i), nil)
		switch {
		case a.Err != "":
			t.Fatalf("finding identities on %s: %s", n.ID, a)
		case a.Member == n.ID:
			found[a.Identity] = a.Activation
		}
	}
	return found
}

// takeOver calls every identity through via until each has been answered
// by another member than the one that held it (old), and returns when the
// last one was.
func (c *caller) takeOver(via *testnode.Node, old map[string]string, timeout time.Duration) time.Time {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	var mu sync.Mutex
	var last time.Time
	var wg sync.WaitGroup
	failed := make(chan string, len(old))
	for id, act := range old {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				a := c.call(via, id, nil)
				if a.Err == "" && a.Activation != act {
					mu.Lock()
					if a.Answered.After(last) {
						last = a.Answered
					}
					mu.Unlock()
					return
				}
				if time.Now().After(deadline) {
					failed <- fmt.Sprintf("%s: no survivor answered within %v; last: %s", id, timeout, a)
					return
				}
				time.Sleep(20 * time.Millisecond) // pace the polling
			}
		}()
	}
	wg.Wait()
	close(failed)
	for f := range failed {
		c.t.Fatal(f)
	}
	return last
}

// summary counts the calls for the identities in old sent to the paused
// member after it stopped, by what answered them.
func (c *caller) summary(paused string, old map[string]string, stopped time.Time) string {
	var fromOld, fromSurvivor, failedCalls int
	for _, a := range c.hist.Answers() {
		if _, followed := old[a.Identity]; !followed || a.Via != paused || a.Sent.Before(stopped) {
			continue
		}
		switch {
		case a.Err != "":
			failedCalls++
		case a.Activation == old[a.Identity]:
			fromOld++
		default:
			fromSurvivor++
		}
	}
	return fmt.Sprintf("calls to %s sent after it stopped: %d answered by its old activations, %d by survivors' new ones, %d failed (retryable)",
		paused, fromOld, fromSurvivor, failedCalls)
}

// threeMembers starts a Consul agent and three `granary node` processes,
// n1 to n3, of cluster, and waits until each sees all three.
func threeMembers(t *testing.T, cluster string) []*testnode.Node {
	t.Helper()
	agent := testconsul.Start(t, testconsul.Options{})
	var nodes []*testnode.Node
	for _, id := range []string{"n1", "n2", "n3"} {
		nodes = append(nodes, testnode.ClusterNode(t, cluster, agent.HTTPAddr(), id))
	}
	waitMembers(t, nodes, 3)
	return nodes
}

func waitMembers(t *testing.T, nodes []*testnode.Node, want int) {
	t.Helper()
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		for _, n := range nodes {
			ms, err := n.Client().Members(context.Background())
			if err != nil || len(ms) != want {
				return false, fmt.Sprintf("%s sees %d members (%v), want %d", n.ID, len(ms), err, want)
			}
		}
		return true, ""
	})
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
