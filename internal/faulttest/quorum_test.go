//go:build linux

package faulttest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/internal/testcluster"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testnode"
	"github.com/granary-rt/granary/internal/testutil"
)

// quorumCluster is Granary as operators run it: three Consul servers, and
// per member a Consul client agent on the member's host that the member
// talks to.
type quorumCluster struct {
	q      *testconsul.Quorum
	nodes  []*testnode.Node
	agents []*testconsul.Agent // agents[i] is nodes[i]'s local agent
}

// startQuorumCluster starts the quorum and n members of cluster, each
// with its own client agent, and waits until each sees all of them.
func startQuorumCluster(t *testing.T, cluster string, n int, extra ...string) *quorumCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: starts three Consul servers, client agents and granary processes")
	}
	c := &quorumCluster{q: testconsul.StartQuorum(t, testconsul.QuorumOptions{})}
	for i := range n {
		agent := c.q.AddClient(t)
		c.agents = append(c.agents, agent)
		c.nodes = append(c.nodes, testnode.ClusterNode(t, cluster, agent.HTTPAddr(), fmt.Sprintf("n%d", i+1), extra...))
	}
	waitMembers(t, c.nodes, n)
	return c
}

// submitAnswer is one call as the client saw it: a submit, or a read of
// a task acknowledged before.
type submitAnswer struct {
	op         string // "submit" or "get"
	id         string
	status     int // 0: no answer (transport error or client time-out)
	retryAfter string
	sent, took time.Duration // since the load began; how long it took
	err        string
}

// submitLoad submits tasks through the members in turn, one at a time per
// worker, each with the client's deadline and no retry, and records every
// answer, until stop is closed.
type submitLoad struct {
	hc      *http.Client
	began   time.Time
	mu      sync.Mutex
	answers []submitAnswer
	wg      sync.WaitGroup
}

// clientDeadline is what a client gives each submit: the 5 s.
const clientDeadline = 5 * time.Second

func startSubmitLoad(nodes []*testnode.Node, workers int, payload string, stop <-chan struct{}) *submitLoad {
	l := &submitLoad{hc: &http.Client{Timeout: clientDeadline}, began: time.Now()}
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				n := nodes[(w+i)%len(nodes)]
				var a submitAnswer
				if ackedID := l.ackedBy(w); i%2 == 1 && ackedID != "" {
					a = l.get(n, ackedID) // every other call reads
				} else {
					a = l.submit(n, fmt.Sprintf("q-%d-%d", w, i), payload)
				}
				l.mu.Lock()
				l.answers = append(l.answers, a)
				l.mu.Unlock()
				if a.status != http.StatusCreated && a.status != http.StatusOK {
					// Back off as a client told to retry would, but keep the
					// probe rate high enough to time the outage's edges.
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
	}
	return l
}

// ackedBy is the last task worker w had acknowledged, "" if none.
func (l *submitLoad) ackedBy(w int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	prefix := fmt.Sprintf("q-%d-", w)
	for i := len(l.answers) - 1; i >= 0; i-- {
		if a := l.answers[i]; a.op == "submit" && a.status == http.StatusCreated && strings.HasPrefix(a.id, prefix) {
			return a.id
		}
	}
	return ""
}

