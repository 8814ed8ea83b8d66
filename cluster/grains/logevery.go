package grains

import (
	"sync"
	"time"
)

// logEvery lets one log line of a repeated failure through per period,
// counting the others: the reminder scheduler's watches (one per shard,
// 32) all fail together while Consul is away, and each retries on its
// own backoff, which logged hundreds of identical warnings a minute.
type logEvery struct {
	period time.Duration
	mu     sync.Mutex
	last   time.Time
	held   int // lines held back since the last one let through
}

// allow reports whether to log now and how many were held back since
// the last line.
func (l *logEvery) allow(now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < l.period {
		l.held++
		return false, 0
	}
	held := l.held
	l.last, l.held = now, 0
	return true, held
}

// reminderWarnEvery is the period of the scheduler's warnings about its
// index reads failing: one line every 10s says Consul is still away.
const reminderWarnEvery = 10 * time.Second
