package chaos

import (
	"math/rand/v2"
	"testing"
	"time"
)

// loseQuorumHold draws how long LoseQuorum keeps the quorum away: 10 to
// 30s, the "lose quorum for 30 s and get it back" at its longest,
// and at its shortest well past a leader election (about 2s) and the
// store's call bounds, so submits, reads and listings all meet the outage.
func loseQuorumHold(r *rand.Rand) time.Duration {
	return between(r, 10*time.Second, 30*time.Second)
}

// loseQuorum pauses two of the three Consul servers (the leader among
// them) for hold, then continues them: no leader, no writes and no
// consistent reads meanwhile. Members keep renewing their leases through
// their agents, which answer from local state, so none is declared dead;
// the API answers 503 with Retry-After until the quorum is back. Only the
// quorum topology has servers to pause: on one server the fault would be
// consul-restart's, so the test fails rather than counting a fault it
// did not inject.
func (c *Cluster) loseQuorum(t *testing.T, hold time.Duration) {
	t.Helper()
	if c.Quorum == nil {
		t.Fatalf("chaos: %s needs the %q topology", LoseQuorum, Quorum)
	}
	paused := c.Quorum.PauseServers(2)
	t.Logf("chaos: paused %d of %d Consul servers for %v", len(paused), len(c.Quorum.Servers), hold)
	time.Sleep(hold) // the fault's chosen outage
	c.Quorum.ResumeAll()
	began := time.Now()
	leader := c.Quorum.WaitLeader(t, 60*time.Second)
	t.Logf("chaos: quorum back: %s leads %v after the servers continued", leader.ServerAddr(), time.Since(began).Round(time.Millisecond))
}
