package chaos

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/internal/netproxy"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testnode"
)

// clusterName is the Granary cluster the campaign runs.
const clusterName = "chaos"

// Member is one `granary node` process with the two proxies the campaign
// severs: Consul reaches it only through consul, the other members only
// through peers.
type Member struct {
	ID     string
	Node   *testnode.Node
	Consul *netproxy.Proxy // member -> Consul
	Peers  *netproxy.Proxy // other members -> this member (--advertise)
	// Client talks to this member only, so every answer is known to come
	// from it. It gives up on an unreachable member after a few seconds.
	Client *client.Client
	run    atomic.Int64
}

// Run is the member's process run: 1 after its first start, +1 per restart.
func (m *Member) Run() int { return int(m.run.Load()) }

// Restart starts the member's process again (after a kill), with the same
// arguments and data directory.
func (m *Member) Restart() {
	m.Node.Start()
	m.run.Add(1)
}

// stopGracefully sends the member SIGTERM and waits for it to drain and
// exit: within memberDrainTimeout and exitSlack, else it is killed.
func (m *Member) stopGracefully() Stop {
	s := Stop{Member: m.ID, Run: m.Run(), Term: time.Now()}
	exited := m.Node.Terminate()
	select {
	case <-exited:
	case <-time.After(memberDrainTimeout + exitSlack):
		s.TimedOut = true
		m.Node.Kill()
	}
	s.Exit, s.Code = time.Now(), m.Node.ExitCode()
	return s
}

// memberDrainTimeout is the members' --drain-timeout: longer than any
// attempt of the workload that ends by itself (sleeps of at most 2.5s,
// hangs cut off by a 1s attempt time-out), so a graceful stop lets every
// running attempt finish; short enough not to stall the campaign.
const memberDrainTimeout = 10 * time.Second

// exitSlack is how long past its drain time-out a stopping member may
// take to exit: leaving Consul and closing the API.
const exitSlack = 5 * time.Second

// Topology is how the campaign runs Consul.
type Topology string

const (
	// SingleServer is one disk-backed Consul server that every member
	// reaches directly; consul-restart restarts it.
	SingleServer Topology = "single"
	// Quorum is Consul as operators run it (issue #22): three servers and a
	// client agent per member, which the member reaches (through its
	// proxy); consul-restart kills the leader server with SIGKILL and
	// starts it again once the others have elected a new one.
	Quorum Topology = "quorum"
)

// ParseTopology reads a topology's name; "" is SingleServer.
func ParseTopology(s string) (Topology, error) {
	switch Topology(s) {
	case "", SingleServer:
		return SingleServer, nil
	case Quorum:
		return Quorum, nil
	}
	return "", fmt.Errorf("chaos: unknown Consul topology %q (want %q or %q)", s, SingleServer, Quorum)
}

// Cluster is the campaign's Consul and members.
type Cluster struct {
	Consul  *testconsul.Agent  // the single server (SingleServer)
	Quorum  *testconsul.Quorum // the servers (Quorum)
	Members []*Member
	// Stops are the graceful stops injected so far (check 6).
	Stops []Stop
	// Cuts are the pauses and partitions injected so far, and RunEnds when
	// each member's process run that ended did (kill, graceful stop), by
	// runKey (checks 7 and 8).
	Cuts    []Cut
	RunEnds map[string]time.Time
}

// memberRetryFor bounds how long one call retries an unreachable member
// before the workload records the failure and moves on: long enough for a
// member that is restarting or re-registering, short enough that a worker
// does not stand still through a whole fault.
const memberRetryFor = 3 * time.Second

