package tasks

import "sync"

// holdLearner learns, per task kind, whether new tasks finish within
// Config.HoldFirstWrite: holding the first write pays off only for those
// (one write instead of two), while a longer task's submit is answered the
// hold later than it would be. A kind whose tasks mostly outlast the hold
// is written first, without holding; one submit in holdRetry still holds,
// so a kind that became quick is learned again.
type holdLearner struct {
	mu    sync.Mutex
	kinds map[string]*kindHold // bounded by the registered kinds
}

type kindHold struct {
	quick float64 // moving average of outcomes, 1 quick and 0 slow
	asked uint64
}

const (
	// holdWeight is the weight of the newest outcome in the average: the
	// last ten or so decide.
	holdWeight = 0.2
	// holdRetry: a slow kind still holds one submit in this many.
	holdRetry = 16
)

// shouldHold is the pure decision: hold while the kind's tasks have mostly
// been quick, and now and then to look again.
func shouldHold(quick float64, asked uint64) bool {
	return quick >= 0.5 || asked%holdRetry == 0
}

// hold reports whether a new task of kind should start before its first
// write.
func (l *holdLearner) hold(kind string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := l.kind(kind)
	k.asked++
	return shouldHold(k.quick, k.asked)
}

// observe records whether a task of kind that started before its first
// write finished (or failed) within the hold.
func (l *holdLearner) observe(kind string, quick bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := l.kind(kind)
	v := 0.0
	if quick {
		v = 1
	}
	k.quick += holdWeight * (v - k.quick)
}

func (l *holdLearner) kind(kind string) *kindHold {
	if l.kinds == nil {
		l.kinds = map[string]*kindHold{}
	}
	k, ok := l.kinds[kind]
	if !ok {
		k = &kindHold{quick: 1} // new kinds are presumed quick until seen
		l.kinds[kind] = k
	}
	return k
}
