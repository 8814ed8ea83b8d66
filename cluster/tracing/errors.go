package tracing

import (
	"log/slog"
	"time"

	"github.com/granary-rt/granary/cluster/internal/logevery"
	"go.opentelemetry.io/otel"
)

// otelErrorsEvery bounds how often the OpenTelemetry SDK's errors reach the
// log: a collector that is down fails every export (each batch, every few
// seconds), and one line per 30s says so without drowning the node's log.
const otelErrorsEvery = 30 * time.Second

// LogErrors routes the errors the OpenTelemetry SDK reports (an
// exporter that cannot reach its collector, say) to the node's structured
// log, at most one every otelErrorsEvery with a count of those left out,
// instead of the SDK's default of plain lines on stderr. The handler is
// process-wide, which is why the binary calls it and the node does not.
func LogErrors(log *slog.Logger) {
	otel.SetErrorHandler(&otelErrors{log: log, now: time.Now, every: logevery.Limiter{Period: otelErrorsEvery}})
}

type otelErrors struct {
	log   *slog.Logger
	now   func() time.Time
	every logevery.Limiter
}

func (h *otelErrors) Handle(err error) {
	ok, dropped := h.every.Allow(h.now())
	if !ok {
		return
	}
	h.log.Warn("opentelemetry: traces not exported", "err", err, "errors_not_logged", dropped, "next_in", otelErrorsEvery)
}
