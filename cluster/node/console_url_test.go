package node_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"regexp"
	"sync"
	"testing"
)

// lockedBuffer is a log destination the node's goroutines may share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestStartLogNamesTheConsole: `granary dev` said where its API listens but
// never that a console is there; the start line now gives its URL, which
// answers.
func TestStartLogNamesTheConsole(t *testing.T) {
	var logs lockedBuffer
	cfg := embedded(t)
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	n := start(t, cfg)
	m := regexp.MustCompile(`msg="granary node started \(embedded\)".* console=(\S+)`).FindStringSubmatch(logs.String())
	if m == nil || m[1] != "http://"+n.HTTPAddr()+"/ui/" {
		t.Fatalf("the start log does not name the console at http://%s/ui/:\n%s", n.HTTPAddr(), logs.String())
	}
	resp, err := http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %d", m[1], resp.StatusCode)
	}
}
