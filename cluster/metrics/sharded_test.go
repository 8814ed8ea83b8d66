package metrics

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// counterValue is the value of family's series with labels, 0 if absent.
func counterValue(t *testing.T, m *Metrics, family string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != family {
			continue
		}
	series:
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue series
				}
			}
			return s.GetCounter().GetValue()
		}
	}
	return 0
}

// scrape is reg's text exposition of the grain call families.
func scrape(t *testing.T, reg prometheus.Gatherer) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, mf := range mfs {
		if n := mf.GetName(); n != "granary_grain_calls_total" && n != "granary_grain_call_duration_seconds" {
			continue
		}
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// reference is what the sharded families replace: client_golang's
// CounterVec and HistogramVec with the same names, help, labels and
// buckets, children made as Metrics.Grain made them.
type reference struct {
	reg      *prometheus.Registry
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newReference(cfg Config) *reference {
	r := &reference{
		reg: prometheus.NewRegistry(),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "granary_grain_calls_total",
			Help: "Grain calls made through this member, by kind and outcome code."}, []string{"kind", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "granary_grain_call_duration_seconds",
			Help: "Latency of grain calls made through this member, retries included.", Buckets: cfg.CallBuckets}, []string{"kind"}),
	}
	r.reg.MustRegister(r.calls, r.duration)
	return r
}

func (r *reference) grain(kind string) {
	r.duration.WithLabelValues(kind)
	for c := range numCallCodes {
		r.calls.WithLabelValues(kind, c.String())
	}
}

func (r *reference) call(kind string, code CallCode, took time.Duration) {
	if code >= numCallCodes {
		code = CallError
	}
	r.calls.WithLabelValues(kind, code.String()).Inc()
	r.duration.WithLabelValues(kind).Observe(took.Seconds())
}

// TestGrainCallExpositionMatchesClientGolang: the sharded grain call
// families scrape to the same text as client_golang's CounterVec and
// HistogramVec fed the same calls, from several goroutines, including
// durations on bucket bounds, below the first and above the last, and a
// kind made but never called. Durations are whole microseconds, whose
// sums in seconds add up alike in any order only approximately, so the
// test uses multiples of 2^-20 s (exact in float64) for the sum.
func TestGrainCallExpositionMatchesClientGolang(t *testing.T) {
	cfg := DefaultConfig()
	m := newMetrics(t)
	ref := newReference(cfg)
	m.Grain("idle")
	ref.grain("idle")
	var durations []time.Duration
	for _, b := range cfg.CallBuckets {
		durations = append(durations, time.Duration(b*float64(time.Second))) // on the bound
	}
	durations = append(durations, 0, time.Hour, time.Nanosecond)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		durations = append(durations, time.Duration(rng.Int64N(int64(10*time.Second))))
	}
	kinds := []string{"counter", "echo"}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, d := range durations {
				kind := kinds[(i+w)%len(kinds)]
				code := CallCode((i * 7 / (w + 1)) % (int(numCallCodes) + 2)) // out of range ones too
				m.Grain(kind).Call(code, d)
			}
		}()
	}
	wg.Wait()
	for w := range 4 {
		for i, d := range durations {
			ref.call(kinds[(i+w)%len(kinds)], CallCode((i*7/(w+1))%(int(numCallCodes)+2)), d)
		}
	}
	got, want := scrape(t, m.Registry()), scrape(t, ref.reg)
	// The sums may differ in their last bits (float addition in another
	// order; TestGrainCallExactSum compares them exactly); everything else
	// must be the same, line for line.
	gotLines, wantLines := strings.Split(got, "\n"), strings.Split(want, "\n")
	if len(gotLines) != len(wantLines) {
		t.Fatalf("%d lines, want %d:\n%s\nwant:\n%s", len(gotLines), len(wantLines), got, want)
	}
	for i, g := range gotLines {
		w := wantLines[i]
		if g == w {
			continue
		}
		gf, wf := strings.Fields(g), strings.Fields(w)
		if strings.Contains(g, "_sum{") && len(gf) == 2 && len(wf) == 2 && gf[0] == wf[0] {
			gv, err1 := strconv.ParseFloat(gf[1], 64)
			wv, err2 := strconv.ParseFloat(wf[1], 64)
			if err1 == nil && err2 == nil && math.Abs(gv-wv) <= 1e-9*math.Abs(wv) {
				continue
			}
		}
		t.Errorf("line %d: %q, want %q", i, g, w)
	}
	if !strings.Contains(got, `granary_grain_call_duration_seconds_count{kind="idle"} 0`) {
		t.Errorf("a kind made but not called has no zero series:\n%s", got)
	}
}

// TestGrainCallExactSum: with durations whose seconds and their sums are
// exact in float64 (multiples of 1/512 s), the sharded scrape and
// client_golang's are the same bytes, _sum included.
func TestGrainCallExactSum(t *testing.T) {
	m := newMetrics(t)
	ref := newReference(DefaultConfig())
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				m.Grain("counter").Call(CallCode(i%int(numCallCodes)), exactDuration(w, i))
			}
		}()
	}
	wg.Wait()
	for w := range 8 {
		for i := range 500 {
			ref.call("counter", CallCode(i%int(numCallCodes)), exactDuration(w, i))
		}
	}
	if got, want := scrape(t, m.Registry()), scrape(t, ref.reg); got != want {
		t.Errorf("scrape:\n%s\nwant:\n%s", got, want)
	} // The protobuf exposition carries created timestamps, as
	// client_golang's counters and histograms do.
	for _, reg := range []prometheus.Gatherer{m.Registry(), ref.reg} {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if !strings.HasPrefix(mf.GetName(), "granary_grain_call") {
				continue
			}
			for _, s := range mf.GetMetric() {
				if s.GetCounter().GetCreatedTimestamp() == nil && s.GetHistogram().GetCreatedTimestamp() == nil {
					t.Errorf("%s %v: no created timestamp", mf.GetName(), s.GetLabel())
				}
			}
		}
	}
}

