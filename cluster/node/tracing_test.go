package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/node"
	"github.com/granary-rt/granary/examples/kinds"
	"github.com/granary-rt/granary/internal/testcluster"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testutil"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// spanSet is what an in-memory exporter holds, with lookups for the
// assertions of a span tree.
type spanSet []tracetest.SpanStub

func attr(s tracetest.SpanStub, key string) string {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

// find returns the spans of trace tid named name whose attributes include
// every key=value of attrs.
func (ss spanSet) find(tid trace.TraceID, name string, attrs ...string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
next:
	for _, s := range ss {
		if s.SpanContext.TraceID() != tid || s.Name != name {
			continue
		}
		for _, a := range attrs {
			k, v, _ := strings.Cut(a, "=")
			if attr(s, k) != v {
				continue next
			}
		}
		out = append(out, s)
	}
	return out
}

func (ss spanSet) String() string {
	var b strings.Builder
	for _, s := range ss {
		fmt.Fprintf(&b, "\n  %s %s parent=%s", s.Name, s.SpanContext.SpanID(), s.Parent.SpanID())
		for _, kv := range s.Attributes {
			fmt.Fprintf(&b, " %s=%s", kv.Key, kv.Value.Emit())
		}
	}
	return b.String()
}

// one returns the single span of the trace named name (with attrs), or
// why not.
func (ss spanSet) one(tid trace.TraceID, name string, attrs ...string) (tracetest.SpanStub, string) {
	got := ss.find(tid, name, attrs...)
	if len(got) != 1 {
		return tracetest.SpanStub{}, fmt.Sprintf("%d spans %s %v, want 1", len(got), name, attrs)
	}
	return got[0], ""
}

// childOf says why child is not parent's child, or "".
func childOf(child, parent tracetest.SpanStub) string {
	if child.Parent.SpanID() != parent.SpanContext.SpanID() {
		return fmt.Sprintf("%s's parent is %s, not %s %s", child.Name, child.Parent.SpanID(), parent.Name, parent.SpanContext.SpanID())
	}
	return ""
}

// memberProvider is a member's own SDK provider, recording into the
// exporter every member of the test shares (in a process, each member has
// its own provider: nothing global mixes them).
func memberProvider(t *testing.T, exp *tracetest.InMemoryExporter) *sdktrace.TracerProvider {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp
}

// failoverKind fails its first attempt, blocks in the second until its
// member stops it, and completes the third, in a span of its own.
func failoverKind(running chan<- struct{}) *actors.TaskKind {
	return actors.MustTask("traced", func(tc actors.TaskContext, _ struct{}) (string, error) {
		switch tc.Attempt() {
		case 1:
			return "", errors.New("first attempt fails")
		case 2:
			running <- struct{}{}
			<-tc.Done()
			return "", tc.Err()
		}
		// The handler's context carries its attempt's span: its own spans
		// are the attempt's children.
		_, span := trace.SpanFromContext(tc).TracerProvider().Tracer("handler").Start(tc, "handler.work")
		span.End()
		return "done", nil
	})
}

// TestTraceOfTaskFailover: a task submitted with a traceparent fails its
// first attempt, is retried, and its member is stopped during the second;
// the other member adopts it and completes the third. Every span is in
// the client's trace: the HTTP request, the submit, the attempts on two
// members (with their outcomes), the adoption and the commit, with the
// right parents.
func TestTraceOfTaskFailover(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	running := make(chan struct{}, 1)
	reg := stockKinds(t)
	if err := reg.RegisterTask(failoverKind(running)); err != nil {
		t.Fatal(err)
	}
	exp := tracetest.NewInMemoryExporter()
	nodes := testcluster.Start(t, agent.HTTPAddr(), reg, 2, func(i int, cfg *node.Config) {
		cfg.TracerProvider = memberProvider(t, exp)
		cfg.DrainTimeout = time.Second // the second attempt never ends by itself
	})
	ctx := testutil.Context(t, 2*time.Minute)
	client := memberProvider(t, exp).Tracer("test")
	ctx, root := client.Start(ctx, "test.submit")
	tid := root.SpanContext().TraceID()
	st, err := nodes[0].Client().Submit(ctx, api.SubmitRequest{ID: "traced-1", Kind: "traced", Payload: json.RawMessage(`{}`),
		Policy: &api.Policy{MaxAttempts: api.Ptr(5), BackoffInitial: api.Ptr(api.Duration(50 * time.Millisecond))}})
	root.End()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-running:
	case <-ctx.Done():
		t.Fatal("the second attempt never ran")
	}
	st, err = nodes[0].Client().Get(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	owner, survivor := nodes[0], nodes[1]
	if st.Owner == nodes[1].ID() {
		owner, survivor = nodes[1], nodes[0]
	}
	if err := owner.Stop(ctx); err != nil {
		t.Logf("stopping %s: %v (its attempt was cut off, as intended)", owner.ID(), err)
	}
	final, err := survivor.Client().Wait(ctx, st.ID, nil)
	if err != nil || final.State != api.StateCompleted || final.Owner != survivor.ID() {
		t.Fatalf("task ended %+v, %v; want completed on %s", final, err, survivor.ID())
	}

	var why string
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		why = checkFailoverTrace(spanSet(exp.GetSpans()), tid, root, owner.ID(), survivor.ID())
		return why == "", why
	})
}

