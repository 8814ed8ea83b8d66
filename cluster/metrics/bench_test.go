package metrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/granary-rt/granary/supervisor"
)

// The cost of each hot-path record, with metrics on; `go test -bench .
// ./cluster/metrics`. Off, each is a nil check.

func BenchmarkTaskAttempt(b *testing.B) {
	k := New(DefaultConfig()).Task("resize")
	b.ReportAllocs()
	for b.Loop() {
		k.AttemptStarted()
		k.AttemptSucceeded(time.Millisecond)
	}
}

func BenchmarkTaskFailed(b *testing.B) {
	m := New(DefaultConfig())
	k := m.Task("resize")
	b.ReportAllocs()
	for b.Loop() {
		k.AttemptFailed(supervisor.CauseError, time.Millisecond)
		m.Decision(supervisor.CauseError, supervisor.Restart)
	}
}

func BenchmarkGrainCall(b *testing.B) {
	m := New(DefaultConfig())
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		m.Grain("counter").Call(CallOK, time.Since(start))
	}
}

// BenchmarkGrainCallParallel is BenchmarkGrainCall from 16 goroutines per
// core, as a busy member records them: the kind's series is shared, so
// its atomic adds would contend between cores were it not sharded per P.
func BenchmarkGrainCallParallel(b *testing.B) {
	m := New(DefaultConfig())
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			start := time.Now()
			m.Grain("counter").Call(CallOK, time.Since(start))
		}
	})
}

func BenchmarkStoreGet(b *testing.B) {
	st := New(DefaultConfig()).Store(&fakeStore{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = st.Get(ctx, "t1")
	}
}

func BenchmarkConsulRoundTrip(b *testing.B) {
	ok := &http.Response{StatusCode: 200}
	rt := New(DefaultConfig()).Consul(roundTripper(func(*http.Request) (*http.Response, error) { return ok, nil }))
	req := httptest.NewRequest("PUT", "http://127.0.0.1:8500/v1/txn", nil)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = rt.RoundTrip(req)
	}
}

func BenchmarkHTTPRequest(b *testing.B) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/tasks/{id}", func(http.ResponseWriter, *http.Request) {})
	h := New(DefaultConfig()).HTTP(mux)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, httptest.NewRequest("GET", "/v1/tasks/t1", nil))
	}
}

func BenchmarkHTTPRequestOff(b *testing.B) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/tasks/{id}", func(http.ResponseWriter, *http.Request) {})
	var m *Metrics
	h := m.HTTP(mux)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, httptest.NewRequest("GET", "/v1/tasks/t1", nil))
	}
}
