package tasks

import (
	"context"

	"github.com/granary-rt/granary/cluster/tracing"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// The spans of a task's life. Every one is in the trace of the task's
// submit (its context is stored with the task: TaskSpec.trace_context),
// so an attempt on another member, after a failover too, continues it:
//
//	task.submit            the member that took the submit
//	├── task.attempt       one per attempt, on the member that ran it
//	│   └── task.commit    the write of the result
//	└── task.adopt         a member taking over the task of one that left
//
// With Config.TracerProvider nil, none is made: no span, no context.
const (
	spanSubmit  = "task.submit"
	spanAttempt = "task.attempt"
	spanCommit  = "task.commit"
	spanAdopt   = "task.adopt"
)

// Attribute keys of the task spans.
const (
	attrTask     = attribute.Key("granary.task.id")
	attrKind     = attribute.Key("granary.task.kind")
	attrAttempt  = attribute.Key("granary.task.attempt")
	attrMember   = attribute.Key("granary.member")
	attrOwner    = attribute.Key("granary.task.owner")
	attrOutcome  = attribute.Key("granary.task.outcome")
	attrCause    = attribute.Key("granary.task.cause")
	attrState    = attribute.Key("granary.task.state")
	attrPrevious = attribute.Key("granary.task.previous_owner")
	attrJob      = attribute.Key("granary.job.id")
)

// noSpan is what the span helpers return with tracing off: its methods do
// nothing and it costs no allocation.
var noSpan = trace.SpanFromContext(context.Background())

// traceSubmit starts the submit's span, a child of ctx's (the HTTP
// request's, or the caller's).
func (m *Manager) traceSubmit(ctx context.Context, sub Submission) (context.Context, trace.Span) {
	if m.tracer == nil {
		return ctx, noSpan
	}
	return m.tracer.Start(ctx, spanSubmit, trace.WithAttributes(
		attrTask.String(sub.ID), attrKind.String(sub.Kind), attrMember.String(m.member)))
}

// stampTrace stores the submit's trace context in the new task, and names
// its id and owner on the span (the id may have been picked just now).
func (m *Manager) stampTrace(ctx context.Context, t *messages.Task) {
	if m.tracer == nil {
		return
	}
	span := trace.SpanFromContext(ctx)
	span.SetAttributes(attrTask.String(t.GetSpec().GetId()), attrOwner.String(t.GetStatus().GetOwner()))
	if j := t.GetSpec().GetJobId(); j != "" {
		span.SetAttributes(attrJob.String(j))
	}
	t.Spec.TraceContext = tracing.ForRecord(tracing.Inject(ctx))
}

// endSpan ends span, with an error status if err is set.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// taskTrace is the context of the task's trace: its submit's span as the
// remote parent.
func (a *taskActor) taskTrace() context.Context {
	return tracing.Extract(context.Background(), a.rec.Task.GetSpec().GetTraceContext())
}

// traceAttempt starts attempt n's span and returns the context the
// handler runs in: with the span, so a handler's own spans are its
// children. Off, it is context.Background().
func (a *taskActor) traceAttempt(n int) context.Context {
	if a.m.tracer == nil {
		return context.Background()
	}
	ctx, span := a.m.tracer.Start(a.taskTrace(), spanAttempt, trace.WithAttributes(
		attrTask.String(a.id), attrKind.String(a.kind.Name()), attrAttempt.Int(n), attrMember.String(a.m.member)))
	a.span = span
	return ctx
}

// endAttempt ends the running attempt's span, if any, with its outcome
// (completed, failed, cancelled, restarted, interrupted) and, for a
// failure, its cause.
func (a *taskActor) endAttempt(outcome string, f *supervisor.Failure) {
	if a.span == nil {
		return
	}
	a.span.SetAttributes(attrOutcome.String(outcome))
	var err error
	if f != nil {
		a.span.SetAttributes(attrCause.String(f.Cause.String()))
		err = f
	}
	if err == nil && outcome != "completed" {
		a.span.SetStatus(codes.Error, outcome)
	}
	endSpan(a.span, err)
	a.span = nil
}

// traceCommit starts the span of the write of a terminal state: a child
// of the attempt whose result it commits, else of the task's trace. The
// function returned ends it.
func (a *taskActor) traceCommit(state messages.TaskState) func(error) {
	if a.m.tracer == nil {
		return func(error) {}
	}
	parent := a.taskTrace()
	if a.span != nil {
		parent = trace.ContextWithSpan(parent, a.span)
	}
	_, span := a.m.tracer.Start(parent, spanCommit, trace.WithAttributes(
		attrTask.String(a.id), attrMember.String(a.m.member), attrState.String(state.String())))
	return func(err error) {
		span.SetAttributes(attrState.String(a.rec.Task.GetStatus().GetState().String()))
		endSpan(span, err)
	}
}

// traceAdopt starts the span of taking over a task another member owned
// (it left the cluster); the function returned ends it, once the claim
// and the next attempt's start are written.
func (a *taskActor) traceAdopt(st *messages.TaskStatus) func() {
	if a.m.tracer == nil {
		return func() {}
	}
	_, span := a.m.tracer.Start(a.taskTrace(), spanAdopt, trace.WithAttributes(
		attrTask.String(a.id), attrMember.String(a.m.member), attrPrevious.String(st.GetOwner()),
		attrState.String(st.GetState().String()), attrAttempt.Int(int(st.GetAttempts()))))
	return func() {
		span.SetAttributes(attrOwner.String(a.rec.Task.GetStatus().GetOwner()))
		if a.rec.Task.GetStatus().GetOwner() != a.m.member {
			span.SetStatus(codes.Error, "not claimed")
		}
		span.End()
	}
}
