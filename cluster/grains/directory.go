package grains

import (
	"context"
	"sync"
)

// Directory records which member holds each activation. Claim must be
// atomic: of several members claiming one identity, one wins and the others
// learn the winner.
type Directory interface {
	// Claim makes member the holder of (kind, identity) unless another member
	// holds it; it returns the holder either way.
	Claim(ctx context.Context, kind, identity, member string) (holder string, err error)
	// Release gives up member's claim; releasing a claim held by another
	// member does nothing.
	Release(ctx context.Context, kind, identity, member string) error
}

// LocalDirectory is an in-memory Directory (and Watcher) for a single node
// and tests.
type LocalDirectory struct {
	mu      sync.Mutex
	holders map[string]string
	version uint64
	changed chan struct{} // closed and replaced on every change
}

// bump records a change; the caller holds mu.
func (d *LocalDirectory) bump() {
	d.version++
	if d.changed != nil {
		close(d.changed)
	}
	d.changed = make(chan struct{})
}

// Wait implements Watcher.
func (d *LocalDirectory) Wait(ctx context.Context, kind, identity string, index uint64) (string, uint64, error) {
	for {
		d.mu.Lock()
		if d.changed == nil {
			d.changed = make(chan struct{})
		}
		holder, version, ch := d.holders[kind+"/"+identity], d.version+1, d.changed
		d.mu.Unlock()
		if index == 0 || version != index {
			return holder, version, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return "", 0, ctx.Err()
		}
	}
}

// holder is who holds (kind, identity), "" if nobody.
func (d *LocalDirectory) holder(kind, identity string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.holders[kind+"/"+identity]
}

// Claim implements Directory.
func (d *LocalDirectory) Claim(_ context.Context, kind, identity, member string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.holders == nil {
		d.holders = map[string]string{}
	}
	k := kind + "/" + identity
	if h, ok := d.holders[k]; ok {
		return h, nil
	}
	d.holders[k] = member
	d.bump()
	return member, nil
}

// Release implements Directory.
func (d *LocalDirectory) Release(_ context.Context, kind, identity, member string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := kind + "/" + identity
	if d.holders[k] == member {
		delete(d.holders, k)
		d.bump()
	}
	return nil
}

// ReleaseAll drops every claim of member, as a Consul session's invalidation
// does when a member dies. Tests use it to simulate that.
func (d *LocalDirectory) ReleaseAll(member string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, h := range d.holders {
		if h == member {
			delete(d.holders, k)
		}
	}
	d.bump()
}
