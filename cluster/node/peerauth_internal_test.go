package node

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/granary-rt/granary/cluster/httpapi"
	"github.com/granary-rt/granary/internal/testpki"
)

// TestMembersAuthenticateByCertificate: with a cluster CA and an API
// certificate, a member calls another member's API with its cluster
// certificate and no bearer token, even one its client was given; the
// API takes a certificate of the cluster CA for a member's (write) role,
// and anything else still needs a token.
func TestMembersAuthenticateByCertificate(t *testing.T) {
	clusterCA, apiCA := testpki.NewCA(t), testpki.NewCA(t)
	member, api := clusterCA.Issue(t, "member", "127.0.0.1"), apiCA.Issue(t, "api", "127.0.0.1")
	tokens, err := httpapi.NewTokens([]string{"read-token-0123456789"}, []string{"write-token-0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{ClusterCA: clusterCA.CertFile, ClusterCert: member.CertFile, ClusterKey: member.KeyFile,
		TLSCert: api.CertFile, TLSKey: api.KeyFile, Tokens: tokens}
	sec, err := loadSecurity(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sec.memberCert == nil || sec.remoting == "" {
		t.Fatal("a member with a cluster CA and an API certificate has no member certificate or remoting digest")
	}
	n := &Node{cfg: cfg, sec: sec}

	var mu sync.Mutex
	var sent []string // Authorization headers that reached the server
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sent = append(sent, r.Header.Get("Authorization"))
		mu.Unlock()
		n.peerIdentity(httpapi.RequireTokens(tokens, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNoContent)
		}))).ServeHTTP(w, r)
	}))
	srv.TLS = sec.api.Clone()
	srv.StartTLS()
	t.Cleanup(srv.Close)

	do := func(c *http.Client, token string) (int, error) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/tasks", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := do(n.newMemberHTTP(), tokens.Internal()); err != nil || code != http.StatusNoContent {
		t.Fatalf("a member's call: %d, %v; want 204 by its certificate", code, err)
	}
	mu.Lock()
	if len(sent) != 1 || sent[0] != "" {
		t.Errorf("the member's call carried Authorization %q; want none", sent)
	}
	mu.Unlock()

	roots := apiCA.Pool()
	plain := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	if code, err := do(plain, ""); err != nil || code != http.StatusUnauthorized {
		t.Errorf("a client without certificate or token: %d, %v; want 401", code, err)
	}
	if code, err := do(plain, "read-token-0123456789"); err != nil || code != http.StatusForbidden {
		t.Errorf("a client with the read token: %d, %v; want 403", code, err)
	}
	stranger := testpki.NewCA(t).Issue(t, "stranger", "127.0.0.1")
	withStranger := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{stranger.TLS(t)}}}}
	if code, err := do(withStranger, ""); err == nil {
		t.Errorf("a client with another CA's certificate: %d; want the handshake refused", code)
	}
	// The API's own certificate (another CA) is not a member's either.
	withAPI := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{api.TLS(t)}}}}
	if code, err := do(withAPI, ""); err == nil && code != http.StatusUnauthorized {
		t.Errorf("a client with the API's certificate: %d; want refused", code)
	}
}