// exactDuration is a multiple of 1/512 s (1953125 ns), up to 8 s.
func exactDuration(w, i int) time.Duration {
	return time.Duration((w*500+i)%4096) * 1953125 * time.Nanosecond
}

// TestGrainCallRecordsConcurrently: records from many goroutines while
// scrapes run (go test -race) are all counted.
func TestGrainCallRecordsConcurrently(t *testing.T) {
	m := newMetrics(t)
	const goroutines, calls = 16, 1000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	scraped := make(chan struct{})
	go func() {
		defer close(scraped)
		for {
			select {
			case <-stop:
				return
			default:
				if _, err := m.Registry().Gather(); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				m.Grain("counter").Call(CallOK, time.Duration(i)*time.Microsecond)
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-scraped
	if got := counterValue(t, m, "granary_grain_calls_total", map[string]string{"kind": "counter", "code": "ok"}); got != goroutines*calls {
		t.Errorf("calls{ok} = %v, want %d", got, goroutines*calls)
	}
	if got := histogramCount(t, m, "granary_grain_call_duration_seconds", "kind", "counter"); got != goroutines*calls {
		t.Errorf("duration count = %d, want %d", got, goroutines*calls)
	}
}

// TestGrainCallAllocatesNothing: a record allocates nothing.
func TestGrainCallAllocatesNothing(t *testing.T) {
	m := newMetrics(t)
	k := m.Grain("counter")
	if n := testing.AllocsPerRun(1000, func() { k.Call(CallOK, time.Millisecond) }); n != 0 {
		t.Errorf("Call allocates %v times per record, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() { m.Grain("counter").Call(CallOK, time.Millisecond) }); n != 0 {
		t.Errorf("Grain(kind).Call allocates %v times per record, want 0", n)
	}
}

// TestGrainCallScrapeIsConsistent: a scrape while calls are recorded
// sees _sum, _count and the buckets hold the same calls, as
// client_golang's histogram guarantees: every call takes 1/512 s (exact
// in float64), so _sum must be _count/512 in every scrape.
func TestGrainCallScrapeIsConsistent(t *testing.T) {
	m := newMetrics(t)
	k := m.Grain("counter")
	const took = 1953125 * time.Nanosecond // 1/512 s
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					k.Call(CallOK, took)
				}
			}
		}()
	}
	t.Cleanup(func() { close(stop); wg.Wait() })
	deadline := time.Now().Add(time.Second)
	scrapes, busy := 0, 0
	for time.Now().Before(deadline) {
		mfs, err := m.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "granary_grain_call_duration_seconds" {
				continue
			}
			h := mf.GetMetric()[0].GetHistogram()
			if h.GetSampleCount() > 0 {
				busy++
			}
			if want := float64(h.GetSampleCount()) / 512; h.GetSampleSum() != want {
				t.Fatalf("scrape %d: _sum %v, want _count %d / 512 = %v", scrapes, h.GetSampleSum(), h.GetSampleCount(), want)
			}
			bs := h.GetBucket()
			if last := bs[len(bs)-1].GetCumulativeCount(); last > h.GetSampleCount() {
				t.Fatalf("scrape %d: last bucket %d > _count %d", scrapes, last, h.GetSampleCount())
			}
		}
		scrapes++
	}
	if busy == 0 {
		t.Fatal("no scrape saw a call")
	}
}

// TestShardReadWaitsForAPreemptedRecord: a record stopped between its
// bucket and its done (its thread descheduled by the OS for 100 ms on a
// loaded machine) keeps its shard inconsistent however often a scrape
// rereads it meanwhile. The scrape waits for it (up to rereadFor), so
// _count, the buckets and _sum agree; a bound in tries (10,000 yields,
// a few milliseconds) returned the shard half recorded.
func TestShardReadWaitsForAPreemptedRecord(t *testing.T) {
	const codes, buckets = 1, 3
	s := newShardedSeries("x", codes, buckets)
	sh := s.shards[0]
	// A record of 0.5 s in bucket 1, stopped before its sum and done.
	sh.v[0].Add(1)
	sh.v[codes+1].Add(1)
	go func() {
		time.Sleep(100 * time.Millisecond) // the preemption being modelled, not a wait for a condition
		sh.v[codes+buckets].Store(math.Float64bits(0.5))
		sh.v[codes+buckets+1].Add(1)
	}()
	counts, local := make([]uint64, codes+buckets), make([]uint64, codes+buckets)
	sum := s.read(sh, codes, buckets, counts, local)
	if counts[codes+1] != 1 || sum != 0.5 {
		t.Fatalf("read a shard with a record in flight: bucket %d, sum %v; want the whole record (1, 0.5)", counts[codes+1], sum)
	}
}
