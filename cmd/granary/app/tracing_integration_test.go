package app

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testnode"
	"github.com/granary-rt/granary/internal/testutil"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpSpan is a span as an OTLP collector receives it.
type otlpSpan struct {
	trace, id, parent string
	name, instance    string // service.instance.id: the member
	service           string
	attrs             map[string]string
}

// collector is a minimal OTLP/HTTP collector for granary processes to
// export to (OTEL_EXPORTER_OTLP_ENDPOINT).
type collector struct {
	mu    sync.Mutex
	spans []otlpSpan
}

func newCollector(t *testing.T) (*collector, string) {
	c := &collector{}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return c, srv.URL
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := &coltrace.ExportTraceServiceRequest{}
	if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, req) != nil {
		http.Error(w, "not an OTLP trace export", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	for _, rs := range req.GetResourceSpans() {
		res := map[string]string{}
		for _, kv := range rs.GetResource().GetAttributes() {
			res[kv.GetKey()] = kv.GetValue().GetStringValue()
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				attrs := map[string]string{}
				for _, kv := range s.GetAttributes() {
					v := kv.GetValue().GetStringValue()
					if v == "" {
						v = fmt.Sprint(kv.GetValue().GetIntValue())
					}
					attrs[kv.GetKey()] = v
				}
				c.spans = append(c.spans, otlpSpan{trace: hex.EncodeToString(s.GetTraceId()), id: hex.EncodeToString(s.GetSpanId()),
					parent: hex.EncodeToString(s.GetParentSpanId()), name: s.GetName(), instance: res["service.instance.id"],
					service: res["service.name"], attrs: attrs})
			}
		}
	}
	c.mu.Unlock()
	out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// find returns the spans of trace tid named name on member instance ("":
// any) whose attributes include attrs (key=value).
func (c *collector) find(tid, name, instance string, attrs ...string) []otlpSpan {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []otlpSpan
next:
	for _, s := range c.spans {
		if s.trace != tid || s.name != name || (instance != "" && s.instance != instance) {
			continue
		}
		for _, a := range attrs {
			k, v, _ := strings.Cut(a, "=")
			if s.attrs[k] != v {
				continue next
			}
		}
		out = append(out, s)
	}
	return out
}

func (c *collector) dump(tid string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for _, s := range c.spans {
		if s.trace == tid {
			fmt.Fprintf(&b, "\n  %s on %s: %s parent %s %v", s.name, s.instance, s.id, s.parent, s.attrs)
		}
	}
	return b.String()
}

// one is the single span find finds, or why not.
func (c *collector) one(tid, name, instance string, attrs ...string) (otlpSpan, string) {
	got := c.find(tid, name, instance, attrs...)
	if len(got) != 1 {
		return otlpSpan{}, fmt.Sprintf("%d spans %s on %q %v, want 1%s", len(got), name, instance, attrs, c.dump(tid))
	}
	return got[0], ""
}

// traceEnv points the granary processes started after it at col, with a
// batch delay of delay.
func traceEnv(t *testing.T, url string, delay time.Duration) {
	for _, k := range []string{"OTEL_TRACES_EXPORTER", "OTEL_SDK_DISABLED", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_SAMPLER", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"} {
		t.Setenv(k, "")
	}
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", fmt.Sprint(delay.Milliseconds()))
}

// testRoot starts the test's own span: the client's, whose traceparent
// the Go client sends.
func testRoot(ctx context.Context, name string) (context.Context, trace.Span, string) {
	ctx, span := sdktrace.NewTracerProvider().Tracer("test").Start(ctx, name)
	return ctx, span, span.SpanContext().TraceID().String()
}

// TestTracesAcrossProcesses: granary processes configured only by OTEL_*
// variables export over OTLP/HTTP; a grain call crosses members over
// gRPC remoting in one trace, and a task whose owner is killed (-9) while
// it runs continues its submit's trace on the member that adopts it.
func TestTracesAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Consul and granary processes")
	}
	col, url := newCollector(t)
	traceEnv(t, url, 100*time.Millisecond) // spans leave a member within 100ms of ending
	agent := testconsul.Start(t, testconsul.Options{})
	nodes := startCluster(t, 2, agent.HTTPAddr(), nil)
	ctx := testutil.Context(t, 2*time.Minute)

	t.Run("grain call", func(t *testing.T) {
		for i := 0; i < 64; i++ {
			cctx, root, tid := testRoot(ctx, "test.call")
			w, err := whoami(cctx, nodes[0].Client(), fmt.Sprintf("traced-%d", i))
			root.End()
			if err != nil {
				t.Fatal(err)
			}
			if w.Member != nodes[1].ID {
				continue
			}
			testutil.Eventually(t, 10*time.Second, func() (bool, string) {
				httpSpan, why := col.one(tid, "POST /v1/grains/{kind}/{id}", nodes[0].ID)
				if why != "" {
					return false, why
				}
				if httpSpan.parent != root.SpanContext().SpanID().String() || httpSpan.service != "granary" {
					return false, "the HTTP span is not the client's child of service granary" + col.dump(tid)
				}
				route, why := col.one(tid, "grain.route", nodes[0].ID, "granary.grain.target_member="+nodes[1].ID)
				if why != "" {
					return false, why
				}
				receive, why := col.one(tid, "grain.receive", nodes[1].ID)
				if why != "" {
					return false, why
				}
				return receive.parent == route.id, "the receive is not the route's child" + col.dump(tid)
			})
			return
		}
		t.Fatal("64 identities all placed on the caller")
	})

	t.Run("task after kill -9", func(t *testing.T) {
		cctx, root, tid := testRoot(ctx, "test.submit")
		st, err := nodes[0].Client().Submit(cctx, api.SubmitRequest{ID: "traced-kill", Kind: "sleep", Payload: json.RawMessage(`{"ms":3000}`)})
		root.End()
		if err != nil {
			t.Fatal(err)
		}
		var submit otlpSpan
		testutil.Eventually(t, 10*time.Second, func() (bool, string) { // exported before the kill
			var why string
			submit, why = col.one(tid, "task.submit", "", "granary.task.id=traced-kill")
			return why == "", why
		})
		owner, survivor := nodes[0], nodes[1]
		if st.Owner == nodes[1].ID {
			owner, survivor = nodes[1], nodes[0]
		}
		owner.Kill()
		final, err := survivor.Client().Wait(ctx, st.ID, nil)
		if err != nil || final.State != api.StateCompleted || final.Owner != survivor.ID {
			t.Fatalf("task %+v, %v; want completed on %s", final, err, survivor.ID)
		}
		testutil.Eventually(t, 10*time.Second, func() (bool, string) {
			adopt, why := col.one(tid, "task.adopt", survivor.ID, "granary.task.previous_owner="+owner.ID)
			if why != "" {
				return false, why
			}
			attempt, why := col.one(tid, "task.attempt", survivor.ID, "granary.task.attempt=2", "granary.task.outcome=completed")
			if why != "" {
				return false, why
			}
			commit, why := col.one(tid, "task.commit", survivor.ID)
			if why != "" {
				return false, why
			}
			if adopt.parent != submit.id || attempt.parent != submit.id || commit.parent != attempt.id {
				return false, "wrong parents" + col.dump(tid)
			}
			return true, ""
		})
	})
}

// TestTracesFlushedOnStop: spans still queued when a node stops (here
// every span: the batch delay is ten minutes) are exported by its stop.
func TestTracesFlushedOnStop(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts granary processes")
	}
	col, url := newCollector(t)
	traceEnv(t, url, 10*time.Minute)
	n := testnode.Dev(t)
	ctx := testutil.Context(t, time.Minute)
	cctx, root, tid := testRoot(ctx, "test.submit")
	st, err := n.Client().SubmitAndWait(cctx, api.SubmitRequest{ID: "flushed", Kind: "wordcount", Payload: json.RawMessage(`{"text":"a b"}`)}, nil)
	root.End()
	if err != nil || st.State != api.StateCompleted {
		t.Fatalf("task %+v, %v", st, err)
	}
	if got := col.find(tid, "task.commit", ""); len(got) != 0 {
		t.Fatal("spans exported before the stop: the test cannot tell the flush from the batch timer")
	}
	n.Stop(15 * time.Second)
	for _, name := range []string{"POST /v1/tasks", "task.submit", "task.attempt", "task.commit"} {
		if _, why := col.one(tid, name, ""); why != "" {
			t.Error(why)
		}
	}
}
