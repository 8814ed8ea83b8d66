package httpapi

import (
	"sync"
	"time"
)

// logEvery lets one log line of a repeated failure through per period and
// counts the others. While Consul is away every request answers 503, and
// a line per request buried the log at the rate clients retry.
type logEvery struct {
	period time.Duration
	mu     sync.Mutex
	last   time.Time
	held   int
}

// allow reports whether to log now, and how many lines were held back
// since the last one let through.
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

// unavailableLogEvery: one line every 10 s says the trouble goes on.
const unavailableLogEvery = 10 * time.Second
