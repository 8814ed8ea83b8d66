package metrics

import (
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// A shardedSeries is one label value's counters (one per code) and
// histogram, as a CounterVec's and a HistogramVec's children would be,
// split into shards so that cores recording at once add to different
// cache lines: client_golang's histogram makes every core add to the
// same count, bucket and sum words, and under load those adds are most
// of a record's cost. A record picks the shard of the P it runs on (see
// shardHint); a scrape adds the shards up (shardedFamily.Collect).
//
// A scrape reads each shard while records go on, and rereads it until
// it saw no record half done (shardedSeries.read), so that _count, the
// buckets and _sum agree, as client_golang's histogram guarantees.
type shardedSeries struct {
	label   string
	created time.Time
	shards  []seriesShard
}

// seriesShard is one shard: codes counters, then one count per bucket
// (the last is +Inf), then the float64 bits of the sum, then the count of
// observations done (bucket and sum both added), padded to whole cache
// lines so that two shards never share one.
type seriesShard struct {
	v []atomic.Uint64
}

// cacheLine is the padding unit, in uint64 words (128 bytes: two 64-byte
// lines, as adjacent-line prefetchers pull pairs).
const cacheLine = 16

// numShards is the shards per series: GOMAXPROCS at start, rounded up to
// a power of two, at most 64 (more Ps share shards, which is correct
// and only costs contention).
var numShards = func() int {
	n := 1
	for n < runtime.GOMAXPROCS(0) && n < 64 {
		n *= 2
	}
	return n
}()

// shardHints hands out shard indexes through a sync.Pool, whose Get
// returns the current P's private item first: a goroutine takes its P's
// index and puts it back, so each P keeps to one shard without
// linkname. After a GC empties the pool, New hands out indexes round
// robin from hints, without allocating.
var (
	hints = func() []uint32 {
		h := make([]uint32, numShards)
		for i := range h {
			h[i] = uint32(i)
		}
		return h
	}()
	nextHint  atomic.Uint32
	shardPool = sync.Pool{New: func() any { return &hints[nextHint.Add(1)%uint32(numShards)] }}
)

func newShardedSeries(label string, codes, buckets int) *shardedSeries {
	words := (codes + buckets + 2 + cacheLine - 1) / cacheLine * cacheLine // +2: sum, done
	s := &shardedSeries{label: label, created: time.Now(), shards: make([]seriesShard, numShards)}
	for i := range s.shards {
		// Each shard its own allocation of whole cache lines, plus one
		// line of padding: the allocator may place them side by side.
		s.shards[i].v = make([]atomic.Uint64, words+cacheLine)[:words]
	}
	return s
}

// record adds one to counter code and observes v (seconds) in bucket
// (the index of v's bucket among buckets, the last +Inf).
func (s *shardedSeries) record(code, codes, buckets, bucket int, v float64) {
	h := shardPool.Get().(*uint32)
	sh := s.shards[*h].v
	shardPool.Put(h)
	sh[code].Add(1)
	sh[codes+bucket].Add(1)
	sum := &sh[codes+buckets]
	for {
		old := sum.Load()
		if sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			break
		}
	}
	sh[codes+buckets+1].Add(1) // done
}

// rereadFor bounds read's retries on a shard that records keep busy;
// after it, read returns what it read, consistent or not. The bound is in
// time, not in tries: a record preempted between its bucket and its done
// (its thread descheduled by the OS on a loaded machine) keeps the shard
// inconsistent until it runs again, however often read tries meanwhile —
// 100 and then 10,000 quick tries ran out on a loaded 2-core CI machine,
// and the scrape's _sum lagged its _count. A scrape is rare; a second of
// waiting in that case is cheap.
const rereadFor = 2 * time.Second

// rereadSpins is how many rereads yield (runtime.Gosched) before the next
// ones sleep a little, so a long wait does not spin a core.
const rereadSpins = 100