// checkFailoverTrace says what is wrong with the failover's trace, or "".
func checkFailoverTrace(ss spanSet, tid trace.TraceID, root trace.Span, owner, survivor string) string {
	fail := func(why string) string { return why + ss.String() }
	httpSpan, why := ss.one(tid, "POST /v1/tasks")
	if why != "" {
		return fail(why)
	}
	if httpSpan.Parent.SpanID() != root.SpanContext().SpanID() || !httpSpan.Parent.IsRemote() {
		return fail("the HTTP span's parent is not the client's traceparent")
	}
	submit, why := ss.one(tid, "task.submit", "granary.task.id=traced-1")
	if why != "" {
		return fail(why)
	}
	if why := childOf(submit, httpSpan); why != "" {
		return fail(why)
	}
	want := []struct {
		attempt, member, outcome, cause string
	}{
		{"1", owner, "failed", "error"},
		{"2", owner, "interrupted", ""},
		{"3", survivor, "completed", ""},
	}
	var third tracetest.SpanStub
	for _, w := range want {
		a, why := ss.one(tid, "task.attempt", "granary.task.attempt="+w.attempt)
		if why != "" {
			return fail(why)
		}
		if got := attr(a, "granary.member"); got != w.member {
			return fail(fmt.Sprintf("attempt %s ran on %s, want %s", w.attempt, got, w.member))
		}
		if got := attr(a, "granary.task.outcome"); got != w.outcome {
			return fail(fmt.Sprintf("attempt %s outcome %q, want %q", w.attempt, got, w.outcome))
		}
		if got := attr(a, "granary.task.cause"); got != w.cause {
			return fail(fmt.Sprintf("attempt %s cause %q, want %q", w.attempt, got, w.cause))
		}
		if ok := a.Status.Code.String() == "Error"; ok != (w.outcome != "completed") {
			return fail(fmt.Sprintf("attempt %s status %v", w.attempt, a.Status))
		}
		if why := childOf(a, submit); why != "" {
			return fail(why)
		}
		third = a
	}
	adopt, why := ss.one(tid, "task.adopt", "granary.member="+survivor)
	if why != "" {
		return fail(why)
	}
	if attr(adopt, "granary.task.previous_owner") != owner {
		return fail("the adoption does not name the previous owner")
	}
	if why := childOf(adopt, submit); why != "" {
		return fail(why)
	}
	work, why := ss.one(tid, "handler.work")
	if why != "" {
		return fail(why)
	}
	if why := childOf(work, third); why != "" {
		return fail(why)
	}
	commit, why := ss.one(tid, "task.commit", "granary.member="+survivor)
	if why != "" {
		return fail(why)
	}
	if attr(commit, "granary.task.state") != "TASK_STATE_COMPLETED" {
		return fail("the commit's state is " + attr(commit, "granary.task.state"))
	}
	return childOf(commit, third)
}

// TestTraceOfGrainCall: a grain call through one member to an activation
// on the other is one trace: the HTTP request and the caller's span on
// the first member, the routing try to the second, and the receive there.
func TestTraceOfGrainCall(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	exp := tracetest.NewInMemoryExporter()
	nodes := testcluster.Start(t, agent.HTTPAddr(), stockKinds(t), 2, func(i int, cfg *node.Config) {
		cfg.TracerProvider = memberProvider(t, exp)
	})
	ctx := testutil.Context(t, time.Minute)
	tracer := memberProvider(t, exp).Tracer("test")
	caller, callee := nodes[0], nodes[1]
	for i := 0; ; i++ { // an identity the other member hosts
		if i == 64 {
			t.Fatal("64 identities all placed on the caller")
		}
		cctx, root := tracer.Start(ctx, "test.call")
		reply, err := caller.Client().CallRaw(cctx, "whoami", fmt.Sprintf("who-%d", i), []byte(`{}`))
		root.End()
		if err != nil {
			t.Fatal(err)
		}
		if reply.Member != callee.ID() {
			continue
		}
		tid := root.SpanContext().TraceID()
		testutil.Eventually(t, 10*time.Second, func() (bool, string) {
			ss := spanSet(exp.GetSpans())
			why := checkGrainTrace(ss, tid, root, caller.ID(), callee.ID())
			if why != "" {
				why += ss.String()
			}
			return why == "", why
		})
		return
	}
}

