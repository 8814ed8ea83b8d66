package node

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestClockSkewWarning: a member whose clock is seconds off this one's is
// named in a warning; one within the tolerance is not.
func TestClockSkewWarning(t *testing.T) {
	for _, c := range []struct {
		offset time.Duration
		warn   bool
	}{{5 * time.Second, true}, {-3 * time.Second, true}, {50 * time.Millisecond, false}} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(api.MemberReport{ID: "other", Now: time.Now().Add(c.offset)})
		}))
		var logs lockedBuffer
		k := newClockCheck(&Node{id: "me", log: slog.New(slog.NewTextHandler(&logs, nil))})
		cl, err := client.New(client.Config{Addr: srv.URL, RetryFor: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		k.checkMember("other", cl)
		k.stop()
		srv.Close()
		got := logs.String()
		if warned := strings.Contains(got, "clock skew with another member") && strings.Contains(got, "other=other"); warned != c.warn {
			t.Errorf("a member %s off: warned %v, want %v:\n%s", c.offset, warned, c.warn, got)
		}
	}
}

// TestSkewOf: the other clock's reading against the middle of the round
// trip.
func TestSkewOf(t *testing.T) {
	t0 := time.Unix(1000, 0)
	if got := skewOf(t0.Add(3*time.Second), t0, t0.Add(2*time.Second)); got != 2*time.Second {
		t.Fatalf("skewOf = %s, want 2s", got)
	}
}