// read adds shard sh into counts (codes counters, then buckets) and
// returns its sum, rereading until the buckets' total equals the
// observations done before it began. A record adds its bucket, then its
// sum, then done, and read loads done, then the sum, then the buckets:
// every observation done is in the buckets read, and every one in the
// sum read too, so when the totals agree the buckets, _count and _sum
// hold the same observations. local is scratch of len(counts).
func (s *shardedSeries) read(sh seriesShard, codes, buckets int, counts, local []uint64) float64 {
	var sum float64
	var giveUp time.Time
	for try := 0; ; try++ {
		done := sh.v[codes+buckets+1].Load()
		sum = math.Float64frombits(sh.v[codes+buckets].Load())
		var total uint64
		for i := codes; i < codes+buckets; i++ {
			local[i] = sh.v[i].Load()
			total += local[i]
		}
		if total == done {
			break
		}
		if try < rereadSpins {
			runtime.Gosched()
			continue
		}
		if giveUp.IsZero() {
			giveUp = time.Now().Add(rereadFor)
		} else if time.Now().After(giveUp) {
			break
		}
		time.Sleep(20 * time.Microsecond)
	}
	for i := range codes { // after the buckets: may count a call not yet in them
		local[i] = sh.v[i].Load()
	}
	for i, n := range local {
		counts[i] += n
	}
	return sum
}

// shardedFamily is a counter family with labels (label, code) and a
// histogram family with label (label), whose series are shardedSeries,
// exposed as client_golang's const metrics: the exposition is
// client_golang's, with the names, help, labels and buckets the
// CounterVec and HistogramVec it replaces had.
type shardedFamily struct {
	counter, histogram *prometheus.Desc
	codeNames          []string
	upper              []float64 // bucket upper bounds, +Inf excluded

	mu     sync.Mutex
	series []*shardedSeries // in creation order; only appended
}

func newShardedFamily(counterName, counterHelp, histName, histHelp, label string, codeNames []string, upper []float64) *shardedFamily {
	return &shardedFamily{
		counter:   prometheus.NewDesc(counterName, counterHelp, []string{label, "code"}, nil),
		histogram: prometheus.NewDesc(histName, histHelp, []string{label}, nil),
		codeNames: codeNames,
		upper:     slices.Clone(upper),
	}
}

// add returns a new series for label, collected from now on. Callers
// cache it (one per label value).
func (f *shardedFamily) add(label string) *shardedSeries {
	s := newShardedSeries(label, len(f.codeNames), len(f.upper)+1)
	f.mu.Lock()
	f.series = append(f.series, s)
	f.mu.Unlock()
	return s
}

// bucket is v's bucket index, as client_golang finds it (the first
// upper bound ≥ v; len(upper) for +Inf).
func (f *shardedFamily) bucket(v float64) int {
	if len(f.upper) < 35 { // client_golang's linear-search threshold
		for i, u := range f.upper {
			if v <= u {
				return i
			}
		}
		return len(f.upper)
	}
	i, _ := slices.BinarySearch(f.upper, v)
	return i
}

// observe records code and v on s.
func (f *shardedFamily) observe(s *shardedSeries, code int, v float64) {
	s.record(code, len(f.codeNames), len(f.upper)+1, f.bucket(v), v)
}

// Describe implements prometheus.Collector.
func (f *shardedFamily) Describe(ch chan<- *prometheus.Desc) {
	ch <- f.counter
	ch <- f.histogram
}

// Collect implements prometheus.Collector.
func (f *shardedFamily) Collect(ch chan<- prometheus.Metric) {
	f.mu.Lock()
	series := slices.Clone(f.series)
	f.mu.Unlock()
	codes, nb := len(f.codeNames), len(f.upper)+1
	counts, local := make([]uint64, codes+nb), make([]uint64, codes+nb)
	for _, s := range series {
		clear(counts)
		var sum float64
		for _, sh := range s.shards {
			sum += s.read(sh, codes, nb, counts, local)
		}
		for c, name := range f.codeNames {
			ch <- prometheus.MustNewConstMetricWithCreatedTimestamp(f.counter, prometheus.CounterValue, float64(counts[c]), s.created, s.label, name)
		}
		var total uint64
		buckets := make(map[float64]uint64, len(f.upper))
		for i, u := range f.upper {
			total += counts[codes+i]
			buckets[u] = total
		}
		total += counts[codes+nb-1]
		ch <- prometheus.MustNewConstHistogramWithCreatedTimestamp(f.histogram, total, sum, buckets, s.created, s.label)
	}
}
