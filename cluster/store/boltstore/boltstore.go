// Package boltstore is the embedded task store of `granary dev`: one bbolt
// file in the data directory, fsynced on every commit, so tasks survive a
// kill -9 of the node.
//
// Concurrent writes are committed together (group commit, groupcommit.go):
// the writes that arrive while one transaction is being fsynced share the
// next transaction and its fsync. Revisions come from one sequence, so they grow
// across the whole store like Consul's modify indexes.
//
// Task counts by kind and state (store.Counter) are a bucket changed in
// the same transaction as each task's write (counts.go).
package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/granary-rt/granary/cluster/errs"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
	"google.golang.org/protobuf/proto"
)

var (
	bucketTasks  = []byte("tasks")  // id -> revision (8 bytes, big endian) + Task
	bucketOwners = []byte("owners") // owner \x00 id -> nothing, for unfinished tasks only
	bucketJobs   = []byte("jobs")   // job id -> revision (8 bytes, big endian) + Job
	// bucketByTime indexes every task by submission time: timeKey -> nothing,
	// so a page of the newest tasks reads only its tasks. A database from
	// before it gets it filled when opened (Open).
	bucketByTime = []byte("bytime")
)

// Config configures the store.
type Config struct {
	// Path is the database file.
	Path string
	// MaxBatch is the most writes committed in one transaction (one fsync).
	MaxBatch int
	// OpenTimeout bounds the wait for the file lock, held by another node
	// process using the same data directory.
	OpenTimeout time.Duration
	// WriteFault is a fault hook for tests: every write transaction calls
	// it first, and an error it returns fails the write as the disk would
	// (return an error wrapping syscall.ENOSPC to fill the disk). Nil: none.
	WriteFault func() error
}

// DefaultConfig returns the defaults for a database at path.
func DefaultConfig(path string) Config {
	return Config{
		Path: path,
		// 1000 (bbolt's own MaxBatchSize): far more than the writes that
		// queue during one fsync on a busy node (one per caller in flight),
		// while it bounds a transaction's dirty pages and the work run again
		// when one write in it fails.
		MaxBatch: 1000,
		// 2s: long enough to ride out a previous process still exiting, short
		// enough that a second node on the same directory fails fast.
		OpenTimeout: 2 * time.Second,
	}
}

// Store is a bbolt-backed store.Store.
type Store struct {
	db        *bolt.DB
	notifier  store.Notifier
	committer *committer // runs the shared write transactions
	closeOnce sync.Once
	closeErr  error
	fault     func() error // Config.WriteFault
	room      room         // whether writes fail for lack of room
}

var (
	_ store.Store  = (*Store)(nil)
	_ store.Prober = (*Store)(nil)
	_ store.Health = (*Store)(nil)
)

// ErrInvalidConfig wraps every error of Config.Validate; it wraps
// errs.ErrInvalidConfig.
var ErrInvalidConfig = errs.New("boltstore: invalid configuration", errs.ErrInvalidConfig)

// Validate reports a Config Open would refuse, naming the field and its
// value.
func (c Config) Validate() error {
	switch {
	case c.Path == "":
		return fmt.Errorf("%w: Path is empty: name the database file", ErrInvalidConfig)
	case c.MaxBatch < 1:
		return fmt.Errorf("%w: MaxBatch is %d, want at least 1", ErrInvalidConfig, c.MaxBatch)
	case c.OpenTimeout < 0:
		return fmt.Errorf("%w: OpenTimeout is %s, want 0 (wait for the lock forever) or more", ErrInvalidConfig, c.OpenTimeout)
	}
	return nil
}

