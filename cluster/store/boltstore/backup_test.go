package boltstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/granary-rt/granary/cluster/store/boltstore"
	"github.com/granary-rt/granary/cluster/store/storetest"
)

// TestBackupWhileWritingAndRestore: a backup taken while writers go on is
// a consistent database holding at least every task stored before it
// began; restored into another directory it opens with those tasks.
func TestBackupWhileWritingAndRestore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, filepath.Join(dir, "tasks.db"))
	defer s.Close()
	for i := range 50 {
		if _, _, err := s.Create(ctx, storetest.NewTask(fmt.Sprintf("before-%d", i), "m1")); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() { // writes go on during the backup
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, _, err := s.Create(ctx, storetest.NewTask(fmt.Sprintf("during-%d", i), "m1")); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var buf bytes.Buffer
	var announced int64
	n, err := s.Backup(&buf, func(size int64) { announced = size })
	close(stop)
	wg.Wait()
	if err != nil || n != int64(buf.Len()) || n != announced {
		t.Fatalf("Backup: %d bytes written, %d in the buffer, %d announced, %v", n, buf.Len(), announced, err)
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(backup, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	tasks, err := boltstore.VerifyBackup(backup)
	if err != nil || tasks < 50 {
		t.Fatalf("VerifyBackup: %d tasks, %v; want at least 50", tasks, err)
	}

	target := filepath.Join(t.TempDir(), "data", "tasks.db")
	if _, err := boltstore.Restore(backup, target); err != nil {
		t.Fatal(err)
	}
	r := open(t, target)
	defer r.Close()
	for i := range 50 {
		if _, err := r.Get(ctx, fmt.Sprintf("before-%d", i)); err != nil {
			t.Fatalf("restored database lacks before-%d: %v", i, err)
		}
	}
}

// TestRestoreRefusals: a restore under a running node, or of a file that
// is not a backup, is refused and leaves the database as it was.
func TestRestoreRefusals(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tasks.db")
	s := open(t, path)
	if _, _, err := s.Create(ctx, storetest.NewTask("keep", "m1")); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := s.Backup(&buf, nil); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(backup, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := boltstore.Restore(backup, path); err == nil || !strings.Contains(err.Error(), "stop it first") {
		t.Fatalf("restore under a running node: %v, want a refusal saying to stop it", err)
	}
	s.Close()

	junk := filepath.Join(t.TempDir(), "junk.db")
	if err := os.WriteFile(junk, bytes.Repeat([]byte("not a database "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(t.TempDir(), "truncated.db")
	if err := os.WriteFile(truncated, buf.Bytes()[:buf.Len()/2], 0o600); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{junk, truncated, filepath.Join(t.TempDir(), "missing.db")} {
		if _, err := boltstore.Restore(bad, path); !errors.Is(err, boltstore.ErrBadBackup) {
			t.Errorf("restore of %s: %v, want ErrBadBackup", filepath.Base(bad), err)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("refused restores left files beside the database: %v", entries)
	}
	r := open(t, path)
	defer r.Close()
	if _, err := r.Get(ctx, "keep"); err != nil {
		t.Fatalf("after refused restores: %v", err)
	}
}
