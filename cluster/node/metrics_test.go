package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/cluster/httpapi"
	"github.com/granary-rt/granary/internal/testcluster"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// scrape reads GET /metrics of the node at httpAddr as Prometheus would,
// parsing the exposition format.
func scrape(t *testing.T, httpAddr, token string) (int, map[string]*dto.MetricFamily) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+httpAddr+"/metrics", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("GET /metrics is not in Prometheus' text format: %v", err)
	}
	return resp.StatusCode, mfs
}

// value is the sum of the series of family whose labels include want
// (a histogram's sample count); found is false if none matched.
func value(mfs map[string]*dto.MetricFamily, family string, want map[string]string) (v float64, found bool) {
	mf := mfs[family]
	if mf == nil {
		return 0, false
	}
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		match := true
		for k, val := range want {
			if labels[k] != val {
				match = false
			}
		}
		if !match {
			continue
		}
		found = true
		switch {
		case m.Counter != nil:
			v += m.GetCounter().GetValue()
		case m.Gauge != nil:
			v += m.GetGauge().GetValue()
		case m.Histogram != nil:
			v += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return v, found
}

type expect struct {
	family string
	labels map[string]string
	check  func(float64) bool
	what   string
}

func atLeast(n float64) func(float64) bool { return func(v float64) bool { return v >= n } }
func exactly(n float64) func(float64) bool { return func(v float64) bool { return v == n } }

// checkAll scrapes until every expectation holds (an attempt's end is
// counted as its actor finishes, which may be just after a waiter hears of
// the commit), for up to 10s, and fails with those that never did. It
// returns the last scrape.
func checkAll(t *testing.T, scrapeNow func() map[string]*dto.MetricFamily, want []expect) map[string]*dto.MetricFamily {
	t.Helper()
	var mfs map[string]*dto.MetricFamily
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		mfs = scrapeNow()
		var failed []string
		for _, e := range want {
			v, found := value(mfs, e.family, e.labels)
			if !found || !e.check(v) {
				failed = append(failed, fmt.Sprintf("%s%v = %v (found %v), want %s", e.family, e.labels, v, found, e.what))
			}
		}
		return len(failed) == 0, strings.Join(failed, "; ")
	})
	return mfs
}

// TestMetricsEndpoint: a node with tokens serves /metrics to a read token
// (not without one); after a task, a failing task and a grain call every
// family of the node's paths is there, with values that match, and no
// label carries a task id, grain identity or raw path. With tracing on too:
// its middleware serves a copy of each request, and the route must still
// reach the metrics.
func TestMetricsEndpoint(t *testing.T) {
	t.Run("tracing_off", func(t *testing.T) { testMetricsEndpoint(t, nil) })
	t.Run("tracing_on", func(t *testing.T) {
		tp := sdktrace.NewTracerProvider()
		t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		testMetricsEndpoint(t, tp)
	})
}

