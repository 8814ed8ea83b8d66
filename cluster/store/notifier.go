package store

import "sync"

// Notifier wakes the watchers of a key when it changes. Implementations of
// Store that see their own writes (the embedded store) use it for Watch.
// The zero value is ready to use.
type Notifier struct {
	mu      sync.Mutex
	waiters map[string]chan struct{}
}

// Wait returns a channel that is closed at the next Notify of id. Take it
// before reading the current value, so no change falls in between.
func (n *Notifier) Wait(id string) <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.waiters == nil {
		n.waiters = map[string]chan struct{}{}
	}
	ch, ok := n.waiters[id]
	if !ok {
		ch = make(chan struct{})
		n.waiters[id] = ch
	}
	return ch
}

// Notify wakes every waiter of id.
func (n *Notifier) Notify(id string) {
	n.mu.Lock()
	ch, ok := n.waiters[id]
	delete(n.waiters, id)
	n.mu.Unlock()
	if ok {
		close(ch)
	}
}
