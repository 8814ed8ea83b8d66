package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/granary-rt/granary/cluster/errs"
	"github.com/granary-rt/granary/supervisor/backoff"
)

// Config configures a Client.
type Config struct {
	// Addr is the node's HTTP address, e.g. http://127.0.0.1:8080 (a bare
	// host:port gets http://). Empty uses $GRANARY_ADDR, else DefaultAddr,
	// unless Addrs or Discover is set.
	Addr string
	// Addrs are several nodes' HTTP addresses: a call that cannot reach one
	// tries the next.
	Addrs []string
	// Discover returns the HTTP addresses of the cluster's healthy nodes.
	// It is asked at the first call and again whenever every known node
	// failed. To find a cluster's nodes through Consul, set it to
	// membership.DiscoverHTTP(consulClient, "prod"): the client itself
	// imports no Consul library, so a program that knows its nodes'
	// addresses does not pay for one.
	Discover func(ctx context.Context) ([]string, error)
	// HTTPClient sends the requests; nil uses one without an overall
	// time-out (every call takes its deadline from its context), with
	// TLSConfig. Set, it brings its own TLS settings: TLSConfig and CAFile
	// must then be empty.
	HTTPClient *http.Client
	// TLSConfig verifies the nodes' API certificates (its RootCAs). Set, or
	// with CAFile, addresses without a scheme are https://.
	TLSConfig *tls.Config
	// CAFile is a PEM file of the CA that signed the nodes' API
	// certificates, trusted besides the system's CAs; empty uses
	// $GRANARY_CA (none if unset).
	CAFile string
	// Token is the bearer token sent with every request (a read or a
	// write token of the nodes' lists); empty uses $GRANARY_TOKEN (none if
	// unset). A node without tokens ignores it.
	Token string
	// Retry is the backoff between tries of a call that did not reach the
	// node or found it unavailable. Calls retry until their context ends.
	Retry backoff.Backoff
	// RetryFor bounds how long one call keeps retrying an unreachable or
	// unavailable node, within its context's deadline.
	RetryFor time.Duration
	// OnRetry, when set, hears of every try that failed and will be tried
	// again (before the wait), so a program can tell its user what it is
	// waiting for instead of staying silent for RetryFor. It runs on the
	// caller's goroutine and should return quickly.
	OnRetry func(RetryNotice)
	// PollWait is how long one long poll of Wait may hang on the node.
	PollWait time.Duration
	// ProgressEvery is how often a Wait with an onChange asks again while
	// the task runs, so that its live progress (which moves without the
	// task's revision) reaches onChange; negative: never, and onChange
	// hears only of revisions. A Wait without onChange long-polls
	// revisions alone either way.
	ProgressEvery time.Duration
	// Route sends each submit straight to the member that owns the task by
	// placement, as the cluster's member list (GET /v1/members) says. A
	// node that takes a submit for another member hands it over, so routing
	// saves that hop, and a stale list costs only the hop. It needs every
	// member's HTTP address reachable from the client; off, all calls go to
	// the configured nodes.
	Route bool
	// RouteRefresh is how often a routing client reads the member list.
	RouteRefresh time.Duration
	// Coalesce lets concurrent submits to the same node share requests
	// (POST /v1/tasks:batch): a submit goes out at once, alone, when the
	// node has no more than a few of this client's submits in flight;
	// otherwise it waits for one of them to finish and goes out with the
	// others that queued meanwhile. Each submit still gets its own answer
	// and error. It saves the node and the client a request per task when
	// many goroutines submit at once; a node without the batch route gets
	// the submits one by one.
	Coalesce bool
}

// RetryNotice describes a call that failed and is about to be tried again.
type RetryNotice struct {
	// Method and Path name the call.
	Method, Path string
	// Node is the address that failed (empty: none was found to try).
	Node string
	// Try counts the tries so far, this one included.
	Try int
	// Err is why the try failed.
	Err error
	// Delay is the wait before the next try.
	Delay time.Duration
	// GiveUp is when the call stops trying: RetryFor after its first try,
	// or its context's deadline if that is sooner.
	GiveUp time.Time
}

// DefaultAddr is the address `granary dev` listens on by default.
const DefaultAddr = "http://127.0.0.1:8080"

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		// 50ms doubling to 2s, full jitter: a restarting node is found again
		// within about a second, and many clients do not retry in lockstep.
		Retry: backoff.Backoff{Initial: 50 * time.Millisecond, Multiplier: 2, Max: 2 * time.Second, Jitter: backoff.JitterFull},
		// 30s: long enough that waiting costs a request every 30s, short
		// enough for proxies with a 60s idle time-out.
		PollWait: 30 * time.Second,
		// 500ms: a person watching a progress line sees it move twice a
		// second; only waits with an onChange pay the extra requests, and
		// only while their task runs.
		ProgressEvery: 500 * time.Millisecond,
		// 15s rides out a node restart (a few seconds) without leaving a
		// user staring at a CLI that will never connect.
		RetryFor: 15 * time.Second,
		// 5s: members join and leave over seconds, and a stale list costs
		// one hop per submit, not a wrong answer.
		RouteRefresh: 5 * time.Second,
	}
}

