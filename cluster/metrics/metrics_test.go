package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func newMetrics(t *testing.T) *Metrics {
	t.Helper()
	return New(DefaultConfig())
}

// TestNamesFollowConventions runs Prometheus' own linter (promlint) over
// every family, after each has a series.
func TestNamesFollowConventions(t *testing.T) {
	m := newMetrics(t)
	exercise(m)
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "granary_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
}

// exercise records something in every family.
func exercise(m *Metrics) {
	k := m.Task("resize")
	k.Submitted()
	k.AttemptStarted()
	k.AttemptSucceeded(time.Millisecond)
	k.AttemptFailed(supervisor.CausePanic, time.Millisecond)
	m.Decision(supervisor.CausePanic, supervisor.Restart)
	m.JobRestarted("one_for_all")
	m.JobFailed("one_for_all")
	m.Task("resize").Adopted()
	m.AdoptionDelay(time.Second)
	m.Grain("counter").Call(CallOK, time.Millisecond)
	m.GrainRefused("counter", RefusedExpired)
	m.ReadHungHandlers(func() int { return 0 })
	_, _ = m.Store(&fakeStore{}).Get(context.Background(), "t1")
	m.GrainState(StateSave, time.Now(), nil)
	m.ReadOwnedTasks(func(report func(string, int)) { report("running", 2) })
	m.ReadActivations(func(report func(string, int)) { report("counter", 1) })
	m.ReadMembers(func(report func(string, int)) { report("healthy", 3) })
	m.ReadFenced(func() bool { return false })
	m.HTTP(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil))
	rt := m.Consul(roundTripper(func(*http.Request) (*http.Response, error) { return &http.Response{StatusCode: 200}, nil }))
	req, _ := http.NewRequest("GET", "http://consul/v1/kv/a", nil)
	_, _ = rt.RoundTrip(req)
}

