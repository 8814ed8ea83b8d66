package netproxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestDropAnswersForwardsTheRequestAndLosesItsAnswer: the matching request
// reaches the server (it acts on it) and the client gets no answer; the
// requests around it are answered as usual.
func TestDropAnswersForwardsTheRequestAndLosesItsAnswer(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	p, err := New("127.0.0.1:0", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	hc := &http.Client{Timeout: prompt}
	t.Cleanup(hc.CloseIdleConnections)
	put := func(path string) error {
		req, _ := http.NewRequest(http.MethodPut, "http://"+p.Addr()+path, strings.NewReader("body"))
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.ReadAll(resp.Body)
		return err
	}

	p.DropAnswers("PUT /v1/txn", 1)
	if err := put("/v1/kv/a"); err != nil {
		t.Fatalf("a request that does not match: %v", err)
	}
	if err := put("/v1/txn"); err == nil {
		t.Fatal("the matching request was answered")
	}
	if got := served.Load(); got != 2 {
		t.Fatalf("the server served %d requests, want 2 (the dropped one reached it)", got)
	}
	if err := put("/v1/txn"); err != nil {
		t.Fatalf("the next matching request, past the count: %v", err)
	}
	if p.Dropped() != 1 {
		t.Errorf("Dropped() = %d, want 1", p.Dropped())
	}
}
