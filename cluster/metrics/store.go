package metrics

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/granary-rt/granary/cluster/errs"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"github.com/prometheus/client_golang/prometheus"
)

// The store's operations, the op label.
const (
	opCreate = iota
	opGet
	opUpdate
	opList
	opDelete
	opWatch
	opGetJob
	opPutJob
	opListJobs
	opListChildJobs
	opDeleteJob
	opExists
	numOps
)

var opNames = [numOps]string{"create", "get", "update", "list", "delete", "watch", "get_job", "put_job", "list_jobs", "list_child_jobs", "delete_job", "exists"}

// The outcomes of a store operation, the code label: not_found and
// conflict are answers the callers expect (a check-and-set lost), the
// others errors.
const (
	codeOK = iota
	codeNotFound
	codeConflict
	codeUnavailable
	codeClosed
	codeCanceled
	codeError
	numCodes
)

var codeNames = [numCodes]string{"ok", "not_found", "conflict", "unavailable", "closed", "canceled", "error"}

func codeOf(err error) int {
	switch {
	case err == nil:
		return codeOK
	case errors.Is(err, store.ErrNotFound):
		return codeNotFound
	case errors.Is(err, errs.ErrConflict): // the task store's or grain state's
		return codeConflict
	case errors.Is(err, store.ErrUnavailable):
		return codeUnavailable
	case errors.Is(err, store.ErrClosed):
		return codeClosed
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return codeCanceled
	}
	return codeError
}

// opInstruments are a store's two families (operations by op and code,
// latency by op) with every (op, code) child resolved at New, so a record
// is two atomic operations. Both stores, the task store's and the grain
// state store's, have them.
type opInstruments struct {
	ops      *prometheus.CounterVec
	duration *prometheus.HistogramVec
	count    [][numCodes]prometheus.Counter
	took     []prometheus.Observer
	untimed  int // the op counted but not timed: a long poll's wait is not latency
}

// newOpInstruments makes the families name_operations_total and
// name_operation_duration_seconds over ops.
func newOpInstruments(name, what string, ops []string, untimed int, buckets []float64) *opInstruments {
	s := &opInstruments{
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{Name: name + "_operations_total",
			Help: what + " operations, by op and outcome code (ok, not_found, conflict: answers; unavailable, closed, canceled, error: errors)."}, []string{"op", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name + "_operation_duration_seconds",
			Help: "Latency of " + lowerFirst(what) + " operations, by op (" + ops[untimed] + ", a long poll, is not timed).", Buckets: buckets}, []string{"op"}),
		count:   make([][numCodes]prometheus.Counter, len(ops)),
		took:    make([]prometheus.Observer, len(ops)),
		untimed: untimed,
	}
	for op, opName := range ops {
		for code := range numCodes {
			s.count[op][code] = s.ops.WithLabelValues(opName, codeNames[code])
		}
		s.took[op] = s.duration.WithLabelValues(opName)
	}
	return s
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

func (s *opInstruments) done(op int, start time.Time, err error) {
	s.count[op][codeOf(err)].Inc()
	if op != s.untimed {
		s.took[op].Observe(time.Since(start).Seconds())
	}
}

// Store returns st with every operation counted and timed; with m nil, st
// itself. The result keeps st's optional abilities (store.CapabilitiesOf):
// Exists is counted, Observe, Expect and Healthy pass through uncounted, as
// they make no round trip or are the node's own probe.
func (m *Metrics) Store(st store.Store) store.Store {
	if m == nil {
		return st
	}
	return &instrumentedStore{Store: st, m: m.store, caps: store.CapabilitiesOf(st)}
}

type instrumentedStore struct {
	store.Store
	m    *opInstruments
	caps store.Capabilities // the wrapped store's
}

// Capabilities implements store.Capable: the wrapped store's, with Exists
// counted.
func (s *instrumentedStore) Capabilities() store.Capabilities {
	caps := s.caps
	if caps.Prober != nil {
		caps.Prober = &instrumentedProber{instrumentedStore: s, p: caps.Prober}
	}
	return caps
}

// Unwrap gives back the store, whose other optional abilities (its
// counts: store.CounterOf) are read past the metrics.
func (s *instrumentedStore) Unwrap() store.Store { return s.Store }

func (s *instrumentedStore) Create(ctx context.Context, t *messages.Task) (store.Record, bool, error) {
	start := time.Now()
	rec, created, err := s.Store.Create(ctx, t)
	s.m.done(opCreate, start, err)
	return rec, created, err
}

func (s *instrumentedStore) Get(ctx context.Context, id string) (store.Record, error) {
	start := time.Now()
	rec, err := s.Store.Get(ctx, id)
	s.m.done(opGet, start, err)
	return rec, err
}

func (s *instrumentedStore) Update(ctx context.Context, t *messages.Task, rev uint64) (store.Record, error) {
	start := time.Now()
	rec, err := s.Store.Update(ctx, t, rev)
	s.m.done(opUpdate, start, err)
	return rec, err
}

func (s *instrumentedStore) List(ctx context.Context, f store.Filter) ([]store.Record, error) {
	start := time.Now()
	recs, err := s.Store.List(ctx, f)
	s.m.done(opList, start, err)
	return recs, err
}

func (s *instrumentedStore) Delete(ctx context.Context, id string, rev uint64) error {
	start := time.Now()
	err := s.Store.Delete(ctx, id, rev)
	s.m.done(opDelete, start, err)
	return err
}

func (s *instrumentedStore) Watch(ctx context.Context, id string, after uint64) (store.Record, error) {
	start := time.Now()
	rec, err := s.Store.Watch(ctx, id, after)
	s.m.done(opWatch, start, err)
	return rec, err
}

func (s *instrumentedStore) GetJob(ctx context.Context, id string) (store.JobRecord, error) {
	start := time.Now()
	rec, err := s.Store.GetJob(ctx, id)
	s.m.done(opGetJob, start, err)
	return rec, err
}

func (s *instrumentedStore) PutJob(ctx context.Context, j *messages.Job, rev uint64) (store.JobRecord, error) {
	start := time.Now()
	rec, err := s.Store.PutJob(ctx, j, rev)
	s.m.done(opPutJob, start, err)
	return rec, err
}

func (s *instrumentedStore) ListJobs(ctx context.Context) ([]store.JobRecord, error) {
	start := time.Now()
	recs, err := s.Store.ListJobs(ctx)
	s.m.done(opListJobs, start, err)
	return recs, err
}

func (s *instrumentedStore) ListChildJobs(ctx context.Context, parent string) ([]store.JobRecord, error) {
	start := time.Now()
	recs, err := s.Store.ListChildJobs(ctx, parent)
	s.m.done(opListChildJobs, start, err)
	return recs, err
}

func (s *instrumentedStore) DeleteJob(ctx context.Context, id string, rev uint64) error {
	start := time.Now()
	err := s.Store.DeleteJob(ctx, id, rev)
	s.m.done(opDeleteJob, start, err)
	return err
}

type instrumentedProber struct {
	*instrumentedStore
	p store.Prober
}

func (s *instrumentedProber) Exists(ctx context.Context, id string) (bool, error) {
	start := time.Now()
	ok, err := s.p.Exists(ctx, id)
	s.m.done(opExists, start, err)
	return ok, err
}