func checkGrainTrace(ss spanSet, tid trace.TraceID, root trace.Span, caller, callee string) string {
	httpSpan, why := ss.one(tid, "POST /v1/grains/{kind}/{id}")
	if why != "" {
		return why
	}
	if httpSpan.Parent.SpanID() != root.SpanContext().SpanID() {
		return "the HTTP span is not the client's child"
	}
	call, why := ss.one(tid, "grain.call", "granary.member="+callee) // the answering member, set at the end
	if why != "" {
		return why
	}
	if why := childOf(call, httpSpan); why != "" {
		return why
	}
	route, why := ss.one(tid, "grain.route", "granary.grain.target_member="+callee)
	if why != "" {
		return why
	}
	if why := childOf(route, call); why != "" {
		return why
	}
	receive, why := ss.one(tid, "grain.receive", "granary.member="+callee, "granary.grain.kind=whoami")
	if why != "" {
		return why
	}
	if receive.SpanKind != trace.SpanKindServer || call.SpanKind != trace.SpanKindClient {
		return "span kinds: want client call, server receive"
	}
	if attr(call, "granary.grain.activation") != attr(receive, "granary.grain.activation") {
		return "the call and the receive name different activations"
	}
	return childOf(receive, route)
}

// tracedNode starts an embedded node (no Consul) with tp, stopped when the
// test ends.
func tracedNode(t *testing.T, tp trace.TracerProvider) *node.Node {
	t.Helper()
	reg := actors.NewRegistry()
	if err := kinds.Register(reg); err != nil {
		t.Fatal(err)
	}
	cfg := node.DefaultConfig()
	cfg.Registry, cfg.DataDir, cfg.HTTPAddr, cfg.TracerProvider = reg, t.TempDir(), "127.0.0.1:0", tp
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(testutil.Context(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Stop(context.Background()) })
	return n
}

// TestTraceparentOnHTTP: a raw HTTP request's traceparent header becomes
// the parent of the node's server span, whose child is the submit and
// whose attempt follows; a request without one starts a trace of its own;
// /healthz is not traced.
func TestTraceparentOnHTTP(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	n := tracedNode(t, memberProvider(t, exp))
	const tid, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	post := func(id, traceparent string) {
		t.Helper()
		body := fmt.Sprintf(`{"id":%q,"kind":"wordcount","payload":{"text":"a b"}}`, id)
		req, _ := http.NewRequest(http.MethodPost, "http://"+n.HTTPAddr()+"/v1/tasks?wait=10s", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if traceparent != "" {
			req.Header.Set("traceparent", traceparent)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
			t.Fatalf("submit: %s", resp.Status)
		}
	}
	post("with-parent", "00-"+tid+"-"+parent+"-01")
	post("without", "")
	if resp, err := http.Get("http://" + n.HTTPAddr() + "/healthz"); err == nil {
		resp.Body.Close()
	}
	traceID, _ := trace.TraceIDFromHex(tid)
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		ss := spanSet(exp.GetSpans())
		httpSpan, why := ss.one(traceID, "POST /v1/tasks", "http.status_code=201")
		if why != "" {
			return false, why + ss.String()
		}
		if httpSpan.Parent.SpanID().String() != parent || !httpSpan.Parent.IsRemote() {
			return false, "the server span's parent is not the traceparent's"
		}
		submit, why := ss.one(traceID, "task.submit", "granary.task.id=with-parent")
		if why != "" {
			return false, why + ss.String()
		}
		if why := childOf(submit, httpSpan); why != "" {
			return false, why
		}
		attempt, why := ss.one(traceID, "task.attempt", "granary.task.id=with-parent", "granary.task.outcome=completed")
		if why != "" {
			return false, why + ss.String()
		}
		if why := childOf(attempt, submit); why != "" {
			return false, why
		}
		other := 0
		for _, s := range ss {
			if s.Name == "/healthz" || strings.Contains(attr(s, "url.path"), "healthz") {
				return false, "/healthz was traced"
			}
			if attr(s, "granary.task.id") == "without" {
				if s.SpanContext.TraceID() == traceID {
					return false, "the request without a traceparent joined another trace"
				}
				other++
			}
		}
		return other >= 2, fmt.Sprintf("%d spans of the task submitted without a traceparent", other)
	})
}

// batchGoroutines counts the goroutines of an SDK batch span processor
// (the exporter's).
func batchGoroutines() int {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "sdk/trace.(*batchSpanProcessor)")
}

// TestTracingOffByDefault: a node without Config.TracerProvider and
// without OTEL_* variables runs no exporter goroutine, and a request's
// traceparent changes nothing (no span to record it into).
func TestTracingOffByDefault(t *testing.T) {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER", "OTEL_SDK_DISABLED"} {
		if os.Getenv(k) != "" {
			t.Setenv(k, "")
		}
	}
	before := batchGoroutines()
	n := tracedNode(t, nil)
	ctx := testutil.Context(t, 30*time.Second)
	st, err := n.Client().SubmitAndWait(ctx, api.SubmitRequest{Kind: "wordcount", Payload: json.RawMessage(`{"text":"a b"}`)}, nil)
	if err != nil || st.State != api.StateCompleted {
		t.Fatalf("task %+v, %v", st, err)
	}
	if got := batchGoroutines(); got != before {
		t.Fatalf("%d exporter goroutines with tracing off, %d before the node started", got, before)
	}
}
