package metrics

import (
	"context"
	"errors"
	"time"

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
	opDeleteJob
	opExists
	numOps
)

var opNames = [numOps]string{"create", "get", "update", "list", "delete", "watch", "get_job", "put_job", "list_jobs", "delete_job", "exists"}

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
	case errors.Is(err, store.ErrConflict):
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

// storeInstruments are every (op, code) child, resolved at New.
type storeInstruments struct {
	ops      *prometheus.CounterVec
	duration *prometheus.HistogramVec
	count    [numOps][numCodes]prometheus.Counter
	took     [numOps]prometheus.Observer
}

func newStoreInstruments(buckets []float64) *storeInstruments {
	s := &storeInstruments{
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "granary_store_operations_total",
			Help: "Task store operations, by op and outcome code (ok, not_found, conflict: answers; unavailable, closed, canceled, error: errors)."}, []string{"op", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "granary_store_operation_duration_seconds",
			Help: "Latency of task store operations, by op (watch, a long poll, is not timed).", Buckets: buckets}, []string{"op"}),
	}
	for op := range numOps {
		for code := range numCodes {
			s.count[op][code] = s.ops.WithLabelValues(opNames[op], codeNames[code])
		}
		s.took[op] = s.duration.WithLabelValues(opNames[op])
	}
	return s
}

func (s *storeInstruments) done(op int, start time.Time, err error) {
	s.count[op][codeOf(err)].Inc()
	if op != opWatch {
		s.took[op].Observe(time.Since(start).Seconds())
	}
}

// Store returns st with every operation counted and timed; with m nil, st
// itself. The result has st's optional abilities: store.Prober (counted)
// and taking records other members push (Observe, Expect).
func (m *Metrics) Store(st store.Store) store.Store {
	if m == nil {
		return st
	}
	s := &instrumentedStore{Store: st, m: m.store}
	p, probes := st.(store.Prober)
	o, observes := st.(peerObserver)
	switch {
	case probes && observes:
		return &struct {
			*instrumentedProber
			peerObserver
		}{&instrumentedProber{instrumentedStore: s, p: p}, o}
	case probes:
		return &instrumentedProber{instrumentedStore: s, p: p}
	case observes:
		return &struct {
			*instrumentedStore
			peerObserver
		}{s, o}
	}
	return s
}

// peerObserver is consulstore's ability to take the records other members
// push (the task manager looks for it): passed through, not counted, as
// it makes no round trip.
type peerObserver interface {
	Observe(rec store.Record)
	Expect(id string, until time.Time)
}

type instrumentedStore struct {
	store.Store
	m *storeInstruments
}

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
