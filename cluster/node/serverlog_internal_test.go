package node

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

// TestServerLog: the HTTP server's messages reach the node's structured
// log (not stderr as plain lines), a failed TLS handshake at debug level.
func TestServerLog(t *testing.T) {
	var buf bytes.Buffer
	n := &Node{log: slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	srv := n.newHTTPServer(http.NotFoundHandler(), t.Context())
	if srv.ErrorLog == nil {
		t.Fatal("the HTTP server has no ErrorLog: its messages go to stderr as plain lines")
	}
	srv.ErrorLog.Printf("http: TLS handshake error from 127.0.0.1:5555: EOF")
	srv.ErrorLog.Printf("http: Accept error: too many open files; retrying in 5ms")
	var levels []string
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec struct{ Level, Msg, Detail string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.Msg != "http server" {
			t.Fatalf("log line %q: not a structured record of the server (%v)", line, err)
		}
		levels = append(levels, rec.Level)
	}
	if strings.Join(levels, ",") != "DEBUG,WARN" {
		t.Fatalf("levels %v, want a handshake error at DEBUG and an accept error at WARN", levels)
	}
}
