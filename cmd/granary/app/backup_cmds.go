package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/granary-rt/granary/cluster/node"
	"github.com/granary-rt/granary/cluster/store/boltstore"
)

// runBackup saves a running `granary dev` node's online backup into a
// file, checked before it is given its name: a backup cut short or
// damaged in transfer never looks like one.
func runBackup(e *env, args []string) error {
	fs := newFlags(e, "backup", "FILE [--addr ADDR] [--json]")
	var cf clientFlags
	cf.register(fs, e, 10*time.Minute, "give up after this long")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("want the file to write the backup to (see %s -h)", fs.Name())
	}
	out := pos[0]
	if _, err := os.Stat(out); err == nil {
		return usageErr("%s exists: remove it or name another file (a backup never overwrites one)", out)
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	ctx, cancel := cf.context()
	defer cancel()
	partial := out + ".partial"
	f, err := os.OpenFile(partial, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return &exitError{code: exitFailed, msg: fmt.Sprintf("backup: %v", err)}
	}
	began := time.Now()
	n, err := c.Backup(ctx, f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	tasks := 0
	if err == nil {
		tasks, err = boltstore.VerifyBackup(partial)
	}
	if err == nil {
		err = os.Rename(partial, out)
	}
	if err != nil {
		_ = os.Remove(partial)
		return callErr(fmt.Errorf("backup: %w", err))
	}
	took := time.Since(began).Round(time.Millisecond)
	if cf.json {
		return printJSON(e.stdout, map[string]any{"file": out, "bytes": n, "tasks": tasks, "took": took.String()})
	}
	fmt.Fprintf(e.stdout, "%s: %d bytes, %d tasks, in %v\n", out, n, tasks, took)
	return nil
}

// runRestore puts a backup back as a stopped `granary dev` node's
// database; the database it replaces is kept beside it.
func runRestore(e *env, args []string) error {
	fs := newFlags(e, "restore", "--data-dir DIR FILE")
	dataDir := node.DefaultConfig().DataDir
	fs.StringVar(&dataDir, "data-dir", dataDir, "data directory of the stopped dev node to restore into")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("want the backup file to restore (see %s -h)", fs.Name())
	}
	target := filepath.Join(dataDir, node.DatabaseFile)
	tasks, err := boltstore.VerifyBackup(pos[0])
	if err == nil {
		var kept string
		if kept, err = boltstore.Restore(pos[0], target); err == nil {
			fmt.Fprintf(e.stdout, "restored %d tasks into %s", tasks, target)
			if kept != "" {
				fmt.Fprintf(e.stdout, " (the database it replaced is %s)", kept)
			}
			fmt.Fprintln(e.stdout)
			return nil
		}
	}
	if errors.Is(err, boltstore.ErrBadBackup) {
		return usageErr("restore: %v", err)
	}
	return &exitError{code: exitFailed, msg: fmt.Sprintf("restore: %v", err)}
}
