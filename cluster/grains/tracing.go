package grains

import (
	"context"

	"github.com/granary-rt/granary/cluster/tracing"
	"github.com/granary-rt/granary/messages"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// The spans of a grain call, in one trace across members:
//
//	grain.call           the caller (Host.CallOnce), child of its context
//	└── grain.route      one per try: the member picked and its answer
//	    └── grain.receive the activation's handling, on the member hosting it
//
// The route span's context travels in GrainRequest.trace_context. With
// Config.TracerProvider nil, none is made and the request carries none.
const (
	spanCall    = "grain.call"
	spanRoute   = "grain.route"
	spanReceive = "grain.receive"
)

// Attribute keys of the grain spans.
const (
	attrKind       = attribute.Key("granary.grain.kind")
	attrIdentity   = attribute.Key("granary.grain.identity")
	attrMember     = attribute.Key("granary.member")
	attrTarget     = attribute.Key("granary.grain.target_member")
	attrCode       = attribute.Key("granary.grain.code")
	attrActivation = attribute.Key("granary.grain.activation")
	attrCached     = attribute.Key("granary.grain.holder_cached")
)

// tracedCall is CallOnce inside a grain.call span.
func (h *Host) tracedCall(ctx context.Context, kind, identity, requestID string, payload []byte) (*messages.GrainResponse, error) {
	ctx, span := h.tracer.Start(ctx, spanCall, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attrKind.String(kind), attrIdentity.String(identity), attrMember.String(h.cfg.Member)))
	resp, err := h.callOnce(ctx, kind, identity, requestID, payload)
	endGrainSpan(span, resp, err)
	return resp, err
}

// traceRoute starts the span of one try to member, inside a traced call
// (a reminder's firing is not traced), and returns the request to send:
// a copy carrying the span's context, since an earlier try's copy may
// still be read by a member in this process. Off, req itself.
func (h *Host) traceRoute(ctx context.Context, req *messages.GrainRequest, member string, cached bool) (*messages.GrainRequest, trace.Span) {
	if h.tracer == nil || !trace.SpanContextFromContext(ctx).IsValid() {
		return req, nil
	}
	ctx, span := h.tracer.Start(ctx, spanRoute, trace.WithAttributes(attrTarget.String(member), attrCached.Bool(cached)))
	return &messages.GrainRequest{Kind: req.GetKind(), Identity: req.GetIdentity(), Payload: req.GetPayload(),
		DeadlineUnixNano: req.GetDeadlineUnixNano(), RequestId: req.GetRequestId(), Reminder: req.GetReminder(),
		TraceContext: tracing.Inject(ctx)}, span
}

// endGrainSpan ends span (nil: none) with the answer's code and the
// error, if any.
func endGrainSpan(span trace.Span, resp *messages.GrainResponse, err error) {
	if span == nil {
		return
	}
	if e := resp.GetError(); e != nil {
		span.SetAttributes(attrCode.String(e.GetCode().String()))
		if err == nil {
			span.SetStatus(codes.Error, e.GetMessage())
		}
	}
	if m := resp.GetMember(); m != "" {
		span.SetAttributes(attrMember.String(m), attrActivation.String(resp.GetActivationId()))
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// traceReceive starts the receive span of req on this activation, a
// child of the caller's try; the grain's context (a.context) carries it
// until the function returned ends it.
func (a *activation) traceReceive(req *messages.GrainRequest) func() {
	ctx, span := a.h.tracer.Start(tracing.Extract(context.Background(), req.GetTraceContext()), spanReceive,
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attrKind.String(a.kind.Name()), attrIdentity.String(a.identity),
			attrMember.String(a.h.cfg.Member), attrActivation.String(a.id)))
	a.traceCtx, a.span = ctx, span
	return func() {
		a.traceCtx, a.span = nil, nil
		span.End()
	}
}

// noteReply records the answer on the receive span, if any.
func (a *activation) noteReply(resp *messages.GrainResponse) {
	if a.span == nil {
		return
	}
	if e := resp.GetError(); e != nil {
		a.span.SetAttributes(attrCode.String(e.GetCode().String()))
		a.span.SetStatus(codes.Error, e.GetMessage())
	}
}

// parentContext is the context a grain's handler runs under: the receive
// span's while tracing a request, else none.
func (a *activation) parentContext() context.Context {
	if a.traceCtx != nil {
		return a.traceCtx
	}
	return context.Background()
}