// Open opens (creating if needed) the database in cfg.Path.
func Open(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o755); err != nil {
		return nil, fmt.Errorf("boltstore: %w", err)
	}
	db, err := bolt.Open(cfg.Path, 0o600, &bolt.Options{Timeout: cfg.OpenTimeout})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("boltstore: %s is locked by another process (is another granary node using this data directory?)", cfg.Path)
		}
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
			return nil, fmt.Errorf("boltstore: %w", err) // it names the path already
		}
		return nil, fmt.Errorf("boltstore: open %s: %w", cfg.Path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketTasks, bucketOwners, bucketJobs, bucketSchedules} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if tx.Bucket(bucketCounts) == nil {
			if err := countAll(tx); err != nil {
				return err
			}
		}
		if tx.Bucket(bucketJobKids) == nil {
			if err := indexChildJobs(tx); err != nil {
				return err
			}
		}
		if tx.Bucket(bucketByTime) != nil {
			return nil
		}
		return backfill(tx)
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("boltstore: %w", err)
	}
	return &Store{db: db, committer: startCommitter(db, cfg.MaxBatch), fault: cfg.WriteFault}, nil
}

// Create implements store.Store.
func (s *Store) Create(ctx context.Context, t *messages.Task) (store.Record, bool, error) {
	if err := ctx.Err(); err != nil {
		return store.Record{}, false, err
	}
	id := t.GetSpec().GetId()
	var rec store.Record
	var created bool
	err := s.batch(func(tx *bolt.Tx) error {
		created = false
		tasks := tx.Bucket(bucketTasks)
		if v := tasks.Get([]byte(id)); v != nil {
			var err error
			rec, err = decode(v)
			return err
		}
		var err error
		rec, err = put(tx, t, nil)
		created = err == nil
		return err
	})
	if err != nil {
		return store.Record{}, false, wrap(err)
	}
	if created {
		s.notifier.Notify(id)
	}
	return rec, created, nil
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, id string) (store.Record, error) {
	if err := ctx.Err(); err != nil {
		return store.Record{}, err
	}
	var rec store.Record
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketTasks).Get([]byte(id))
		if v == nil {
			return fmt.Errorf("%w: %s", store.ErrNotFound, id)
		}
		var err error
		rec, err = decode(v)
		return err
	})
	return rec, wrap(err)
}

// Exists implements store.Prober.
func (s *Store) Exists(ctx context.Context, id string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	var found bool
	err := s.db.View(func(tx *bolt.Tx) error {
		found = tx.Bucket(bucketTasks).Get([]byte(id)) != nil
		return nil
	})
	return found, wrap(err)
}

// Update implements store.Store.
func (s *Store) Update(ctx context.Context, t *messages.Task, rev uint64) (store.Record, error) {
	if err := ctx.Err(); err != nil {
		return store.Record{}, err
	}
	id := t.GetSpec().GetId()
	var rec store.Record
	var outcome error // kept out of the function's error (groupcommit.go)
	err := s.batch(func(tx *bolt.Tx) error {
		old, refused, err := readAt(tx, id, rev)
		if outcome = refused; err != nil || refused != nil {
			return err
		}
		rec, err = put(tx, t, old.Task)
		return err
	})
	if err == nil {
		err = outcome
	}
	if err != nil {
		return store.Record{}, wrap(err)
	}
	s.notifier.Notify(id)
	return rec, nil
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, id string, rev uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var outcome error
	err := s.batch(func(tx *bolt.Tx) error {
		old, refused, err := readAt(tx, id, rev)
		if outcome = refused; err != nil || refused != nil {
			return err
		}
		if owner := old.Task.GetStatus().GetOwner(); owner != "" {
			if err := tx.Bucket(bucketOwners).Delete(ownerKey(owner, id)); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketByTime).Delete(timeKey(store.PositionOf(old.Task))); err != nil {
			return err
		}
		if err := addCounts(tx, store.CountDelta(old.Task, nil)); err != nil {
			return err
		}
		return tx.Bucket(bucketTasks).Delete([]byte(id))
	})
	if err == nil {
		err = outcome
	}
	if err == nil {
		s.notifier.Notify(id)
	}
	return wrap(err)
}

