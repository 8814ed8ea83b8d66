// Package logevery lets one log line of a repeated failure through per
// period and counts the others, so the line after a quiet spell can say
// how many were left out. While Consul is away, every request a node
// answers 503, every reminder shard's watch and every trace export fail
// together and retry on their own backoffs: a line each buried the log.
//
//	var warn = logevery.Limiter{Period: 10 * time.Second}
//	if ok, held := warn.Allow(time.Now()); ok {
//		log.Warn("store unreachable; retrying", "err", err, "similar_lines_left_out", held)
//	}
package logevery

import (
	"sync"
	"time"
)

// Limiter lets one line through per Period. Its zero value lets every
// line through; it is safe for concurrent use.
type Limiter struct {
	Period time.Duration

	mu   sync.Mutex
	last time.Time
	held int // lines held back since the last one let through
}

// Allow reports whether to log now and, if so, how many lines were held
// back since the last one let through.
func (l *Limiter) Allow(now time.Time) (ok bool, held int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < l.Period {
		l.held++
		return false, 0
	}
	held = l.held
	l.last, l.held = now, 0
	return true, held
}
