package grainstate

import (
	"context"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/granary-rt/granary/cluster/errs"
)

// Store keeps the durable state of grains (kinds made with
// actors.GrainWithState). Each identity's state has a version that grows
// with every write; a write names the version it replaces, and, where the
// store knows claims (Consul), the member whose claim on the identity it
// is made under. Both are checked in the write itself, so an activation
// that lost its claim — its member paused, partitioned or declared dead —
// can never overwrite what its successor stored.
type Store interface {
	// LoadState returns the stored state and its version; nil and 0 when
	// none is stored.
	LoadState(ctx context.Context, kind, identity string) (data []byte, version uint64, err error)
	// SaveState stores data if the stored version is still version (0:
	// none stored) and member still holds the identity's claim, and
	// returns the new version; an error wrapping ErrStateConflict
	// otherwise (the activation deactivates; the next one loads what is
	// stored).
	SaveState(ctx context.Context, kind, identity, member string, data []byte, version uint64) (uint64, error)
	// DeleteState removes the stored state and the identity's reminder
	// index entries (none stored is no error). An activation holding it
	// finds out at its next write (a conflict), and its successor starts
	// from the zero state.
	DeleteState(ctx context.Context, kind, identity string) error
}

// ReminderStore is a Store that also keeps an index of the grains'
// reminders by shard, next to their records: the members scan the index
// of the shards they own for due reminders, never the records. Every
// store Granary ships (Consul, bbolt, memory) is one, and passes
// grainstatetest.Run.
type ReminderStore interface {
	Store
	// SaveStateIndexed is SaveState that also applies changes to the
	// identity's entries in the reminder index, in the same write: the
	// index says what the stored record says.
	SaveStateIndexed(ctx context.Context, kind, identity, member string, data []byte, version uint64, changes []IndexChange) (uint64, error)
	// WatchReminders returns the index entries of shard and the index's
	// version. With index not 0 it first waits until the shard changes
	// past index, ctx ends, or a store-chosen time passes (it then
	// returns the entries as they are).
	WatchReminders(ctx context.Context, shard int, index uint64) ([]IndexEntry, uint64, error)
}

// IndexEntry is a reminder in the index: which grain, and when it is due.
type IndexEntry struct {
	Kind, Identity, Name string
	Due                  time.Time
}

// IndexChange sets (Due not zero) or removes a grain's reminder's entry.
type IndexChange struct {
	Name string
	Due  time.Time
}

var (
	// ErrStateConflict: a durable grain's state changed since the version
	// its activation read (another activation wrote it, or the activation
	// lost its claim); the write was refused. A Store's SaveState returns
	// it (wrapped).
	ErrStateConflict = errs.New("grain state changed concurrently", errs.ErrConflict)
	// ErrStateTooLarge: a grain's state is larger than MaxStateBytes; a
	// store refuses it and changes nothing.
	ErrStateTooLarge = errs.New("grain state too large", errs.ErrInvalidArgument)
)

// Bounds every store enforces the same way (Check).
const (
	// MaxStateBytes bounds a grain's stored state: a state is one Consul KV
	// value, written in a transaction whose body Consul caps at 512 KiB with
	// the value in base64 (as task records, see tasks.MaxRecordBytes).
	MaxStateBytes = 360 << 10
	// MaxIndexChanges bounds the index changes of one write: Consul runs
	// the write as one transaction of at most 64 operations, two of which
	// are the claim check and the state's check-and-set. A grain holds at
	// most 32 reminders (actors.MaxReminders), so a call changes at most
	// 62 unless it cancels nearly all of them and sets as many others
	// under new names; such a write is refused whole (on Consul it could
	// never commit), by every store alike.
	MaxIndexChanges = 62
	// MaxNameBytes bounds a kind, an identity and a reminder name as a
	// store keeps them: Consul refuses keys longer than its own limit, so
	// a longer one is refused here first, with the same error everywhere.
	MaxNameBytes = 512
)

// ReminderShards is the number of shards of the reminder index. It is
// part of the stored layout (an index entry's key names its shard), so it
// never changes. 32: each shard a member owns holds one blocking query,
// that is one connection to its Consul agent, which takes 200 per client
// address in all (http_max_conns_per_client): a member alone owns all 32,
// and a change re-reads one shard, 1/32 of the reminders, never all.
const ReminderShards = 32

// ReminderShard is the shard of the reminder index that (kind, identity)'s
// reminders are in. Part of the stored layout: it never changes.
func ReminderShard(kind, identity string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(kind))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(identity))
	return int(h.Sum32() % ReminderShards)
}

// CheckGrain refuses what no store can key: an empty kind or identity, one
// longer than MaxNameBytes, or one holding a NUL byte (bbolt's separator).
// The error wraps errs.ErrInvalidArgument and names what is wrong.
func CheckGrain(kind, identity string) error {
	if err := checkName("kind", kind); err != nil {
		return err
	}
	return checkName("identity", identity)
}

// CheckWrite is CheckGrain and the bounds of a write: the state at most
// MaxStateBytes (else ErrStateTooLarge), at most MaxIndexChanges index
// changes, each with a reminder name CheckGrain would take. Every store
// calls it before it writes anything, so bad input changes nothing.
func CheckWrite(kind, identity string, data []byte, changes []IndexChange) error {
	if err := CheckGrain(kind, identity); err != nil {
		return err
	}
	if len(data) > MaxStateBytes {
		return fmt.Errorf("%w: the state of %s/%s is %d bytes, the limit is %d", ErrStateTooLarge, kind, identity, len(data), MaxStateBytes)
	}
	if len(changes) > MaxIndexChanges {
		return fmt.Errorf("%w: %d reminder index changes in one write of %s/%s, the limit is %d", errs.ErrInvalidArgument, len(changes), kind, identity, MaxIndexChanges)
	}
	for _, c := range changes {
		if err := checkName("reminder name", c.Name); err != nil {
			return fmt.Errorf("%w (grain %s/%s)", err, kind, identity)
		}
	}
	return nil
}

func checkName(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty grain %s", errs.ErrInvalidArgument, what)
	case len(s) > MaxNameBytes:
		return fmt.Errorf("%w: grain %s of %d bytes, the limit is %d", errs.ErrInvalidArgument, what, len(s), MaxNameBytes)
	}
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return fmt.Errorf("%w: grain %s %q holds a NUL byte", errs.ErrInvalidArgument, what, s)
		}
	}
	return nil
}

// CheckShard refuses a shard outside 0 to ReminderShards-1, wrapping
// errs.ErrInvalidArgument.
func CheckShard(shard int) error {
	if shard < 0 || shard >= ReminderShards {
		return fmt.Errorf("%w: reminder shard %d, want 0 to %d", errs.ErrInvalidArgument, shard, ReminderShards-1)
	}
	return nil
}