func TestTaskInstruments(t *testing.T) {
	m := newMetrics(t)
	k := m.Task("resize")
	if m.Task("resize") != k {
		t.Fatal("Task does not cache a kind's instruments")
	}
	k.Submitted()
	k.AttemptStarted()
	k.AttemptStarted()
	k.AttemptStarted()
	k.AttemptSucceeded(30 * time.Millisecond)
	k.AttemptFailed(supervisor.CauseAttemptTimeout, 2*time.Second)
	k.AttemptFailed(supervisor.CauseMemberLost, 0) // lost: counted, not timed
	m.Decision(supervisor.CauseAttemptTimeout, supervisor.Restart)
	for _, c := range []struct {
		got  float64
		want float64
		what string
	}{
		{testutil.ToFloat64(m.tasksSubmitted.WithLabelValues("resize")), 1, "submitted"},
		{testutil.ToFloat64(m.attemptsStarted.WithLabelValues("resize")), 3, "started"},
		{testutil.ToFloat64(m.attemptsFinished.WithLabelValues("resize", "succeeded")), 1, "succeeded"},
		{testutil.ToFloat64(m.attemptsFinished.WithLabelValues("resize", "attempt_timeout")), 1, "timed out"},
		{testutil.ToFloat64(m.attemptsFinished.WithLabelValues("resize", "member_lost")), 1, "member lost"},
		{testutil.ToFloat64(m.decisions.WithLabelValues("attempt_timeout", "restart")), 1, "decisions"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	want := `
# HELP granary_task_attempt_duration_seconds How long task attempts ran on this member, by outcome (succeeded or failed).
# TYPE granary_task_attempt_duration_seconds histogram
granary_task_attempt_duration_seconds_bucket{kind="resize",outcome="failed",le="0.001"} 0
granary_task_attempt_duration_seconds_bucket{kind="resize",outcome="failed",le="0.004"} 0
granary_task_attempt_duration_seconds_bucket{kind="resize",outcome="failed",le="0.016"} 0
granary_task_attempt_duration_seconds_bucket{kind="resize",outcome="failed",le="0.064"} 0
granary_task_attempt_duration_seconds_bucket{kind="resize",outcome="failed",le="0.256"} 0
granary_task_attempt_duration_seconds_bucket{kind="resize",outcome="failed",le="1.024"} 0
granary_task_attempt_duration_seconds_bucket{kind="resize",outcome="failed",le="4.096"} 1
granary_task_attempt_duration_seconds_bucket{kind="resize",outcome="failed",le="16.384"} 1
granary_task_attempt_duration_seconds_bucket{kind="resize",outcome="failed",le="65.536"} 1
granary_task_attempt_duration_seconds_bucket{kind="resize",outcome="failed",le="262.144"} 1
granary_task_attempt_duration_seconds_bucket{kind="resize",outcome="failed",le="1048.576"} 1
granary_task_attempt_duration_seconds_bucket{kind="resize",outcome="failed",le="4194.304"} 1
granary_task_attempt_duration_seconds_bucket{kind="resize",outcome="failed",le="+Inf"} 1
granary_task_attempt_duration_seconds_sum{kind="resize",outcome="failed"} 2
granary_task_attempt_duration_seconds_count{kind="resize",outcome="failed"} 1
granary_task_attempt_duration_seconds_bucket{kind="resize",outcome="succeeded",le="0.001"} 0
granary_task_attempt_duration_seconds_bucket{kind="resize",outcome="succeeded",le="0.004"} 0
granary_task_attempt_duration_seconds_bucket{kind="resize",outcome="succeeded",le="0.016"} 0
granary_task_attempt_duration_seconds_bucket{kind="resize",outcome="succeeded",le="0.064"} 1
granary_task_attempt_duration_seconds_bucket{kind="resize",outcome="succeeded",le="0.256"} 1
granary_task_attempt_duration_seconds_bucket{kind="resize",outcome="succeeded",le="1.024"} 1
granary_task_attempt_duration_seconds_bucket{kind="resize",outcome="succeeded",le="4.096"} 1
granary_task_attempt_duration_seconds_bucket{kind="resize",outcome="succeeded",le="16.384"} 1
granary_task_attempt_duration_seconds_bucket{kind="resize",outcome="succeeded",le="65.536"} 1
granary_task_attempt_duration_seconds_bucket{kind="resize",outcome="succeeded",le="262.144"} 1
granary_task_attempt_duration_seconds_bucket{kind="resize",outcome="succeeded",le="1048.576"} 1
granary_task_attempt_duration_seconds_bucket{kind="resize",outcome="succeeded",le="4194.304"} 1
granary_task_attempt_duration_seconds_bucket{kind="resize",outcome="succeeded",le="+Inf"} 1
granary_task_attempt_duration_seconds_sum{kind="resize",outcome="succeeded"} 0.03
granary_task_attempt_duration_seconds_count{kind="resize",outcome="succeeded"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "granary_task_attempt_duration_seconds"); err != nil {
		t.Error(err)
	}
}

func TestFailoverInstruments(t *testing.T) {
	m := newMetrics(t)
	m.Task("resize").Adopted()
	m.Task("resize").Adopted()
	m.AdoptionDelay(1500 * time.Millisecond)
	if got := testutil.ToFloat64(m.adopted.WithLabelValues("resize")); got != 2 {
		t.Errorf("adopted = %v, want 2", got)
	}
	if n := testutil.CollectAndCount(m.adoption); n != 1 {
		t.Fatalf("adoption histogram has %d series", n)
	}
	want := `
# HELP granary_failover_adoption_seconds Seconds from this member's view losing a task's owner to this member taking up the task (the owner's detection, its lease TTL or health check, comes before).
# TYPE granary_failover_adoption_seconds histogram
granary_failover_adoption_seconds_bucket{le="0.25"} 0
granary_failover_adoption_seconds_bucket{le="0.5"} 0
granary_failover_adoption_seconds_bucket{le="1"} 0
granary_failover_adoption_seconds_bucket{le="2"} 1
granary_failover_adoption_seconds_bucket{le="3"} 1
granary_failover_adoption_seconds_bucket{le="5"} 1
granary_failover_adoption_seconds_bucket{le="10"} 1
granary_failover_adoption_seconds_bucket{le="20"} 1
granary_failover_adoption_seconds_bucket{le="30"} 1
granary_failover_adoption_seconds_bucket{le="60"} 1
granary_failover_adoption_seconds_bucket{le="+Inf"} 1
granary_failover_adoption_seconds_sum 1.5
granary_failover_adoption_seconds_count 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "granary_failover_adoption_seconds"); err != nil {
		t.Error(err)
	}
}

func TestGrainCalls(t *testing.T) {
	m := newMetrics(t)
	g := m.Grain("counter")
	g.Call(CallOK, time.Millisecond)
	g.Call(CallOK, time.Millisecond)
	g.Call(CallUnavailable, time.Second)
	g.Call(CallCode(200), 0) // out of range: error
	for code, want := range map[string]float64{"ok": 2, "unavailable": 1, "error": 1, "handler": 0} {
		if got := counterValue(t, m, "granary_grain_calls_total", map[string]string{"kind": "counter", "code": code}); got != want {
			t.Errorf("calls{code=%s} = %v, want %v", code, got, want)
		}
	}
}

// TestNilIsOff: a nil *Metrics and the nil instruments it hands out do
// nothing, and wrap nothing.
func TestNilIsOff(t *testing.T) {
	var m *Metrics
	m.Task("k").Submitted()
	m.Task("k").AttemptStarted()
	m.Task("k").AttemptSucceeded(time.Second)
	m.Task("k").AttemptFailed(supervisor.CauseError, time.Second)
	m.Grain("g").Call(CallOK, time.Second)
	m.Task("k").Adopted()
	m.AdoptionDelay(time.Second)
	m.Decision(supervisor.CauseError, supervisor.Restart)
	m.JobRestarted("one_for_one")
	m.JobFailed("one_for_one")
	m.ReadFenced(func() bool { return true })
	m.ReadOwnedTasks(nil)
	st := &fakeStore{}
	if m.Store(st) != store.Store(st) {
		t.Error("a nil Metrics wraps the store")
	}
	h := http.NotFoundHandler()
	if fmt.Sprint(m.HTTP(h)) != fmt.Sprint(h) {
		t.Error("a nil Metrics wraps the HTTP handler")
	}
	if m.Consul(http.DefaultTransport) != http.DefaultTransport {
		t.Error("a nil Metrics wraps the Consul transport")
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("GET /metrics with metrics off: %d, want 404", rec.Code)
	}
	if m.Registry() != nil {
		t.Error("a nil Metrics has a registry")
	}
}

func TestNilCostsNothing(t *testing.T) {
	var m *Metrics
	allocs := testing.AllocsPerRun(100, func() {
		m.Task("k").AttemptStarted()
		m.Grain("g").Call(CallOK, time.Millisecond)
	})
	if allocs != 0 {
		t.Errorf("metrics off: %v allocations per record, want 0", allocs)
	}
	on := New(DefaultConfig())
	k, g := on.Task("k"), on.Grain("g")
	allocs = testing.AllocsPerRun(100, func() {
		k.AttemptStarted()
		k.AttemptSucceeded(time.Millisecond)
		g.Call(CallOK, time.Millisecond)
	})
	if allocs != 0 {
		t.Errorf("metrics on: %v allocations per record, want 0", allocs)
	}
}

// fakeStore answers every call with err, and counts them.
type fakeStore struct {
	store.Store
	err   error
	calls int
}

func (f *fakeStore) Get(context.Context, string) (store.Record, error) {
	f.calls++
	return store.Record{}, f.err
}

func (f *fakeStore) Update(context.Context, *messages.Task, uint64) (store.Record, error) {
	f.calls++
	return store.Record{}, f.err
}

func (f *fakeStore) Watch(context.Context, string, uint64) (store.Record, error) {
	f.calls++
	return store.Record{}, f.err
}

type probingStore struct{ fakeStore }

func (p *probingStore) Exists(context.Context, string) (bool, error) { return true, nil }

type observingStore struct {
	probingStore
	observed []string
}

func (o *observingStore) Observe(rec store.Record) {
	o.observed = append(o.observed, rec.Task.GetSpec().GetId())
}
func (o *observingStore) Expect(string, time.Time) {}

func (o *observingStore) Healthy(context.Context) error {
	return fmt.Errorf("the disk is full: %w", store.ErrUnavailable)
}

func TestStoreCountsOperations(t *testing.T) {
	m := newMetrics(t)
	f := &fakeStore{}
	st := m.Store(f)
	ctx := context.Background()
	_, _ = st.Get(ctx, "a")
	f.err = fmt.Errorf("reading: %w", store.ErrNotFound)
	_, _ = st.Get(ctx, "b")
	f.err = store.ErrConflict
	_, _ = st.Update(ctx, &messages.Task{}, 1)
	f.err = fmt.Errorf("consul: %w", store.ErrUnavailable)
	_, _ = st.Update(ctx, &messages.Task{}, 1)
	f.err = context.DeadlineExceeded
	_, _ = st.Watch(ctx, "a", 0)
	f.err = errors.New("disk on fire")
	_, _ = st.Get(ctx, "c")
	if f.calls != 6 {
		t.Fatalf("the wrapped store saw %d calls, want 6", f.calls)
	}
	for _, c := range []struct {
		op, code string
		want     float64
	}{{"get", "ok", 1}, {"get", "not_found", 1}, {"get", "error", 1}, {"update", "conflict", 1}, {"update", "unavailable", 1}, {"watch", "canceled", 1}, {"create", "ok", 0}} {
		if got := testutil.ToFloat64(m.store.ops.WithLabelValues(c.op, c.code)); got != c.want {
			t.Errorf("operations{op=%s,code=%s} = %v, want %v", c.op, c.code, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(m.store.duration, "granary_store_operation_duration_seconds"); n != numOps {
		t.Errorf("%d duration series, want one per op (%d)", n, numOps)
	}
	if got := histogramCount(t, m, "granary_store_operation_duration_seconds", "op", "watch"); got != 0 {
		t.Errorf("watch, a long poll, was timed %d times", got)
	}
	if got := histogramCount(t, m, "granary_store_operation_duration_seconds", "op", "get"); got != 3 {
		t.Errorf("get timed %d times, want 3", got)
	}
}

// TestStoreKeepsAbilities: the wrapper keeps every optional ability the
// node looks for once (store.CapabilitiesOf), and adds none. Before, it
// kept Exists and Observe by a type switch and silently dropped Healthy.
func TestStoreKeepsAbilities(t *testing.T) {
	m := newMetrics(t)
	if caps := store.CapabilitiesOf(m.Store(&fakeStore{})); caps != (store.Capabilities{}) {
		t.Errorf("a store without abilities gained %+v", caps)
	}
	caps := store.CapabilitiesOf(m.Store(&probingStore{}))
	if caps.Prober == nil || caps.Observer != nil || caps.Health != nil {
		t.Fatalf("a Prober wrapped: %+v, want Exists alone", caps)
	}
	if _, err := caps.Prober.Exists(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(m.store.ops.WithLabelValues("exists", "ok")); got != 1 {
		t.Errorf("exists counted %v times", got)
	}
	inner := &observingStore{}
	// Wrapped twice (two metrics sets, or any decorator that is Capable):
	// still every ability.
	caps = store.CapabilitiesOf(newMetrics(t).Store(m.Store(inner)))
	if caps.Prober == nil || caps.Observer == nil || caps.Health == nil {
		t.Fatalf("a probing, observing, healthy store wrapped: %+v, want all three", caps)
	}
	caps.Observer.Observe(store.Record{Task: &messages.Task{Spec: &messages.TaskSpec{Id: "t1"}}})
	if len(inner.observed) != 1 {
		t.Error("Observe did not reach the store")
	}
	if err := caps.Health.Healthy(context.Background()); err == nil || !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Healthy: %v, want the wrapped store's answer", err)
	}
}

func histogramCount(t *testing.T, m *Metrics, family, label, value string) uint64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != family {
			continue
		}
		for _, mt := range mf.GetMetric() {
			for _, lp := range mt.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return mt.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}

func TestHTTPRoutesByPattern(t *testing.T) {
	m := newMetrics(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/tasks/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotFound) })
	mux.HandleFunc("POST /v1/tasks", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("{}")) })
	var refuse bool
	h := m.HTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuse { // answered before routing, as a refused token is
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	for _, path := range []string{"/v1/tasks/a", "/v1/tasks/b", "/v1/tasks/c"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
	}
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/v1/tasks", nil))
	refuse = true
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/secret/path/of/an/attacker", nil))
	for _, c := range []struct {
		route, code string
		want        float64
	}{{"GET /v1/tasks/{id}", "404", 3}, {"POST /v1/tasks", "200", 1}, {"unrouted", "401", 1}} {
		if got := testutil.ToFloat64(m.httpRequests.WithLabelValues(c.route, c.code)); got != c.want {
			t.Errorf("requests{route=%q,code=%s} = %v, want %v", c.route, c.code, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(m.httpRequests); n != 3 {
		t.Errorf("%d request series, want 3 (no raw paths)", n)
	}
}

func TestConsulEndpoints(t *testing.T) {
	for path, want := range map[string]string{
		"/v1/kv/granary/it/tasks/t-123":                   "/v1/kv",
		"/v1/txn":                                         "/v1/txn",
		"/v1/health/service/granary-it":                   "/v1/health/service",
		"/v1/agent/check/pass/service:granary-it-n1:ttl":  "/v1/agent/check",
		"/v1/session/renew/5f2e0b1c-0000-0000-0000-00000": "/v1/session/renew",
		"/v1/status/leader":                               "/v1/status/leader",
		"/v1":                                             "other",
		"/ui/":                                            "other",
	} {
		if got := consulEndpoint(path); got != want {
			t.Errorf("consulEndpoint(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestConsulRoundTrips(t *testing.T) {
	m := newMetrics(t)
	status := 200
	rt := m.Consul(roundTripper(func(*http.Request) (*http.Response, error) {
		if status == 0 {
			return nil, errors.New("connection refused")
		}
		return &http.Response{StatusCode: status}, nil
	}))
	do := func(url string) {
		req, _ := http.NewRequest("GET", url, nil)
		_, _ = rt.RoundTrip(req)
	}
	do("http://127.0.0.1:8500/v1/kv/a")
	do("http://127.0.0.1:8500/v1/kv/b?index=42&wait=30s") // blocking: counted, not timed
	status = 429
	do("http://127.0.0.1:8500/v1/txn")
	status = 0
	do("http://127.0.0.1:8500/v1/txn")
	for _, c := range []struct {
		endpoint, code string
		want           float64
	}{{"/v1/kv", "200", 2}, {"/v1/txn", "429", 1}, {"/v1/txn", "error", 1}} {
		if got := testutil.ToFloat64(m.consulRequests.WithLabelValues(c.endpoint, c.code)); got != c.want {
			t.Errorf("consul{endpoint=%s,code=%s} = %v, want %v", c.endpoint, c.code, got, c.want)
		}
	}
	if got := histogramCount(t, m, "granary_consul_request_duration_seconds", "endpoint", "/v1/kv"); got != 1 {
		t.Errorf("/v1/kv timed %d times, want 1 (the blocking query is not)", got)
	}
}

func TestReadAtScrape(t *testing.T) {
	m := newMetrics(t)
	if n := testutil.CollectAndCount(m.fenced); n != 0 {
		t.Fatalf("fenced without a reader: %d series, want none", n)
	}
	fenced := false
	m.ReadFenced(func() bool { return fenced })
	if got := testutil.ToFloat64(m.fenced); got != 0 {
		t.Errorf("fenced = %v, want 0", got)
	}
	fenced = true
	if got := testutil.ToFloat64(m.fenced); got != 1 {
		t.Errorf("fenced = %v after fencing, want 1: read at scrape time", got)
	}
	m.ReadMembers(func(report func(string, int)) { report("healthy", 2); report("lost", 1) })
	want := `
# HELP granary_members Cluster members as this member sees them, by health (healthy; lost: left the view in the last 15 minutes and not back).
# TYPE granary_members gauge
granary_members{health="healthy"} 2
granary_members{health="lost"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "granary_members"); err != nil {
		t.Error(err)
	}
}

func TestRuntimeCollectors(t *testing.T) {
	m := newMetrics(t)
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, mf := range mfs {
		have[mf.GetName()] = true
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		if !have[name] {
			t.Errorf("%s missing", name)
		}
	}
}

// TestRegistriesAreSeparate: two members in one process have their own
// registries, and neither touches Prometheus' default registry.
func TestRegistriesAreSeparate(t *testing.T) {
	a, b := newMetrics(t), newMetrics(t)
	a.Task("k").Submitted()
	if got := testutil.ToFloat64(b.tasksSubmitted.WithLabelValues("k")); got != 0 {
		t.Errorf("member b counts member a's submit: %v", got)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(*Config){
		"empty":      func(c *Config) { c.CallBuckets = nil },
		"unsorted":   func(c *Config) { c.StoreBuckets = []float64{1, 0.5} },
		"duplicated": func(c *Config) { c.HTTPBuckets = []float64{1, 1} },
	} {
		c := DefaultConfig()
		edit(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: Validate = %v, want ErrInvalidConfig", name, err)
		}
	}
}
