package node_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// TestStartLogSaysAuth: the start line says whether the API wants tokens,
// which $GRANARY_WRITE_TOKEN in a shell can turn on unnoticed.
func TestStartLogSaysAuth(t *testing.T) {
	for _, withTokens := range []bool{false, true} {
		var logs logBuffer
		cfg := embedded(t)
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		want := "api_auth=none"
		if withTokens {
			cfg.Tokens, want = tokens(t), `api_auth="bearer tokens"`
		}
		start(t, cfg)
		if !strings.Contains(logs.String(), want) {
			t.Errorf("tokens %v: the start line lacks %s:\n%s", withTokens, want, logs.String())
		}
	}
}
