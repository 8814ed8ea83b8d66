package boltstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/store/storetest"
	"github.com/granary-rt/granary/internal/testutil"
	bolt "go.etcd.io/bbolt"
)

func openInternal(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(DefaultConfig(path))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// holdCommitter occupies the committer with a write that waits for the
// returned release, so that the writes sent meanwhile queue for one
// transaction; the write's own answer comes back on the returned channel.
func holdCommitter(t *testing.T, s *Store) (release func(), held <-chan error) {
	t.Helper()
	running, gate, answer := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	var once sync.Once
	go func() {
		answer <- s.batch(func(*bolt.Tx) error {
			once.Do(func() { close(running) })
			<-gate
			return nil
		})
	}()
	<-running
	var released sync.Once
	release = func() { released.Do(func() { close(gate) }) }
	t.Cleanup(release)
	return release, answer
}

// queued waits until n writes are queued behind a held committer.
func queued(t *testing.T, s *Store, n int) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		got := s.committer.waiting()
		return got == n, fmt.Sprintf("%d writes queued, want %d", got, n)
	})
}

// TestConcurrentCASInOneBatch: check-and-set updates of one task at the same
// revision, committed in one transaction: exactly one wins, the others get
// ErrConflict, and the stored task is the winner's.
func TestConcurrentCASInOneBatch(t *testing.T) {
	s := openInternal(t, filepath.Join(t.TempDir(), "tasks.db"))
	ctx := testutil.Context(t, 20*time.Second)
	rec, _, err := s.Create(ctx, storetest.NewTask("a", "m1"))
	if err != nil {
		t.Fatal(err)
	}
	release, held := holdCommitter(t, s)
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			task := storetest.NewTask("a", fmt.Sprintf("owner%d", i))
			_, errs[i] = s.Update(ctx, task, rec.Revision)
		}()
	}
	queued(t, s, n)
	before := s.committer.commits.Load()
	release()
	wg.Wait()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if got := s.committer.commits.Load() - before; got != 2 {
		t.Fatalf("%d transactions for the held write and %d queued updates, want 2", got, n)
	}
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("updates %d and %d both won", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrConflict):
			t.Fatalf("update %d = %v, want ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no update won")
	}
	got, err := s.Get(ctx, "a")
	if err != nil || got.Task.GetStatus().GetOwner() != fmt.Sprintf("owner%d", winner) {
		t.Fatalf("stored task owned by %q (%v), want the winner owner%d", got.Task.GetStatus().GetOwner(), err, winner)
	}
	if owned, err := s.List(ctx, store.Filter{Owner: "m1"}); err != nil || len(owned) != 0 {
		t.Fatalf("owner index still lists %d tasks for the old owner (%v)", len(owned), err)
	}
}

// TestFailingWriteSparesItsBatch: a write that fails in a shared
// transaction is answered its own error and leaves nothing behind; the
// writes batched with it commit.
func TestFailingWriteSparesItsBatch(t *testing.T) {
	s := openInternal(t, filepath.Join(t.TempDir(), "tasks.db"))
	ctx := testutil.Context(t, 20*time.Second)
	release, held := holdCommitter(t, s)
	const n = 8
	errs := make([]error, 2*n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[i] = s.Create(ctx, storetest.NewTask(fmt.Sprintf("t%d", i), "m1"))
		}()
	}
	queued(t, s, n)
	boom := errors.New("boom")
	failed := make(chan error, 1)
	go func() {
		failed <- s.batch(func(tx *bolt.Tx) error {
			if err := tx.Bucket(bucketJobs).Put([]byte("poison"), []byte("x")); err != nil {
				return err
			}
			return boom
		})
	}()
	queued(t, s, n+1)
	for i := range n { // and more behind it
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[n+i] = s.Create(ctx, storetest.NewTask(fmt.Sprintf("u%d", i), "m1"))
		}()
	}
	queued(t, s, 2*n+1)
	release()
	wg.Wait()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if err := <-failed; !errors.Is(err, boom) {
		t.Fatalf("the failing write = %v, want its own error", err)
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("write %d batched with a failing one = %v", i, err)
		}
	}
	if recs, err := s.List(ctx, store.Filter{}); err != nil || len(recs) != 2*n {
		t.Fatalf("%d tasks stored (%v), want %d", len(recs), err, 2*n)
	}
	if _, err := s.GetJob(ctx, "poison"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the failing write's put = %v, want rolled back (ErrNotFound)", err)
	}
}

// TestWritersShareFsyncs: many concurrent writers cause far fewer
// transactions (each one fsync) than writes, and every write answered
// success is on disk after the store is closed and opened again.
func TestWritersShareFsyncs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tasks.db")
	s := openInternal(t, path)
	ctx := testutil.Context(t, 30*time.Second)
	const writers, each = 32, 8
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := range each {
				if err := writeTask(ctx, s, fmt.Sprintf("w%d-%d", w, i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	before := s.committer.commits.Load()
	close(start)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	const writes = writers * each * 4 // create, update, create and delete a sibling
	if got := s.committer.commits.Load() - before; got > writes/4 {
		t.Fatalf("%d writes took %d transactions, want at most %d (shared fsyncs)", writes, got, writes/4)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openInternal(t, path)
	recs, err := s.List(ctx, store.Filter{})
	if err != nil || len(recs) != writers*each {
		t.Fatalf("after reopening: %d tasks (%v), want %d", len(recs), err, writers*each)
	}
	for _, r := range recs {
		if r.Task.GetStatus().GetOwner() != "m2" {
			t.Fatalf("after reopening %s is owned by %q, want its update (m2)", r.Task.GetSpec().GetId(), r.Task.GetStatus().GetOwner())
		}
	}
}

// writeTask creates id, updates it, and creates and deletes a sibling:
// the three kinds of task writes.
func writeTask(ctx context.Context, s *Store, id string) error {
	rec, _, err := s.Create(ctx, storetest.NewTask(id, "m1"))
	if err != nil {
		return err
	}
	if _, err := s.Update(ctx, storetest.NewTask(id, "m2"), rec.Revision); err != nil {
		return err
	}
	sib, _, err := s.Create(ctx, storetest.NewTask(id+"-gone", "m1"))
	if err != nil {
		return err
	}
	return s.Delete(ctx, sib.Task.GetSpec().GetId(), sib.Revision)
}

// TestCloseAnswersQueuedWrites: Close lets the writes already queued
// commit, and a write after Close fails with store.ErrClosed.
func TestCloseAnswersQueuedWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tasks.db")
	s := openInternal(t, path)
	ctx := testutil.Context(t, 20*time.Second)
	release, held := holdCommitter(t, s)
	created := make(chan error, 1)
	go func() {
		_, _, err := s.Create(ctx, storetest.NewTask("a", "m1"))
		created <- err
	}()
	queued(t, s, 1)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		s.committer.mu.Lock()
		defer s.committer.mu.Unlock()
		return s.committer.closed, "Close has not begun"
	})
	if _, _, err := s.Create(ctx, storetest.NewTask("late", "m1")); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Create while closing = %v, want ErrClosed", err)
	}
	release()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if err := <-created; err != nil {
		t.Fatalf("a write queued before Close = %v", err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	s = openInternal(t, path)
	if _, err := s.Get(ctx, "a"); err != nil {
		t.Fatalf("the write queued before Close, after reopening: %v", err)
	}
}
