package consulstore

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/granary-rt/granary/cluster/errs"
)

// ErrInvalidConfig wraps every error of Config.Validate; it wraps
// errs.ErrInvalidConfig.
var ErrInvalidConfig = errs.New("consulstore: invalid configuration", errs.ErrInvalidConfig)

// Config configures the store.
type Config struct {
	// Cluster names the key prefix granary/<Cluster>/.
	Cluster string
	// WatchWait is the wait of each blocking query in Watch.
	WatchWait time.Duration
	// LocalWait is how long Watch waits for this process's own next write
	// of a task it wrote last (it owns the task) before it asks Consul.
	LocalWait time.Duration
	// MaxWatches bounds the blocking queries Watch holds open at once.
	// Waiters on one task share one query; waiters on more tasks than
	// this wait for a turn (woken sooner by changes this process sees).
	MaxWatches int
	// WalkRecords bounds the tasks a listing of the newest tasks reads
	// through the submission-time index, beyond its page size, before it
	// reads every task in one listing instead (a filter that keeps few).
	WalkRecords int
	// ReconcileEvery is the longest the cluster goes without reconciling
	// the submission-time index with the tasks, and the child jobs index
	// with the job records (reconcile.go, jobkids.go), while the runs find
	// nothing missing; negative: the store never reconciles by
	// itself (a caller runs Reconcile).
	ReconcileEvery time.Duration
	// ReconcileSoon is the wait before the next reconcile after a store
	// opens or after a run that found tasks or child jobs lacking an
	// entry; it doubles
	// after each run that finds none, up to ReconcileEvery.
	ReconcileSoon time.Duration
	// Logger receives the reconciles' reports; nil: slog.Default().
	Logger *slog.Logger
	// CallTimeout bounds every call of the store that is not a blocking
	// query (Watch, WatchOwned wait by design): a call that Consul has not
	// answered by then fails with store.ErrUnavailable, so that a caller
	// hears "try again later" while Consul has no leader instead of
	// waiting for Consul's own limits (a paused server holds a request for
	// up to a minute). A write that timed out may still commit: callers
	// read again before deciding (Update does).
	CallTimeout time.Duration
	// OutageCallTimeout replaces CallTimeout for calls that begin within
	// outageWindow of a call that found Consul unavailable: while Consul
	// is known to be away, a caller hears so sooner, and a request that
	// meets the store twice (a submit handed to its owner, then stored
	// here) still answers within a client's deadline.
	OutageCallTimeout time.Duration
	// Writer names this store's counter shards (counts.go): a member
	// passes its name, so that a restarted member writes the shards it
	// wrote before instead of adding new ones. Two stores of one name are
	// still counted right (each shard is written with check-and-set), only
	// slower. Empty: a random name.
	Writer string
}

// DefaultConfig returns the defaults for cluster.
func DefaultConfig(cluster string) Config {
	return Config{
		// The caller's: it names the key prefix (there is no default).
		Cluster: cluster,
		// 30s: a blocking query costs nothing while it waits; shorter only
		// adds idle round trips, longer risks proxies cutting the connection.
		WatchWait: 30 * time.Second,
		// 2s: the owner's next write of a short task comes well within it,
		// so its waiters cost Consul nothing; if another member took the
		// task meanwhile, they hear of it at most this much later, which is
		// less than failover takes anyway.
		LocalWait: 2 * time.Second,
		// 32: each blocking query holds a connection to the agent, and
		// Consul accepts 200 per client address (http_max_conns_per_client)
		// from every member on a host together; 32 leaves the rest to
		// writes, reads and other members, however many clients wait.
		MaxWatches: 32,
		// 2048: a page whose filter keeps one task in 20 still comes from
		// the index; a filter that keeps almost none costs, on top of the
		// one listing of every task it ends with, about 32 reads of 64
		// tasks (2% more than that listing at 100,000 tasks).
		WalkRecords: 2048,
		// 5m: a reconcile lists every task key and index entry (about
		// 0.1s and 1.9MB of JSON for 20,000 tasks, measured by
		// TestReconcileCompleteIndexReadsNoTasks), once per period in the
		// whole cluster; a task an older member creates during a rolling
		// upgrade is listed within a period at worst, within ReconcileSoon
		// once a run has found one, and at once when a member starts.
		ReconcileEvery: 5 * time.Minute,
		// 10s: while older members write tasks without entries, they are
		// listed within seconds; a run that finds none doubles the wait, so
		// a store opening costs the cluster about five runs in its first
		// five minutes.
		ReconcileSoon: 10 * time.Second,
		// 2s: a healthy Consul answers in milliseconds; clients give a
		// request 5s, and a submit may meet the store twice (handed to its
		// owner, which fails to store it, then stored here), so two calls
		// and the hops between them fit in a client's deadline, and the
		// API answers 503 with Retry-After while Consul has no quorum. A
		// leader election on a three-server quorum stalls writes about
		// 1.5s (TestConsulLeaderKillUnderLoad), mostly within it; a task's
		// own writes retry past it (tasks.Config.StoreTimeout).
		CallTimeout: 2 * time.Second,
		// 1s: a healthy Consul answers in milliseconds, so a call that
		// returns before this ends the outage's short bounds; measured
		// with two of three servers paused, submits answer 503 about 1s
		// after the previous failure, and succeed within about 0.3s of
		// the quorum's return (TestNoQuorumAnswers503).
		OutageCallTimeout: time.Second,
		// Empty: a random name; a member passes its own.
		Writer: "",
	}
}

// Validate reports a Config New would refuse, naming the field and its
// value: a Cluster that cannot be a key segment, and negative durations or
// counts (zero takes the default; a negative ReconcileEvery means never).
func (c Config) Validate() error {
	if c.Cluster == "" || strings.ContainsAny(c.Cluster, "/ ") {
		return fmt.Errorf("%w: Cluster %q must be non-empty without '/' or spaces", ErrInvalidConfig, c.Cluster)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"WatchWait", c.WatchWait}, {"LocalWait", c.LocalWait}, {"ReconcileSoon", c.ReconcileSoon},
		{"CallTimeout", c.CallTimeout}, {"OutageCallTimeout", c.OutageCallTimeout}} {
		if d.v < 0 {
			return fmt.Errorf("%w: %s is %s, want 0 (the default) or more", ErrInvalidConfig, d.name, d.v)
		}
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"MaxWatches", c.MaxWatches}, {"WalkRecords", c.WalkRecords}} {
		if n.v < 0 {
			return fmt.Errorf("%w: %s is %d, want 0 (the default) or more", ErrInvalidConfig, n.name, n.v)
		}
	}
	return nil
}

// withDefaults gives each zero field DefaultConfig's value (LocalWait's
// zero is a value: no wait) and a random Writer.
func (c Config) withDefaults() Config {
	def := DefaultConfig(c.Cluster)
	for _, d := range []struct{ dst, def *time.Duration }{
		{&c.WatchWait, &def.WatchWait}, {&c.ReconcileEvery, &def.ReconcileEvery}, {&c.ReconcileSoon, &def.ReconcileSoon},
		{&c.CallTimeout, &def.CallTimeout}, {&c.OutageCallTimeout, &def.OutageCallTimeout},
	} {
		if *d.dst == 0 {
			*d.dst = *d.def
		}
	}
	if c.MaxWatches == 0 {
		c.MaxWatches = def.MaxWatches
	}
	if c.WalkRecords == 0 {
		c.WalkRecords = def.WalkRecords
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Writer == "" {
		c.Writer = rand.Text()[:12] // 60 random bits: no two stores share one by chance
	}
	return c
}
