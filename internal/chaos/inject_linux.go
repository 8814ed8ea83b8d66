package chaos

import (
	"testing"
	"time"

	"github.com/granary-rt/granary/internal/faulttest"
)

// Inject applies f to the cluster and undoes it after its hold. It runs on
// the test's goroutine: restarting a process may end the test.
func (c *Cluster) Inject(t *testing.T, f Fault) {
	t.Helper()
	switch f.Kind {
	case RestartConsul:
		// Every member is cut off from Consul while it restarts, and for a
		// while after: health checks start critical again and sessions may
		// be gone, so survivors can take over work of a member that has
		// not noticed yet (seen: overlaps up to 6 s after the cluster
		// settled). A cut of each, until consulRestartAftermath after the
		// cluster has settled; its commits must still be fenced.
		began := time.Now()
		c.restartConsul(t)
		c.waitSettled(30 * time.Second)
		for _, m := range c.Members {
			c.Cuts = append(c.Cuts, Cut{Member: m.ID, Run: m.Run(), Kind: RestartConsul, From: began, To: time.Now().Add(consulRestartAftermath)})
		}
		return
	case LoseQuorum:
		c.loseQuorum(t, f.Hold)
		return
	}
	m := c.Members[f.Member]
	began := time.Now()
	switch f.Kind {
	case Kill:
		run := m.Run()
		m.Node.Kill()
		c.endRun(m.ID, run, time.Now())
		time.Sleep(f.Hold) // the fault's chosen down time
		m.Restart()
	case GracefulStop:
		s := m.stopGracefully()
		c.endRun(m.ID, s.Run, s.Exit)
		c.Stops = append(c.Stops, s)
		t.Logf("chaos: %s drained and exited %s after SIGTERM (code %d)", m.ID, s.Exit.Sub(s.Term).Round(time.Millisecond), s.Code)
		time.Sleep(f.Hold) // the fault's chosen down time
		m.Restart()
	case Pause:
		pid := m.Node.PID()
		faulttest.Pause(t, pid)
		time.Sleep(f.Hold) // the fault's chosen pause
		faulttest.Resume(t, pid)
	case PartitionConsul:
		m.Consul.Sever()
		time.Sleep(f.Hold) // the fault's chosen partition
		m.Consul.Restore()
	case PartitionPeers:
		m.Peers.Sever()
		time.Sleep(f.Hold) // the fault's chosen partition
		m.Peers.Restore()
	}
	if f.Kind == Pause || f.Kind == PartitionConsul || f.Kind == PartitionPeers {
		c.Cuts = append(c.Cuts, Cut{Member: m.ID, Run: m.Run(), Kind: f.Kind, From: began, To: time.Now()})
	}
}

// consulRestartAftermath is how long after a Consul restart has settled a
// member still counts as cut off (checks 7 and 8): past the 2 s lease and
// the lock-delay of a member's claims, with room for a loaded machine.
const consulRestartAftermath = 10 * time.Second

// endRun records when a member's process run ended.
func (c *Cluster) endRun(member string, run int, at time.Time) {
	if c.RunEnds == nil {
		c.RunEnds = map[string]time.Time{}
	}
	c.RunEnds[runKey(member, run)] = at
}

// restartConsul restarts the single server, or kills the quorum's leader
// with SIGKILL and starts it again once the others lead.
func (c *Cluster) restartConsul(t *testing.T) {
	t.Helper()
	if c.Quorum == nil {
		c.Consul.Restart(t)
		return
	}
	leader := c.Quorum.WaitLeader(t, 30*time.Second)
	leader.Kill()
	next := c.Quorum.WaitLeader(t, 30*time.Second)
	t.Logf("chaos: killed Consul leader %s; %s leads", leader.ServerAddr(), next.ServerAddr())
	leader.Restart(t)
}
