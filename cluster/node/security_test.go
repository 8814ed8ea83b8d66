package node_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/cluster/httpapi"
	"github.com/granary-rt/granary/cluster/node"
	"github.com/granary-rt/granary/internal/testpki"
	"github.com/granary-rt/granary/internal/testutil"
)

const (
	readToken  = "read-token-0123456789"
	writeToken = "write-token-0123456789"
)

func tokens(t *testing.T) *httpapi.Tokens {
	t.Helper()
	tk, err := httpapi.NewTokens([]string{readToken}, []string{writeToken})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// TestExposureNeedsSecurity: a node listening beyond loopback without TLS
// and tokens (HTTP) or a cluster CA (remoting) is refused unless Insecure.
func TestExposureNeedsSecurity(t *testing.T) {
	ca := testpki.NewCA(t)
	api := ca.Issue(t, "api")
	member := ca.Issue(t, "member")
	secured := func(cfg *node.Config) {
		cfg.TLSCert, cfg.TLSKey, cfg.Tokens = api.CertFile, api.KeyFile, tokens(t)
	}
	cluster := func(cfg *node.Config) {
		cfg.Consul, cfg.Cluster, cfg.BindAddr = node.ConsulConfig("127.0.0.1:1"), "c", "127.0.0.1:0"
	}
	cases := []struct {
		name string
		edit func(cfg *node.Config)
		ok   bool
	}{
		{"loopback embedded", func(cfg *node.Config) {}, true},
		{"localhost", func(cfg *node.Config) { cfg.HTTPAddr = "localhost:0" }, true},
		{"all interfaces", func(cfg *node.Config) { cfg.HTTPAddr = "0.0.0.0:0" }, false},
		{"all interfaces, insecure", func(cfg *node.Config) { cfg.HTTPAddr, cfg.Insecure = "0.0.0.0:0", true }, true},
		{"all interfaces, tokens only", func(cfg *node.Config) { cfg.HTTPAddr, cfg.Tokens = "0.0.0.0:0", tokens(t) }, false},
		{"all interfaces, TLS and tokens", func(cfg *node.Config) { cfg.HTTPAddr = "0.0.0.0:0"; secured(cfg) }, true},
		{"a host name", func(cfg *node.Config) { cfg.HTTPAddr = "example.com:8080" }, false},
		{"cluster on loopback", cluster, true},
		{"cluster bind beyond loopback", func(cfg *node.Config) { cluster(cfg); cfg.BindAddr = "10.1.2.3:7000" }, false},
		{"cluster advertised beyond loopback", func(cfg *node.Config) { cluster(cfg); cfg.AdvertiseAddr = "10.1.2.3:7000" }, false},
		{"cluster bind beyond loopback, insecure", func(cfg *node.Config) { cluster(cfg); cfg.BindAddr, cfg.Insecure = "10.1.2.3:7000", true }, true},
		{"cluster bind beyond loopback, cluster CA", func(cfg *node.Config) {
			cluster(cfg)
			cfg.BindAddr, cfg.ClusterCA, cfg.ClusterCert, cfg.ClusterKey = "10.1.2.3:7000", ca.CertFile, member.CertFile, member.KeyFile
		}, true},
		{"cluster CA without a key", func(cfg *node.Config) { cluster(cfg); cfg.ClusterCA, cfg.ClusterCert = ca.CertFile, member.CertFile }, false},
		{"TLS cert without a key", func(cfg *node.Config) { cfg.TLSCert = api.CertFile }, false},
		{"cluster tokens without a write token", func(cfg *node.Config) {
			cluster(cfg)
			cfg.Tokens, _ = httpapi.NewTokens([]string{readToken}, nil)
		}, false},
	}
	for _, c := range cases {
		cfg := embedded(t)
		c.edit(&cfg)
		_, err := node.New(cfg)
		if c.ok && err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if !c.ok && !errors.Is(err, node.ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", c.name, err)
		}
	}
	// A member certificate of another CA is refused at New: its peers
	// would refuse it.
	other := testpki.NewCA(t).Issue(t, "stranger")
	cfg := embedded(t)
	cluster(&cfg)
	cfg.ClusterCA, cfg.ClusterCert, cfg.ClusterKey = ca.CertFile, other.CertFile, other.KeyFile
	if _, err := node.New(cfg); !errors.Is(err, node.ErrInvalidConfig) || !strings.Contains(err.Error(), "not signed by the cluster CA") {
		t.Errorf("a member certificate of another CA: %v", err)
	}
}

// TestAPITLSAndTokens: an embedded node with a certificate and tokens.
// Without the CA a client fails; with it and no token it gets 401; with
// the read token it reads but may not write (403); with the write token it
// does both. Plain HTTP on the same port answers only /healthz, and tells
// it nothing but the status.
func TestAPITLSAndTokens(t *testing.T) {
	t.Setenv("GRANARY_TOKEN", "")
	t.Setenv("GRANARY_CA", "")
	ca := testpki.NewCA(t)
	cert := ca.Issue(t, "api")
	cfg := embedded(t)
	cfg.TLSCert, cfg.TLSKey, cfg.Tokens, cfg.Pprof = cert.CertFile, cert.KeyFile, tokens(t), true
	n := start(t, cfg)
	ctx := testutil.Context(t, time.Minute)
	addr := "https://" + n.HTTPAddr()
	newClient := func(token, caFile string) *client.Client {
		c, err := client.New(client.Config{Addr: addr, Token: token, CAFile: caFile, RetryFor: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	sub := api.SubmitRequest{ID: "tls-1", Kind: "resize", Payload: json.RawMessage(`{"tiles":3}`)}

	if _, err := newClient(writeToken, "").Submit(ctx, sub); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a client without the CA: %v, want a certificate error", err)
	}
	if _, err := newClient("", ca.CertFile).Submit(ctx, sub); !errors.Is(err, client.ErrUnauthenticated) {
		t.Fatalf("no token: %v, want ErrUnauthenticated", err)
	}
	if _, err := newClient("unknown-token-0123456789", ca.CertFile).Get(ctx, "tls-1"); !errors.Is(err, client.ErrUnauthenticated) {
		t.Fatalf("an unknown token: %v, want ErrUnauthenticated", err)
	}
	reader := newClient(readToken, ca.CertFile)
	if _, err := reader.Submit(ctx, sub); !errors.Is(err, client.ErrPermissionDenied) {
		t.Fatalf("read token submitting: %v, want ErrPermissionDenied", err)
	}
	if _, err := reader.Members(ctx); !errors.Is(err, client.ErrPermissionDenied) {
		t.Fatalf("read token listing members: %v, want ErrPermissionDenied", err)
	}
	if _, err := reader.Get(ctx, "tls-1"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("read token reading: %v, want not found (nothing was stored)", err)
	}
	writer := newClient(writeToken, ca.CertFile)
	st, err := writer.SubmitAndWait(ctx, sub, nil)
	if err != nil || st.State != api.StateCompleted {
		t.Fatalf("write token submitting: %+v, %v", st, err)
	}
	if got, err := reader.Get(ctx, "tls-1"); err != nil || got.State != api.StateCompleted {
		t.Fatalf("read token reading: %+v, %v", got, err)
	}
	if ms, err := writer.Members(ctx); err != nil || len(ms) != 1 {
		t.Fatalf("write token listing members: %v, %v", ms, err)
	}
	// The node's own client carries its internal credentials.
	if _, err := n.Client().Get(ctx, "tls-1"); err != nil {
		t.Fatalf("the node's own client: %v", err)
	}

	// Profiles: write tokens only.
	tlsClient := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig(ca)}}
	for token, want := range map[string]int{"": 401, readToken: 403, writeToken: 200} {
		if code, _ := get(t, tlsClient, addr+"/debug/pprof/", token); code != want {
			t.Errorf("/debug/pprof/ with %q: %d, want %d", token, code, want)
		}
	}
	// Plain HTTP: /healthz only, the status only, a token sent in the clear
	// not honoured.
	plain := "http://" + n.HTTPAddr()
	if code, body := get(t, http.DefaultClient, plain+"/v1/tasks/tls-1", writeToken); code != 400 || !strings.Contains(body, "HTTPS") {
		t.Errorf("plain HTTP GET /v1/tasks/tls-1: %d %s, want 400 naming HTTPS", code, body)
	}
	if code, body := get(t, http.DefaultClient, plain+"/healthz", writeToken); code != 200 || strings.Contains(body, n.ID()) {
		t.Errorf("plain HTTP /healthz: %d %s, want 200 without the member's id", code, body)
	}
	if code, body := get(t, tlsClient, addr+"/healthz", ""); code != 200 || strings.Contains(body, n.ID()) {
		t.Errorf("anonymous /healthz: %d %s, want 200 without the member's id", code, body)
	}
	if code, body := get(t, tlsClient, addr+"/healthz", readToken); code != 200 || !strings.Contains(body, n.ID()) {
		t.Errorf("/healthz with a token: %d %s, want the member's id", code, body)
	}
}

// TestClientCAFromEnvironment: $GRANARY_CA and $GRANARY_TOKEN are the
// client's defaults, and a bare address is then https://.
func TestClientCAFromEnvironment(t *testing.T) {
	ca := testpki.NewCA(t)
	cert := ca.Issue(t, "api")
	cfg := embedded(t)
	cfg.TLSCert, cfg.TLSKey, cfg.Tokens = cert.CertFile, cert.KeyFile, tokens(t)
	n := start(t, cfg)
	t.Setenv("GRANARY_CA", ca.CertFile)
	t.Setenv("GRANARY_TOKEN", writeToken)
	c, err := client.New(client.Config{Addr: n.HTTPAddr()})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.Addr(), "https://") {
		t.Fatalf("address %s, want https://", c.Addr())
	}
	if _, err := c.Submit(testutil.Context(t, time.Minute), api.SubmitRequest{Kind: "resize", Payload: json.RawMessage(`{"tiles":1}`)}); err != nil {
		t.Fatal(err)
	}
}

