package boltstore

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Backups of `granary dev`'s one database file. A backup is taken online,
// from the running node: bbolt's Tx.WriteTo copies the file as one read
// transaction sees it, so the copy is consistent (every task, job, grain
// state and reminder as of one commit) while writes go on. A restore is
// offline: the node holds the file's lock while it runs, and a restore
// under a running node would be overwritten by its next commit.

// ErrBadBackup wraps every reason a file cannot be restored: not a bbolt
// database, or one without the store's buckets.
var ErrBadBackup = errors.New("boltstore: not a usable backup")

// Backup writes a consistent copy of the database to w, as of one read
// transaction; size, if not nil, is told the copy's length before its
// first byte (an HTTP answer's Content-Length). It returns the bytes
// written. Writes go on meanwhile; they are not in the copy.
func (s *Store) Backup(w io.Writer, size func(int64)) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		if size != nil {
			size(tx.Size())
		}
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("boltstore: backup: %w", err)
	}
	return n, nil
}

// VerifyBackup opens the file at path read-only and checks that it is a
// database of this store (bbolt's own consistency check, and the tasks
// bucket), so that a truncated or foreign file is refused before it
// replaces anything. It returns how many tasks the backup holds.
func VerifyBackup(path string) (int, error) {
	if err := checkLength(path); err != nil {
		return 0, fmt.Errorf("%w: %s: %w", ErrBadBackup, path, err)
	}
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %w", ErrBadBackup, path, err)
	}
	defer db.Close()
	tasks := 0
	err = db.View(func(tx *bolt.Tx) error {
		var bad error
		for err := range tx.Check() { // read to the end: Check's goroutine sends every error
			bad = cmp.Or(bad, err)
		}
		if bad != nil {
			return bad
		}
		b := tx.Bucket(bucketTasks)
		if b == nil {
			return errors.New("it has no tasks bucket (is it a granary dev database?)")
		}
		tasks = b.Stats().KeyN
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %w", ErrBadBackup, path, err)
	}
	return tasks, nil
}

// Restore replaces the database at path with the backup at from, once
// VerifyBackup accepts it, and keeps the database it replaces beside it as
// path+".before-restore" (replacing an older one of that name). It
// refuses while a node holds path (its lock), and changes nothing when it
// fails. The copy is written beside path, synced and renamed into place,
// so a crash leaves either the old database or the restored one.
func Restore(from, path string) (kept string, err error) {
	if _, err := VerifyBackup(from); err != nil {
		return "", err
	}
	if err := checkUnlocked(path); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("boltstore: restore: %w", err)
	}
	tmp := path + ".restoring"
	if err := copyFile(from, tmp); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("boltstore: restore: %w", err)
	}
	if _, err := os.Stat(path); err == nil {
		kept = path + ".before-restore"
		if err := os.Rename(path, kept); err != nil {
			_ = os.Remove(tmp)
			return "", fmt.Errorf("boltstore: restore: keeping the current database: %w", err)
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("boltstore: restore: %w", err)
	}
	return kept, syncDir(filepath.Dir(path))
}

// bbolt's meta page, as laid out on disk: a 16-byte page header, then
// magic, version, page size, flags, the root bucket (16 bytes), the
// freelist's page and the high-water page id.
const (
	metaMagic      = 0xED0CDAED
	metaOffMagic   = 16
	metaOffPgSize  = 24
	metaOffPgid    = 56
	metaHeaderSize = 64
)

// checkLength refuses a file shorter than its meta pages say: bbolt maps
// the file and would fault (SIGBUS) reading a page past its end, as a
// backup cut off in transfer has.
func checkLength(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	var meta [metaHeaderSize]byte
	if _, err := f.ReadAt(meta[:], 0); err != nil {
		return fmt.Errorf("too short for a database (%d bytes)", st.Size())
	}
	if binary.LittleEndian.Uint32(meta[metaOffMagic:]) != metaMagic {
		return errors.New("not a bbolt database (no magic number on its first page)")
	}
	pageSize := int64(binary.LittleEndian.Uint32(meta[metaOffPgSize:]))
	want := int64(0)
	for page := int64(0); page < 2; page++ {
		if _, err := f.ReadAt(meta[:], page*pageSize); err != nil {
			return fmt.Errorf("cut off at %d bytes, before its second meta page", st.Size())
		}
		if binary.LittleEndian.Uint32(meta[metaOffMagic:]) == metaMagic {
			want = max(want, int64(binary.LittleEndian.Uint64(meta[metaOffPgid:]))*pageSize)
		}
	}
	if st.Size() < want {
		return fmt.Errorf("cut off: %d bytes of the %d its meta pages describe", st.Size(), want)
	}
	return nil
}

// checkUnlocked fails if a process holds the database at path open (a
// running node); a missing file is fine.
func checkUnlocked(path string) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 500 * time.Millisecond})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return fmt.Errorf("boltstore: restore: %s is in use by a running node; stop it first", path)
	}
	if err != nil {
		// A damaged database is what a restore is for: it may be replaced.
		return nil
	}
	return db.Close()
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