func testMetricsEndpoint(t *testing.T, tp trace.TracerProvider) {
	cfg := embedded(t)
	cfg.TracerProvider = tp
	tokens, err := httpapi.NewTokens([]string{readToken}, []string{writeToken})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Tokens = tokens
	n := start(t, cfg)
	if n.Metrics() == nil {
		t.Fatal("metrics are off in DefaultConfig")
	}
	ctx := testutil.Context(t, 30*time.Second)
	c := n.Client()
	for id, tiles := range map[string]int{"task-id-ok": 3, "task-id-bad": -1} {
		st, err := c.Submit(ctx, api.SubmitRequest{ID: id, Kind: "resize", Payload: json.RawMessage(fmt.Sprint(`{"tiles":`, tiles, `}`))})
		if err == nil {
			_, err = c.Wait(ctx, st.ID, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := client.CallTyped[struct{}, whereOut](ctx, c, "where", "grain-identity-x", struct{}{}); err != nil {
		t.Fatal(err)
	}
	if code, _ := scrape(t, n.HTTPAddr(), ""); code != http.StatusUnauthorized {
		t.Fatalf("GET /metrics without a token: %d, want 401", code)
	}
	resize, where := map[string]string{"kind": "resize"}, map[string]string{"kind": "where"}
	mfs := checkAll(t, func() map[string]*dto.MetricFamily {
		code, mfs := scrape(t, n.HTTPAddr(), readToken)
		if code != http.StatusOK {
			t.Fatalf("GET /metrics with a read token: %d, want 200", code)
		}
		return mfs
	}, []expect{
		{"granary_tasks_submitted_total", resize, exactly(2), "2 (two tasks submitted)"},
		{"granary_task_attempts_started_total", resize, exactly(2), "2"},
		{"granary_task_attempts_finished_total", map[string]string{"kind": "resize", "outcome": "succeeded"}, exactly(1), "1"},
		{"granary_task_attempts_finished_total", map[string]string{"kind": "resize", "outcome": "error"}, exactly(1), "1 (a permanent error)"},
		{"granary_task_attempt_duration_seconds", resize, exactly(2), "2 samples"},
		{"granary_supervisor_decisions_total", map[string]string{"cause": "error"}, exactly(1), "1 decision"},
		{"granary_tasks_owned", map[string]string{"state": "running"}, exactly(0), "0: both tasks finished"},
		{"granary_grain_calls_total", map[string]string{"kind": "where", "code": "ok"}, exactly(1), "1"},
		{"granary_grain_call_duration_seconds", where, exactly(1), "1 sample"},
		{"granary_grain_activations", where, exactly(1), "1 activation"},
		{"granary_members", map[string]string{"health": "healthy"}, exactly(1), "1: a cluster of one"},
		{"granary_member_fenced", nil, exactly(0), "0"},
		{"granary_store_operations_total", map[string]string{"code": "ok"}, atLeast(2), "a write per task at least"},
		{"granary_store_operation_duration_seconds", nil, atLeast(2), "timed"},
		{"granary_http_requests_total", map[string]string{"route": "POST /v1/tasks"}, exactly(2), "2 submits"},
		{"granary_http_requests_total", map[string]string{"route": "POST /v1/grains/{kind}/{id}", "code": "200"}, exactly(1), "1 call"},
		{"granary_http_requests_total", map[string]string{"route": "unrouted", "code": "401"}, exactly(1), "1 refused scrape"},
		{"granary_http_request_duration_seconds", map[string]string{"route": "GET /v1/tasks/{id}"}, atLeast(2), "the waits"},
		{"go_goroutines", nil, atLeast(1), "the Go collector"},
		{"process_cpu_seconds_total", nil, atLeast(0), "the process collector"},
	})
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v := lp.GetValue(); strings.Contains(v, "task-id") || strings.Contains(v, "grain-identity") || strings.Contains(v, "/metrics") {
					t.Errorf("%s has a label of unbounded cardinality: %s=%q", name, lp.GetName(), v)
				}
			}
		}
	}
}

// TestMetricsOff: with Config.Metrics false the node has no instruments
// and /metrics is not a route.
func TestMetricsOff(t *testing.T) {
	cfg := embedded(t)
	cfg.Metrics = false
	n := start(t, cfg)
	if n.Metrics() != nil {
		t.Fatal("metrics off, but the node has instruments")
	}
	if code, _ := scrape(t, n.HTTPAddr(), ""); code != http.StatusNotFound {
		t.Fatalf("GET /metrics with metrics off: %d, want 404", code)
	}
}

// TestMetricsCluster: a member of a cluster counts its Consul round trips
// and reports the members it sees and that it is not fenced.
func TestMetricsCluster(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	nodes := testcluster.Start(t, agent.HTTPAddr(), appKinds(t), 2, nil)
	ctx := testutil.Context(t, 30*time.Second)
	c := nodes[0].Client()
	for i := range 6 {
		st, err := c.Submit(ctx, api.SubmitRequest{ID: fmt.Sprintf("t%d", i), Kind: "resize", Payload: json.RawMessage(`{"tiles":1}`)})
		if err == nil {
			_, err = c.Wait(ctx, st.ID, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		_, mfs := scrape(t, nodes[0].HTTPAddr(), "")
		healthy, _ := value(mfs, "granary_members", map[string]string{"health": "healthy"})
		return healthy == 2, fmt.Sprintf("granary_members{health=healthy} = %v, want 2", healthy)
	})
	checkAll(t, func() map[string]*dto.MetricFamily {
		_, mfs := scrape(t, nodes[0].HTTPAddr(), "")
		return mfs
	}, []expect{
		{"granary_member_fenced", nil, exactly(0), "0"},
		{"granary_consul_requests_total", map[string]string{"endpoint": "/v1/health/service"}, atLeast(1), "the view's watch"},
		{"granary_consul_requests_total", map[string]string{"endpoint": "/v1/agent/check"}, atLeast(1), "lease renewals"},
		{"granary_consul_request_duration_seconds", nil, atLeast(1), "timed"},
		{"granary_tasks_submitted_total", map[string]string{"kind": "resize"}, exactly(6), "6"},
		{"granary_store_operations_total", nil, atLeast(1), "store operations"},
	})
	if err := nodes[1].Stop(ctx); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		_, mfs := scrape(t, nodes[0].HTTPAddr(), "")
		lost, _ := value(mfs, "granary_members", map[string]string{"health": "lost"})
		healthy, _ := value(mfs, "granary_members", map[string]string{"health": "healthy"})
		return lost == 1 && healthy == 1, fmt.Sprintf("members healthy %v, lost %v; want 1 and 1", healthy, lost)
	})
}
