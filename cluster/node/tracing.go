package node

import (
	"context"
	"fmt"
	"time"

	"github.com/granary-rt/granary/cluster/tracing"
)

// flushTraces bounds the export of the spans still queued at Stop: a
// collector that does not answer within it loses them, rather than hold
// up the node's exit.
const flushTraces = 5 * time.Second

// startTracing picks the tracer provider of the node's parts: the
// caller's (Config.TracerProvider), else one from OpenTelemetry's
// environment variables, none when they leave tracing off.
func (n *Node) startTracing(ctx context.Context) error {
	if n.tp = n.cfg.TracerProvider; n.tp != nil {
		return nil
	}
	tcfg := tracing.DefaultConfig()
	tcfg.Instance = n.id
	p, err := tracing.New(ctx, tcfg)
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if p.Enabled() {
		n.tracing, n.tp = p, p
		n.log.Info("tracing on: exporting spans over OTLP/HTTP (OTEL_* environment variables)")
	}
	return nil
}

// stopTracing flushes and stops the provider the node built.
func (n *Node) stopTracing() {
	if n.tracing == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), flushTraces)
	defer cancel()
	if err := n.tracing.Shutdown(ctx); err != nil {
		n.log.Warn("flushing the last spans failed; they are lost", "err", err)
	}
}
