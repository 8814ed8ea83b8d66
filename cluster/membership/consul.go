package membership

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
)

// newConsulClient builds the Consul client from base (nil: api's defaults
// and CONSUL_* variables). It returns the transport if the membership
// created it, so Leave can close its idle connections, and the address for
// logs.
func newConsulClient(base *api.Config) (*api.Client, *http.Transport, string, error) {
	var cfg api.Config
	var owned *http.Transport
	if base == nil {
		cfg = *api.DefaultConfig()
		owned = cfg.Transport
	} else {
		cfg = *base
		if cfg.HttpClient == nil && cfg.Transport == nil {
			// The same pooled transport api.NewClient would create, but
			// ours to close.
			cfg.Transport = api.DefaultConfig().Transport
			owned = cfg.Transport
		}
	}
	addr := cfg.Address
	client, err := api.NewClient(&cfg)
	if err != nil {
		return nil, nil, "", fmt.Errorf("%w: consul client: %w", ErrInvalidConfig, err)
	}
	if addr == "" {
		addr = api.DefaultConfig().Address
	}
	return client, owned, addr, nil
}

// logFailure logs the nth consecutive failure of op against Consul: the
// first three, then every power of two, so an outage of an hour costs a
// dozen lines rather than thousands while the count still shows it lasts.
func (m *Membership) logFailure(op string, n int, err error) {
	if n > 3 && n&(n-1) != 0 {
		return
	}
	m.log.Warn("consul request failed", "op", op, "failures", n, "err", err)
}

// sleep waits for d, a receive on wake, or the end of ctx, and reports
// whether ctx is still live. A closed wake channel ends the wait at once.
func sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-wake:
	}
	return ctx.Err() == nil
}

// consulBack returns a channel that is closed the next time the lease loop
// reaches Consul after failures. Watchers backing off wait on it too, so
// they resume as soon as Consul answers rather than when their backoff
// (up to Retry.Max) runs out.
func (m *Membership) consulBack() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reconnected
}

// signalConsulBack wakes everything waiting on consulBack.
func (m *Membership) signalConsulBack() {
	m.mu.Lock()
	defer m.mu.Unlock()
	close(m.reconnected)
	m.reconnected = make(chan struct{})
}

// containsFold reports whether s contains substr, ignoring case.
func containsFold(s, substr string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(substr))
}