// StartCluster starts Consul as topo says and n members, each behind its
// own pair of proxies, and waits until every member sees all.
func StartCluster(t *testing.T, n int, topo Topology) *Cluster {
	t.Helper()
	c := &Cluster{}
	if topo == Quorum {
		c.Quorum = testconsul.StartQuorum(t, testconsul.QuorumOptions{})
	} else {
		c.Consul = testconsul.Start(t, testconsul.Options{Mode: testconsul.Server})
	}
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("n%d", i)
		agent := c.Consul
		if c.Quorum != nil {
			agent = c.Quorum.AddClient(t) // the agent on this member's host
		}
		consul := newProxy(t, "127.0.0.1:0", agent.HTTPAddr())
		bind := testnode.FreeAddr(t)
		peers := newProxy(t, "127.0.0.1:0", bind)
		// --bind again: the last flag wins, so the node listens where the
		// peers proxy forwards, and members dial it through the proxy.
		nd := testnode.ClusterNode(t, clusterName, consul.Addr(), id, "--bind", bind, "--advertise", peers.Addr(),
			"--drain-timeout", memberDrainTimeout.String())
		cl, err := client.New(client.Config{Addr: nd.HTTP, RetryFor: memberRetryFor, PollWait: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		m := &Member{ID: id, Node: nd, Consul: consul, Peers: peers, Client: cl}
		m.run.Store(1)
		c.Members = append(c.Members, m)
	}
	if why := c.waitSettled(60 * time.Second); why != "" {
		t.Fatalf("chaos: the cluster did not form: %s", why)
	}
	return c
}

func newProxy(t *testing.T, listen, target string) *netproxy.Proxy {
	t.Helper()
	p, err := netproxy.New(listen, target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// waitSettled polls until every member answers and sees every member
// healthy; it returns "" then, or why not when timeout passes.
func (c *Cluster) waitSettled(timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for {
		why := c.settled()
		if why == "" {
			return ""
		}
		if time.Now().After(deadline) {
			return why
		}
		time.Sleep(100 * time.Millisecond) // polling pace
	}
}

// settled is "" when every member sees every member healthy, else why not.
func (c *Cluster) settled() string {
	for _, m := range c.Members {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		ms, err := m.Client.Members(ctx)
		cancel()
		if err != nil {
			return fmt.Sprintf("%s: %v", m.ID, err)
		}
		healthy := 0
		for _, x := range ms {
			if x.Healthy {
				healthy++
			}
		}
		if healthy != len(c.Members) {
			return fmt.Sprintf("%s sees %d healthy members of %d: %+v", m.ID, healthy, len(c.Members), ms)
		}
	}
	return ""
}

// NodeEntries reads, from the log of a granary process run at debug level
// (every run of it), the task and job supervisor lines that checks 6 to 9
// read, and the runs whose drain timed out and handed work off. Tests of
// their own (real processes, no campaign) check their history with it and
// Attempts, CheckOverlaps, CheckEndedJobs.
func NodeEntries(member string, n *testnode.Node) (entries []Entry, drainTimedOut map[int]bool) {
	drainTimedOut = map[int]bool{}
	n.EachLogEntry(func(run int, e map[string]any) {
		msg, _ := e["msg"].(string)
		switch msg {
		case msgDrainTimedOut:
			drainTimedOut[run] = true
		case msgAttemptStarted, msgAttemptFailed, msgTaskFinished, msgSelfFenced, msgLeaseRestored,
			msgTaskRestarted, msgTaskTerminated, msgJobEnded, msgJobRestart, msgJobResumed, msgJobBegan:
			entries = append(entries, entryOf(member, run, msg, e))
		}
	})
	return entries, drainTimedOut
}

// entryOf is the Entry of one log line of member's run.
func entryOf(member string, run int, msg string, e map[string]any) Entry {
	en := Entry{Member: member, Run: run, Msg: msg}
	en.Task, _ = e["task"].(string)
	en.Cause, _ = e["cause"].(string)
	en.State, _ = e["state"].(string)
	en.Job, _ = e["job"].(string)
	en.End, _ = e["end"].(string)
	en.Child, _ = e["child"].(string)
	n, _ := e["attempt"].(float64)
	if msg == msgTaskFinished {
		n, _ = e["attempts"].(float64)
	}
	en.Attempt = int(n)
	cr, _ := e["child_round"].(float64)
	r, _ := e["round"].(float64)
	en.ChildRound, en.Round = uint64(cr), uint64(r)
	at, _ := e["time"].(string)
	en.At, _ = time.Parse(time.RFC3339Nano, at)
	return en
}
