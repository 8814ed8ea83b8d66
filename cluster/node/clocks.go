package node

import (
	"context"
	"sync"
	"time"

	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/cluster/membership"
)

// maxClockSkew is the clock difference between two members past which
// each warns: members read wall times other members wrote (a reminder's
// due time, a task's deadline and next attempt after a failover, the
// retention of finished tasks, a job's restart window), so a member whose
// clock is off by seconds fires reminders early or late and retries
// early or late. NTP keeps hosts within milliseconds; a second is far
// beyond that and still below the lateness anyone would notice first.
const maxClockSkew = time.Second

// clockCheckTimeout bounds asking a member for its clock.
const clockCheckTimeout = 5 * time.Second

// clockCheck compares this member's wall clock with each member's as it
// appears in the view (at this member's join, and when others join), and
// warns of a skew past maxClockSkew, naming the member. Only the view
// goroutine calls check; each member is asked once per appearance.
type clockCheck struct {
	n      *Node
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	seen   map[string]bool
}

func newClockCheck(n *Node) *clockCheck {
	ctx, cancel := context.WithCancel(context.Background())
	return &clockCheck{n: n, ctx: ctx, cancel: cancel, seen: map[string]bool{}}
}

// check asks the members of v not seen before for their clocks.
func (k *clockCheck) check(v membership.View) {
	now := map[string]bool{}
	for _, m := range v.Members {
		now[m.ID] = true
		if m.ID == k.n.id || k.seen[m.ID] || m.HTTPAddr == "" {
			continue
		}
		c, err := k.n.memberClient(m.HTTPAddr, time.Millisecond)
		if err != nil {
			continue
		}
		k.wg.Add(1)
		go func() { defer k.wg.Done(); k.checkMember(m.ID, c) }()
	}
	k.seen = now // a member that leaves and comes back is asked again
}

// checkMember asks one member for its clock and warns if it is skewed.
func (k *clockCheck) checkMember(id string, c *client.Client) {
	ctx, cancel := context.WithTimeout(k.ctx, clockCheckTimeout)
	defer cancel()
	sent := time.Now()
	rep, err := c.MemberReport(ctx)
	back := time.Now()
	if err != nil || rep.Now.IsZero() {
		return // an older member, or one in trouble: nothing to compare
	}
	skew := skewOf(rep.Now, sent, back)
	// The answer was made somewhere within the round trip: only a skew
	// beyond half of it is certain.
	if certain := skew.Abs() - back.Sub(sent)/2; certain > maxClockSkew {
		k.n.log.Warn("clock skew with another member: reminders, deadlines, retries after a failover and retention read wall clocks other members wrote; synchronise the hosts' clocks (NTP)",
			"other", id, "skew", skew.Round(time.Millisecond), "round_trip", back.Sub(sent).Round(time.Millisecond), "tolerated", maxClockSkew)
	}
}

func (k *clockCheck) stop() {
	k.cancel()
	k.wg.Wait()
}

// skewOf estimates another clock's offset from this one: what it read
// (theirs) minus this clock at the middle of the round trip [sent, back].
func skewOf(theirs, sent, back time.Time) time.Duration {
	mid := sent.Add(back.Sub(sent) / 2)
	return theirs.Sub(mid)
}