func (l *submitLoad) submit(n *testnode.Node, id, payload string) submitAnswer {
	body, _ := json.Marshal(api.SubmitRequest{ID: id, Kind: "sleep", Payload: json.RawMessage(payload)})
	req, _ := http.NewRequest(http.MethodPost, "http://"+n.HTTP+"/v1/tasks", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return l.do("submit", id, req)
}

func (l *submitLoad) get(n *testnode.Node, id string) submitAnswer {
	req, _ := http.NewRequest(http.MethodGet, "http://"+n.HTTP+"/v1/tasks/"+id, nil)
	return l.do("get", id, req)
}

func (l *submitLoad) do(op, id string, req *http.Request) submitAnswer {
	sent := time.Now()
	a := submitAnswer{op: op, id: id, sent: sent.Sub(l.began)}
	resp, err := l.hc.Do(req)
	a.took = time.Since(sent)
	if err != nil {
		a.err = err.Error()
		return a
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	a.status, a.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
	if a.status >= 300 {
		a.err = string(bytes.TrimSpace(data))
	}
	return a
}

// stopAndCollect waits for the workers and returns every answer in the
// order sent.
func (l *submitLoad) stopAndCollect() []submitAnswer {
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	sort.Slice(l.answers, func(i, j int) bool { return l.answers[i].sent < l.answers[j].sent })
	return l.answers
}

// TestNoQuorumAnswers503 is issue #22's outage: while two of the three
// Consul servers are paused (no leader, no quorum) every submit and every
// read answers 2xx or 503 with Retry-After within the client's deadline
// (never 500, never a hang to the client's time-out); once they continue,
// submits succeed again and every acknowledged task completes.
func TestNoQuorumAnswers503(t *testing.T) {
	c := startQuorumCluster(t, "noquorum", 2)
	stop := make(chan struct{})
	load := startSubmitLoad(c.nodes, 4, `{"ms":50}`, stop)
	t.Cleanup(func() { closeOnce(stop) })

	time.Sleep(2 * time.Second) // the load reaches a healthy cluster first
	paused := c.q.PauseServers(2)
	pausedAt := time.Since(load.began)
	t.Logf("paused %d servers at %v", len(paused), pausedAt)
	// 20 s without quorum, then the quorum returns; the load goes on until
	// submits have succeeded again for a while.
	time.Sleep(20 * time.Second)
	c.q.ResumeAll()
	resumedAt := time.Since(load.began)
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		load.mu.Lock()
		defer load.mu.Unlock()
		ok := 0
		for _, a := range load.answers {
			if a.sent > resumedAt && a.status == http.StatusCreated {
				ok++
			}
		}
		return ok >= 20, fmt.Sprintf("%d submits succeeded since the quorum returned", ok)
	})
	closeOnce(stop)
	answers := load.stopAndCollect()

	acked, slowest := checkAnswers(t, answers)
	first503, last503, firstOK := time.Duration(-1), time.Duration(-1), time.Duration(-1)
	counts := map[string]int{}
	for _, a := range answers {
		counts[fmt.Sprintf("%s %d", a.op, a.status)]++
		end := a.sent + a.took
		switch {
		case a.status == http.StatusServiceUnavailable && a.sent >= pausedAt && first503 < 0:
			first503 = end - pausedAt
		case a.status == http.StatusServiceUnavailable:
			last503 = end - resumedAt
		case a.status < 300 && a.sent >= resumedAt && firstOK < 0:
			firstOK = end - resumedAt
		}
	}
	t.Logf("%d calls %v, slowest %v; first 503 answered %v after the pause; after the resume: last 503 answered at %v, first success at %v",
		len(answers), counts, slowest, first503, last503, firstOK)
	if first503 < 0 {
		t.Errorf("no submit answered 503 during 20 s without quorum")
	}
	ctx := testutil.Context(t, time.Minute)
	waitAllDone(t, ctx, c.nodes[0], acked)
}

// checkAnswers fails the test for every call answered otherwise than
// 2xx or 503 with Retry-After, or not within the client's deadline, and
// returns the acknowledged submits' ids and the slowest answer.
func checkAnswers(t *testing.T, answers []submitAnswer) (acked []string, slowest time.Duration) {
	t.Helper()
	for _, a := range answers {
		slowest = max(slowest, a.took)
		switch {
		case a.status == http.StatusCreated || a.status == http.StatusOK:
			if a.op == "submit" {
				acked = append(acked, a.id)
			}
		case a.status == http.StatusServiceUnavailable && a.retryAfter != "":
		default:
			t.Errorf("%s %s sent at %v answered %d (Retry-After %q) after %v: %s", a.op, a.id, a.sent, a.status, a.retryAfter, a.took, a.err)
		}
	}
	return acked, slowest
}

// waitAllDone waits until every task of ids has ended, reading through n,
// and fails the test for each that did not complete.
func waitAllDone(t *testing.T, ctx context.Context, n *testnode.Node, ids []string) {
	t.Helper()
	done := 0
	for id, st := range testcluster.WaitAll(t, ctx, n.Client(), ids) {
		if st.State != "completed" {
			t.Errorf("acknowledged task %s ended %s: %s", id, st.State, st.Error)
			continue
		}
		done++
	}
	t.Logf("%d acknowledged tasks: %d completed", len(ids), done)
}
