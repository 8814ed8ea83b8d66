package boltstore_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/store/boltstore"
	"github.com/granary-rt/granary/cluster/store/storetest"
	"github.com/granary-rt/granary/internal/testutil"
)

// TestDiskFullIsUnavailable: a write failing for lack of room (ENOSPC,
// EDQUOT, EROFS) is store.ErrUnavailable and ErrNoSpace, Healthy says so
// while it lasts, and both recover when room returns; nothing written
// before is lost.
func TestDiskFullIsUnavailable(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT, syscall.EROFS} {
		t.Run(errno.Error(), func(t *testing.T) {
			var full atomic.Bool
			cfg := boltstore.DefaultConfig(filepath.Join(t.TempDir(), "tasks.db"))
			cfg.WriteFault = func() error {
				if full.Load() {
					return fmt.Errorf("write tasks.db: %w", errno)
				}
				return nil
			}
			s, err := boltstore.Open(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			ctx := testutil.Context(t, 20*time.Second)
			rec, _, err := s.Create(ctx, storetest.NewTask("a", "m1"))
			if err != nil {
				t.Fatal(err)
			}
			full.Store(true)
			_, _, err = s.Create(ctx, storetest.NewTask("b", "m1"))
			if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, boltstore.ErrNoSpace) || !errors.Is(err, errno) {
				t.Fatalf("Create on a full disk = %v, want ErrUnavailable, ErrNoSpace and %v", err, errno)
			}
			if _, err := s.Update(ctx, rec.Task, rec.Revision); !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("Update on a full disk = %v, want ErrUnavailable", err)
			}
			if err := s.Healthy(ctx); !errors.Is(err, boltstore.ErrNoSpace) {
				t.Fatalf("Healthy on a full disk = %v, want ErrNoSpace", err)
			}
			full.Store(false)
			testutil.Eventually(t, 10*time.Second, func() (bool, string) {
				err := s.Healthy(ctx)
				return err == nil, fmt.Sprint("Healthy once room returned = ", err)
			})
			if _, _, err := s.Create(ctx, storetest.NewTask("b", "m1")); err != nil {
				t.Fatalf("Create once room returned = %v", err)
			}
			if _, err := s.Get(ctx, "a"); err != nil {
				t.Fatalf("the task written before the disk filled: %v", err)
			}
		})
	}
}
