package tracing

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/internal/logevery"
)

// TestOTelErrorsReachTheLogRateLimited: the SDK's export errors become
// one structured warning per 30s, counting those left out between.
func TestOTelErrorsReachTheLogRateLimited(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	h := &otelErrors{log: slog.New(slog.NewJSONHandler(&buf, nil)), now: func() time.Time { return now }, every: logevery.Limiter{Period: otelErrorsEvery}}
	for i := range 5 {
		h.Handle(errors.New("dial tcp 127.0.0.1:4318: connection refused"))
		now = now.Add(time.Duration(i+1) * time.Second) // 1+2+3+4 = 10s: within the 30s
	}
	if n := strings.Count(buf.String(), `"msg":"opentelemetry: traces not exported"`); n != 1 {
		t.Fatalf("%d lines for 5 errors within 30s, want 1:\n%s", n, buf.String())
	}
	now = now.Add(otelErrorsEvery)
	h.Handle(errors.New("still refused"))
	if !strings.Contains(buf.String(), `"errors_not_logged":4`) || !strings.Contains(buf.String(), "still refused") {
		t.Fatalf("the next line does not count the 4 left out:\n%s", buf.String())
	}
}