// ErrInvalidConfig wraps every error of Config.Validate and New's errors
// about the Config (a CA file it cannot use); it wraps
// errs.ErrInvalidConfig.
var ErrInvalidConfig = errs.New("client: invalid configuration", errs.ErrInvalidConfig)

// Validate reports a Config New would refuse, naming the field and its
// value: an HTTPClient given with TLS settings it would ignore, an address
// that is not an http(s) URL, an invalid Retry, a negative RetryFor,
// PollWait or RouteRefresh (zero takes the default; a negative
// ProgressEvery means never).
func (c Config) Validate() error {
	if c.HTTPClient != nil && (c.TLSConfig != nil || c.CAFile != "") {
		return fmt.Errorf("%w: HTTPClient brings its own TLS settings: give it or TLSConfig/CAFile (%q), not both", ErrInvalidConfig, c.CAFile)
	}
	secure := c.TLSConfig != nil || c.CAFile != ""
	if c.Addr != "" {
		if _, err := parseAddr(c.Addr, secure); err != nil {
			return fmt.Errorf("%w: Addr %q is not an http(s) URL such as %s", ErrInvalidConfig, c.Addr, DefaultAddr)
		}
	}
	for i, a := range c.Addrs {
		if _, err := parseAddr(a, secure); err != nil {
			return fmt.Errorf("%w: Addrs[%d] %q is not an http(s) URL such as %s", ErrInvalidConfig, i, a, DefaultAddr)
		}
	}
	if !c.Retry.IsZero() {
		if err := c.Retry.Validate(); err != nil {
			return fmt.Errorf("%w: Retry: %w", ErrInvalidConfig, err)
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"RetryFor", c.RetryFor}, {"PollWait", c.PollWait}, {"RouteRefresh", c.RouteRefresh}} {
		if d.v < 0 {
			return fmt.Errorf("%w: %s is %s, want 0 (the default) or more", ErrInvalidConfig, d.name, d.v)
		}
	}
	return nil
}

// clientTLS is the TLS configuration of the client's own HTTP client: nil
// when none is asked for (plain http:// by default).
func clientTLS(cfg Config) (*tls.Config, error) {
	if cfg.TLSConfig == nil && cfg.CAFile == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLSConfig != nil {
		tc = cfg.TLSConfig.Clone()
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: CAFile: %w", ErrInvalidConfig, err)
		}
		if tc.RootCAs == nil {
			if tc.RootCAs, err = x509.SystemCertPool(); err != nil {
				tc.RootCAs = x509.NewCertPool()
			}
		}
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: CAFile %s holds no PEM certificate", ErrInvalidConfig, cfg.CAFile)
		}
	}
	return tc, nil
}

// parseAddr reads a node's address; one without a scheme is https:// if
// secure, else http://.
func parseAddr(addr string, secure bool) (*url.URL, error) {
	if !strings.Contains(addr, "://") {
		if secure {
			addr = "https://" + addr
		} else {
			addr = "http://" + addr
		}
	}
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("client: address %q is not an http(s) URL such as %s", addr, DefaultAddr)
	}
	return u, nil
}

// withDefaults gives the zero (or, but for ProgressEvery, negative)
// timings and a zero Retry DefaultConfig's values.
func (c Config) withDefaults() Config {
	def := DefaultConfig()
	if c.Retry.IsZero() {
		c.Retry = def.Retry
	}
	if c.RetryFor <= 0 {
		c.RetryFor = def.RetryFor
	}
	if c.ProgressEvery == 0 {
		c.ProgressEvery = def.ProgressEvery
	}
	if c.PollWait <= 0 {
		c.PollWait = def.PollWait
	}
	if c.RouteRefresh <= 0 {
		c.RouteRefresh = def.RouteRefresh
	}
	return c
}

// nodeURLs are the nodes a client of cfg talks to: Addr, then Addrs;
// without either or Discover, $GRANARY_ADDR, else DefaultAddr.
func nodeURLs(cfg Config, secure bool) ([]*url.URL, error) {
	addrs := cfg.Addrs
	if cfg.Addr != "" {
		addrs = append([]string{cfg.Addr}, addrs...)
	}
	if len(addrs) == 0 && cfg.Discover == nil {
		addr := os.Getenv("GRANARY_ADDR")
		if addr == "" {
			addr = DefaultAddr
		}
		addrs = []string{addr}
	}
	nodes := make([]*url.URL, 0, len(addrs))
	for _, a := range addrs {
		u, err := parseAddr(a, secure)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, u)
	}
	return nodes, nil
}
