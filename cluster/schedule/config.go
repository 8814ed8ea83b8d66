package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/tasks"
)

// ErrConfig: a Config that cannot work.
var ErrConfig = errors.New("schedule: invalid config")

// Tasks is what firing needs of the task manager (*tasks.Manager): submit
// a run, read the last one.
type Tasks interface {
	Submit(ctx context.Context, sub tasks.Submission) (store.Record, bool, error)
	Get(ctx context.Context, id string) (store.Record, error)
}

// Config configures a member's schedule service.
type Config struct {
	// Member is this member's id (required).
	Member string
	// Store holds the schedules (required; both stores implement it).
	Store store.Schedules
	// Tasks submits the runs (required).
	Tasks Tasks
	// Registry checks a schedule's task template when it is declared
	// (required).
	Registry *actors.Registry
	// Owner names the member that fires a schedule: the placement owner of
	// its template's kind and its id among the live members hosting the
	// kind, as for a task ("" or nil: this member, as when embedded).
	Owner func(kind, id string) string
	// Fenced reports self-fencing: a fenced member fires nothing (nil: never).
	Fenced func() bool
	// Clock is the time (nil: time.Now).
	Clock func() time.Time
	// Logger receives the service's logs (nil: discarded).
	Logger *slog.Logger
	// Rescan is the longest time between two reads of the schedules: it
	// bounds how long a member takes to pick up a schedule it came to own
	// (a member left, a schedule declared on another member) and to start
	// a queued run once the last one ended.
	Rescan time.Duration
	// StoreTimeout bounds each store call and submit of a firing.
	StoreTimeout time.Duration
	// CatchUp is the catch-up window of schedules that set none.
	CatchUp time.Duration
	// MaxCatchUp caps the runs one firing starts for slots missed at once.
	MaxCatchUp int
	// Parallel bounds the schedules one member fires at once.
	Parallel int
}

// DefaultConfig returns the documented defaults for member.
func DefaultConfig(member string) Config {
	return Config{
		Member: member,
		// 1 s: one list of a few KV keys a second per member costs Consul
		// little, and a member's failover (10-20 s until Consul declares it
		// dead) dwarfs it.
		Rescan: time.Second,
		// 10 s: the task manager's own store time-out; a firing that takes
		// longer is tried again at the next scan.
		StoreTimeout: 10 * time.Second,
		// 1 h: covers a member's failover and a rolling restart many times
		// over, so no run is lost to them; a cluster down for longer starts
		// what it missed in the last hour, not a day's backlog.
		CatchUp: time.Hour,
		// 100: a schedule of every second down for two minutes catches up
		// fully; past it the oldest missed slots are counted missed, so a
		// long outage does not flood the cluster with runs.
		MaxCatchUp: 100,
		// 32: a firing is two or three store writes and a submit, 10-30 ms
		// on Consul; one at a time, a hundred schedules due together were
		// started up to 950 ms late (p99), side by side within about 100 ms,
		// and 32 writes in flight are well within the store's pool.
		Parallel: 32,
	}
}

// MaxCatchUpWindow bounds a schedule's catch-up window: planning walks the
// slots in it, and a week of a schedule of every second is 604,800.
const MaxCatchUpWindow = 7 * 24 * time.Hour

// Validate reports what makes c unusable; errors wrap ErrConfig.
func (c Config) Validate() error {
	switch {
	case c.Member == "":
		return fmt.Errorf("%w: Member is required", ErrConfig)
	case c.Store == nil || c.Tasks == nil || c.Registry == nil:
		return fmt.Errorf("%w: Store, Tasks and Registry are required", ErrConfig)
	case c.Rescan <= 0 || c.StoreTimeout <= 0:
		return fmt.Errorf("%w: Rescan and StoreTimeout must be positive", ErrConfig)
	case c.CatchUp < 0 || c.CatchUp > MaxCatchUpWindow:
		return fmt.Errorf("%w: CatchUp must be between 0 and %s, got %s", ErrConfig, MaxCatchUpWindow, c.CatchUp)
	case c.MaxCatchUp < 1 || c.Parallel < 1:
		return fmt.Errorf("%w: MaxCatchUp and Parallel must be at least 1, got %d and %d", ErrConfig, c.MaxCatchUp, c.Parallel)
	}
	return nil
}
