package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testnode"
	"github.com/granary-rt/granary/internal/testpki"
	"github.com/granary-rt/granary/internal/testutil"
	consulapi "github.com/hashicorp/consul/api"
)

// recorder is an impostor's HTTP API: it answers every request and keeps
// what it was sent.
type recorder struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []string // "METHOD /path Authorization"
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.seen = append(r.seen, req.Method+" "+req.URL.Path+" auth="+req.Header.Get("Authorization"))
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) addr() string { return r.srv.Listener.Addr().String() }

func (r *recorder) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen)
}

// silentListener accepts connections and never answers: an impostor's
// node-to-node address.
func silentListener(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestImpostorRegistrationIsNoMember: a service named granary-<cluster>
// registered through Consul's agent API with no health check, its
// http_addr at a listener that records what it is sent, is no member:
// two real members with tokens never call it (no GET /v1/member with the
// write token), place no grain identity and no task on it, do not list
// it, and the CLI's --cluster discovery never sends it the read token.
// On the code before member keys it was a passing member within seconds.
func TestImpostorRegistrationIsNoMember(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts granary processes")
	}
	const writeTok, readTok = "imp-write-token-0123456789", "imp-read-token-0123456789"
	dir := t.TempDir()
	tokensFile, readFile := filepath.Join(dir, "tokens"), filepath.Join(dir, "read")
	write(t, tokensFile, "write "+writeTok+"\nread "+readTok+"\n")
	write(t, readFile, readTok+"\n")
	t.Setenv("GRANARY_TOKEN", writeTok) // testnode's clients
	agent := testconsul.Start(t, testconsul.Options{})
	a := testnode.ClusterNode(t, "imp", agent.HTTPAddr(), "imp-a", "--tokens", tokensFile)
	b := testnode.ClusterNode(t, "imp", agent.HTTPAddr(), "imp-b", "--tokens", tokensFile)
	ctx := testutil.Context(t, 3*time.Minute)

	kinds, err := a.Client().Kinds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, k := range kinds {
		names = append(names, k.Name)
	}
	rec := newRecorder(t)
	err = agent.Client().Agent().ServiceRegister(&consulapi.AgentServiceRegistration{
		ID: "imp-x", Name: "granary-imp", Address: "127.0.0.1", Port: silentListener(t),
		Meta: map[string]string{"http_addr": rec.addr(), "kinds": strings.Join(names, ","), "instance": "forged", "version": "x"},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Both members see the registration (they log it once, at warn), or,
	// on the old code, take it in and call it.
	const ignoring = "ignoring a registration of the cluster's service: not a member"
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		return len(rec.requests()) > 0 || (len(a.LogEntries(1, ignoring)) > 0 && len(b.LogEntries(1, ignoring)) > 0),
			"the members logged nothing about the impostor, which received nothing"
	})

	for _, n := range []*testnode.Node{a, b} {
		ms, err := n.Client().Members(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.ID == "imp-x" {
				t.Errorf("%s lists the impostor as a member: %+v", n.ID, m)
			}
		}
	}
	members := []string{a.ID, b.ID}
	for i := range 12 {
		callCtx := testutil.Context(t, 10*time.Second)
		w, err := whoami(callCtx, []*testnode.Node{a, b}[i%2].Client(), fmt.Sprintf("imp-%d", i))
		if err != nil || !slices.Contains(members, w.Member) {
			t.Errorf("whoami imp-%d: %+v, %v; want an answer from a member", i, w, err)
		}
	}
	for i := range 12 {
		st, err := a.Client().SubmitAndWait(testutil.Context(t, 20*time.Second),
			api.SubmitRequest{ID: fmt.Sprintf("imp-task-%d", i), Kind: "echo", Payload: json.RawMessage(`{"n":1}`)}, nil)
		if err != nil || st.State != api.StateCompleted || !slices.Contains(members, st.Owner) {
			t.Errorf("task imp-task-%d: %+v, %v; want completed by a member", i, st, err)
		}
	}
	// The cluster report lists every registration; it must not call this
	// one with the member's credentials.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a.HTTP+"/v1/cluster", nil)
	req.Header.Set("Authorization", "Bearer "+writeTok)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	// The CLI finds the cluster through Consul.
	for range 10 {
		if r := cli(t, "", "tasks", "--cluster", "imp", "--consul", agent.HTTPAddr(), "--token-file", readFile); r.code != exitOK {
			t.Errorf("granary tasks --cluster imp: exit %d, %s", r.code, r.stderr)
		}
	}
	if got := rec.requests(); len(got) > 0 {
		t.Fatalf("the impostor received %d requests, first %q; want none", len(got), got[:min(len(got), 5)])
	}
}

// TestMemberWithoutClusterCertsRefused: a member started without the
// cluster's --cluster-ca/-cert/-key in a cluster whose members use mutual
// TLS could never talk to them; it exits at start, naming the flags,
// instead of joining as a passing member that times out every call placed
// on it.
func TestMemberWithoutClusterCertsRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts granary processes")
	}
	agent := testconsul.Start(t, testconsul.Options{})
	ca := testpki.NewCA(t)
	a := tlsMember(t, ca, agent.HTTPAddr(), "sec-a")
	for name, extra := range map[string][]string{
		"no certificates": nil,
		"another CA's":    tlsArgs(t, testpki.NewCA(t), "sec-other"),
	} {
		args := append([]string{"node", "--cluster", "sec", "--consul", agent.HTTPAddr(), "--bind", testnode.FreeAddr(t),
			"--http", testnode.FreeAddr(t), "--node-id", "sec-plain", "--join-timeout", "30s"}, extra...)
		code, out := runUntilExit(t, 45*time.Second, testnode.Binary(t), args...)
		if code == 0 || !strings.Contains(out, "--cluster-ca") || !strings.Contains(out, "sec-a") {
			t.Errorf("%s: exit %d, output:\n%s\nwant a failed start naming --cluster-ca and the member sec-a", name, code, lastLines(out, 15))
		}
	}
	ms, err := a.Client().Members(testutil.Context(t, 10*time.Second))
	if err != nil || len(ms) != 1 {
		t.Fatalf("members after the refused starts: %+v, %v; want sec-a alone", ms, err)
	}
}

// tlsArgs are the --cluster-* flags of a certificate of ca for 127.0.0.1.
func tlsArgs(t *testing.T, ca *testpki.CA, id string) []string {
	cert := ca.Issue(t, id, "127.0.0.1")
	return []string{"--cluster-ca", ca.CertFile, "--cluster-cert", cert.CertFile, "--cluster-key", cert.KeyFile}
}

// runUntilExit runs bin and waits for it to exit within timeout, killing
// it (and failing the test) otherwise; it returns the exit code and the
// combined output.
func runUntilExit(t *testing.T, timeout time.Duration, bin string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	select {
	case <-done:
		return cmd.ProcessState.ExitCode(), out.String()
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("granary %s still runs after %v; output:\n%s", strings.Join(args, " "), timeout, lastLines(out.String(), 20))
		return -1, ""
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