func tlsConfig(ca *testpki.CA) *tls.Config { return &tls.Config{RootCAs: ca.Pool()} }

func get(t *testing.T, c *http.Client, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestBrowserAttacks: a loopback node without tokens (granary dev) runs
// nothing a web page of another site makes the visitor's browser send: no
// cross-site POST of a task (CSRF) and no request through a DNS name
// rebound to 127.0.0.1; the node's own clients still work.
func TestBrowserAttacks(t *testing.T) {
	n := start(t, embedded(t))
	base := "http://" + n.HTTPAddr()
	send := func(method, path, host string, h map[string]string) int {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(`{"kind":"resize","id":"csrf-1","payload":{"tiles":1}}`))
		if err != nil {
			t.Fatal(err)
		}
		if host != "" {
			req.Host = host
		}
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := send("POST", "/v1/tasks", "", map[string]string{"Content-Type": "text/plain", "Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}); code != http.StatusForbidden {
		t.Errorf("cross-site POST of a task: %d, want 403", code)
	}
	if code := send("GET", "/v1/tasks", "rebound.evil.example:"+strings.Split(n.HTTPAddr(), ":")[1], nil); code != http.StatusForbidden {
		t.Errorf("GET through a rebound DNS name: %d, want 403", code)
	}
	ctx := testutil.Context(t, 10*time.Second)
	if _, err := n.Client().Get(ctx, "csrf-1"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("the cross-site task: %v, want not found (never stored)", err)
	}
	if _, err := n.Client().Submit(ctx, api.SubmitRequest{Kind: "resize", ID: "cli-1", Payload: []byte(`{"tiles":1}`)}); err != nil {
		t.Fatalf("the node's own client: %v", err)
	}
}
