package boltstore

// A full disk (or a quota reached, or the file system remounted read-only)
// is a condition that passes: an operator frees space and the node carries
// on. So the store answers such a failed write store.ErrUnavailable (the API
// says 503 with Retry-After, and task actors keep their results and commit
// again later) rather than an unexplained error (500), and the node's
// health reports it (Healthy) until a write lands again.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// ErrNoSpace: a write failed for lack of room on the disk (ENOSPC, EDQUOT)
// or because the file system is read-only (EROFS). Errors that wrap it wrap
// store.ErrUnavailable too: the write may be tried again once there is room.
var ErrNoSpace = errors.New("no room to write the store")

// noRoom are the errnos of a write that may succeed once an operator acts.
var noRoom = []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT, syscall.EROFS}

// isNoRoom reports whether err is a write failing for lack of room. bbolt
// formats some file errors with %s (growing the file: "file resize
// error"), so their text is matched too.
func isNoRoom(err error) bool {
	for _, e := range noRoom {
		if errors.Is(err, e) || strings.Contains(err.Error(), e.Error()) {
			return true
		}
	}
	return false
}

// probeEvery is the least time between two probe writes of Healthy while
// the store is out of room: a probe is an fsynced write, and Consul's check
// (or an operator's curl) may ask every second.
const probeEvery = 2 * time.Second

// probeBytes is the size of a probe write: more than a page, so that it
// needs room the file may not have, as a task's commit would.
const probeBytes = 64 << 10

var (
	bucketHealth = []byte("health")
	probeKey     = []byte("probe")
)

// room tracks whether writes fail for lack of room.
type room struct {
	mu     sync.Mutex
	err    error     // the last write's no-room failure; nil: writes land
	probed time.Time // when Healthy last probed
}

// observe records a write's outcome.
func (r *room) observe(err error) {
	switch {
	case err == nil:
		r.mu.Lock()
		r.err = nil
		r.mu.Unlock()
	case errors.Is(err, ErrNoSpace):
		r.mu.Lock()
		r.err = err
		r.mu.Unlock()
	}
}

// batch runs fn in a shared write transaction (group commit: fn may run
// more than once, see groupcommit.go), through the fault hook, and maps a
// failure for lack of room to ErrNoSpace (wrapping store.ErrUnavailable)
// and bbolt's closed database to store.ErrClosed.
func (s *Store) batch(fn func(tx *bolt.Tx) error) error {
	return s.write(s.committer.do, fn)
}

// update is batch in a transaction of its own (bbolt's Update).
func (s *Store) update(fn func(tx *bolt.Tx) error) error {
	return s.write(s.db.Update, fn)
}

func (s *Store) write(run func(func(*bolt.Tx) error) error, fn func(tx *bolt.Tx) error) error {
	err := run(func(tx *bolt.Tx) error {
		if s.fault != nil {
			if err := s.fault(); err != nil {
				return err
			}
		}
		return fn(tx)
	})
	err = wrap(err)
	s.room.observe(err)
	return err
}

// Healthy reports whether writes land: an error wrapping ErrNoSpace while
// the last write failed for lack of room. Then it probes, at most every
// probeEvery, with a small write of its own, so that it recovers when room
// returns even if nothing else writes (a write of the task actors' that
// lands recovers it too).
func (s *Store) Healthy(ctx context.Context) error {
	s.room.mu.Lock()
	failed, due := s.room.err, time.Since(s.room.probed) >= probeEvery
	if failed != nil && due {
		s.room.probed = time.Now()
	}
	s.room.mu.Unlock()
	if failed == nil {
		return nil
	}
	if !due || ctx.Err() != nil {
		return failed
	}
	return s.update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketHealth)
		if err != nil {
			return err
		}
		return b.Put(probeKey, make([]byte, probeBytes))
	})
}

func wrap(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNoSpace) || errors.Is(err, store.ErrClosed) || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound):
		return err
	case isNoRoom(err):
		return fmt.Errorf("%w: %w: %w", store.ErrUnavailable, ErrNoSpace, err)
	case errors.Is(err, bolterrors.ErrDatabaseNotOpen):
		return fmt.Errorf("%w: %w", store.ErrClosed, err)
	}
	return err
}