// readAt reads task id in tx for a change at revision rev: its record;
// or refused, why the change cannot be made (no such task, or it is at
// another revision), which is the caller's outcome, not the transaction's
// error; or err, which fails the transaction.
func readAt(tx *bolt.Tx, id string, rev uint64) (old store.Record, refused, err error) {
	v := tx.Bucket(bucketTasks).Get([]byte(id))
	if v == nil {
		return store.Record{}, fmt.Errorf("%w: %s", store.ErrNotFound, id), nil
	}
	if old, err = decode(v); err != nil {
		return store.Record{}, nil, err
	}
	if old.Revision != rev {
		return store.Record{}, fmt.Errorf("%w: %s is at revision %d, not %d", store.ErrConflict, id, old.Revision, rev), nil
	}
	return old, nil, nil
}

// List implements store.Store. An owner filter reads the owner index;
// in id order the scan starts at f.After and stops when the page is full,
// and so does a scan newest first, which reads the time index.
func (s *Store) List(ctx context.Context, f store.Filter) ([]store.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if f.Order == store.OldestFirst && f.Owner == "" {
		return s.listOldest(f)
	}
	page := store.NewPage(f)
	// The tasks and the owner index are kept in id order, the time index
	// newest first.
	stopEarly := f.Order == store.ByID || f.Owner == ""
	err := s.db.View(func(tx *bolt.Tx) error {
		tasks := tx.Bucket(bucketTasks)
		var prefix []byte
		c := tasks.Cursor()
		start := prefix
		switch {
		case f.Owner != "":
			prefix = ownerKey(f.Owner, "")
			c = tx.Bucket(bucketOwners).Cursor()
			start = prefix
			if f.After != nil && f.Order == store.ByID {
				start = append(append([]byte{}, prefix...), f.After.ID...)
			}
		case f.Order == store.NewestFirst:
			c = tx.Bucket(bucketByTime).Cursor()
			if f.After != nil {
				start = timeKey(*f.After)
			}
		case f.After != nil:
			start = []byte(f.After.ID)
		}
		for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if stopEarly && page.Full() {
				return nil
			}
			switch {
			case prefix != nil:
				if v = tasks.Get(k[len(prefix):]); v == nil {
					continue
				}
			case f.Order == store.NewestFirst:
				if v = tasks.Get(k[timeKeyLen:]); v == nil {
					continue
				}
			}
			rec, err := decode(v)
			if err != nil {
				return err
			}
			if f.Match(rec.Task) {
				page.Offer(rec)
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrap(err)
	}
	return page.Records(), nil
}

// listOldest answers f in OldestFirst order from the time index, read
// backwards (it is kept newest first): from f.After, or the oldest task,
// up to f.SubmittedBefore, stopping when the page is full.
func (s *Store) listOldest(f store.Filter) ([]store.Record, error) {
	page := store.NewPage(f)
	err := s.db.View(func(tx *bolt.Tx) error {
		tasks := tx.Bucket(bucketTasks)
		c := tx.Bucket(bucketByTime).Cursor()
		k, _ := c.Last()
		if f.After != nil {
			// Tasks submitted at f.After's time sort by id backwards here:
			// start among them, Match keeps those after f.After.
			k, _ = c.Seek(timeKey(store.Position{SubmittedAt: f.After.SubmittedAt.Add(-time.Nanosecond)}))
			if k == nil {
				k, _ = c.Last()
			} else {
				k, _ = c.Prev()
			}
		}
		var lastAt time.Time
		for ; k != nil; k, _ = c.Prev() {
			at := timeOfKey(k)
			if !f.SubmittedBefore.IsZero() && !at.Before(f.SubmittedBefore) {
				return nil
			}
			// Ties (one nanosecond) come by id backwards: stop only past them.
			if page.Full() && at.After(lastAt) {
				return nil
			}
			v := tasks.Get(k[timeKeyLen:])
			if v == nil {
				continue
			}
			rec, err := decode(v)
			if err != nil {
				return err
			}
			if f.Match(rec.Task) {
				page.Offer(rec)
				lastAt = at
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrap(err)
	}
	return page.Records(), nil
}

// Watch implements store.Store.
func (s *Store) Watch(ctx context.Context, id string, after uint64) (store.Record, error) {
	for {
		changed := s.notifier.Wait(id)
		rec, err := s.Get(ctx, id)
		if err != nil || rec.Revision > after {
			return rec, err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return store.Record{}, ctx.Err()
		}
	}
}

// Close implements store.Store.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.committer.close()
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// put writes t with a fresh revision and keeps the owner index and the
// counts in step with the change from old (nil when creating).
func put(tx *bolt.Tx, t, old *messages.Task) (store.Record, error) {
	tasks, owners := tx.Bucket(bucketTasks), tx.Bucket(bucketOwners)
	id := t.GetSpec().GetId()
	rev, err := tasks.NextSequence()
	if err != nil {
		return store.Record{}, err
	}
	body, err := proto.Marshal(t)
	if err != nil {
		return store.Record{}, err
	}
	v := make([]byte, 8+len(body))
	binary.BigEndian.PutUint64(v, rev)
	copy(v[8:], body)
	if err := tasks.Put([]byte(id), v); err != nil {
		return store.Record{}, err
	}
	if err := addCounts(tx, store.CountDelta(old, t)); err != nil {
		return store.Record{}, err
	}
	if at := store.PositionOf(t); old == nil || !store.PositionOf(old).SubmittedAt.Equal(at.SubmittedAt) {
		byTime := tx.Bucket(bucketByTime)
		if old != nil {
			if err := byTime.Delete(timeKey(store.PositionOf(old))); err != nil {
				return store.Record{}, err
			}
		}
		if err := byTime.Put(timeKey(at), nil); err != nil {
			return store.Record{}, err
		}
	}
	if old != nil && !store.Terminal(old.GetStatus().GetState()) && old.GetStatus().GetOwner() != "" {
		if err := owners.Delete(ownerKey(old.GetStatus().GetOwner(), id)); err != nil {
			return store.Record{}, err
		}
	}
	if !store.Terminal(t.GetStatus().GetState()) && t.GetStatus().GetOwner() != "" {
		if err := owners.Put(ownerKey(t.GetStatus().GetOwner(), id), nil); err != nil {
			return store.Record{}, err
		}
	}
	// The record holds t itself, as store.Store allows (the bytes stored
	// are its own): a copy cost every write a dozen allocations.
	return store.Record{Task: t, Revision: rev}, nil
}

func decode(v []byte) (store.Record, error) {
	if len(v) < 8 {
		return store.Record{}, fmt.Errorf("boltstore: corrupt record of %d bytes", len(v))
	}
	t := &messages.Task{}
	if err := proto.Unmarshal(v[8:], t); err != nil {
		return store.Record{}, fmt.Errorf("boltstore: corrupt record: %w", err)
	}
	return store.Record{Task: t, Revision: binary.BigEndian.Uint64(v)}, nil
}

// timeKeyLen is the length of a time index key without its id.
const timeKeyLen = 12

// timeKey is p's key in the time index: its submission time's seconds
// (offset to sort as unsigned) and nanoseconds, both inverted so that
// later times come first, then the id, so that a forward scan is in
// NewestFirst order.
func timeKey(p store.Position) []byte {
	k := make([]byte, timeKeyLen, timeKeyLen+len(p.ID))
	binary.BigEndian.PutUint64(k, ^(uint64(p.SubmittedAt.Unix()) ^ 1<<63))
	binary.BigEndian.PutUint32(k[8:], ^uint32(p.SubmittedAt.Nanosecond()))
	return append(k, p.ID...)
}

// timeOfKey is the submission time of a time index key.
func timeOfKey(k []byte) time.Time {
	sec := int64(^binary.BigEndian.Uint64(k) ^ 1<<63)
	ns := int64(^binary.BigEndian.Uint32(k[8:]))
	return time.Unix(sec, ns)
}

// backfill creates the time index and fills it with every stored task (a
// database from before the index).
func backfill(tx *bolt.Tx) error {
	byTime, err := tx.CreateBucket(bucketByTime)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketTasks).ForEach(func(_, v []byte) error {
		rec, err := decode(v)
		if err != nil {
			return err
		}
		return byTime.Put(timeKey(store.PositionOf(rec.Task)), nil)
	})
}

func ownerKey(owner, id string) []byte {
	return append(append([]byte(owner), 0), id...)
}
