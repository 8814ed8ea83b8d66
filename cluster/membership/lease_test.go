package membership

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/granary-rt/granary/internal/testconsul"
)

// slowRenewals delays every lease renewal (PUT /v1/agent/check/update/…)
// by delay while it is set, as a Consul busy with a failover's writes did:
// renewals took 0.5s to 2s there.
type slowRenewals struct {
	base  http.RoundTripper
	delay atomic.Int64 // nanoseconds
}

func (s *slowRenewals) RoundTrip(req *http.Request) (*http.Response, error) {
	if d := time.Duration(s.delay.Load()); d > 0 && strings.HasPrefix(req.URL.Path, "/v1/agent/check/update/") {
		select {
		case <-time.After(d):
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
	return s.base.RoundTrip(req)
}

// TestSlowRenewalsDoNotFence: every renewal answers after 1.9s, well
// within the lease (FenceAfter 3.5s here). Sent one after another, the
// lease's age reached two answers (3.8s) and the node fenced itself; with
// a renewal sent every RenewInterval while one is slow, it stays near
// RenewInterval plus one answer, and the node never fences.
func TestSlowRenewalsDoNotFence(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	slow := &slowRenewals{base: api.DefaultConfig().Transport}
	n := joinNode(t, agent, "slow", nodeOptions{modify: func(c *Config) {
		c.TTL, c.FenceAfter, c.RenewInterval, c.RequestTimeout = 4*time.Second, 3500*time.Millisecond, 500*time.Millisecond, 3*time.Second
		c.Consul.HttpClient = &http.Client{Transport: slow}
	}})
	slow.delay.Store(int64(1900 * time.Millisecond))
	began := time.Now()
	for time.Since(began) < 10*time.Second {
		if fenced, _, _ := n.fences(began); fenced > 0 {
			t.Fatalf("fenced %d times %v after renewals began to take 1.9s (fence after 3.5s)", fenced, time.Since(began).Round(time.Millisecond))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if age := n.lastRenewAge(); age >= 3500*time.Millisecond {
		t.Fatalf("last renewal %v old: the lease is no longer renewed", age)
	}
}
