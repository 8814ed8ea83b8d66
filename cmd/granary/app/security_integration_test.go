package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/remote"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/cluster/httpapi"
	"github.com/granary-rt/granary/cluster/node"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testnode"
	"github.com/granary-rt/granary/internal/testpki"
	"github.com/granary-rt/granary/internal/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// tlsMember starts `granary node` with a certificate of ca for its --bind
// address, so its remoting is mutual TLS.
func tlsMember(t *testing.T, ca *testpki.CA, consulAddr, id string) *testnode.Node {
	t.Helper()
	bind := testnode.FreeAddr(t)
	host, _, _ := net.SplitHostPort(bind)
	cert := ca.Issue(t, id, host)
	// The later --bind wins: the certificate names its host.
	return testnode.ClusterNode(t, "sec", consulAddr, id, "--bind", bind,
		"--cluster-ca", ca.CertFile, "--cluster-cert", cert.CertFile, "--cluster-key", cert.KeyFile)
}

// bindOf is the node-to-node address a member registered.
func bindOf(t *testing.T, nd *testnode.Node) string {
	t.Helper()
	ms, err := nd.Client().Members(testutil.Context(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.ID == nd.ID {
			return m.Addr
		}
	}
	t.Fatalf("%s is not among the members %+v", nd.ID, ms)
	return ""
}

// connect opens protoactor's remoting stream to addr, as a peer does
// before it sends anything, and waits for the member's answer.
func connect(ctx context.Context, addr string, creds grpc.DialOption) error {
	conn, err := grpc.DialContext(ctx, addr, creds) // the gRPC of protoactor-go's go.mod has no NewClient yet
	if err != nil {
		return err
	}
	defer conn.Close()
	stream, err := remote.NewRemotingClient(conn).Receive(ctx)
	if err != nil {
		return err
	}
	err = stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectRequest{ConnectRequest: &remote.ConnectRequest{
		ConnectionType: &remote.ConnectRequest_ServerConnection{ServerConnection: &remote.ServerConnection{SystemId: "intruder", Address: "127.0.0.1:1"}}}}})
	if err != nil {
		return err
	}
	_, err = stream.Recv()
	return err
}

// TestClusterRefusesPeersWithoutItsCertificate runs two members with
// mutual TLS from one CA. A bare protoactor peer (plaintext gRPC), a TLS
// client without a certificate and one with another CA's certificate
// cannot even connect to a member's --bind, and the member stores nothing;
// a peer with a certificate of the cluster connects, and the members hand
// each other tasks and changes over TLS.
func TestClusterRefusesPeersWithoutItsCertificate(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts granary processes")
	}
	agent := testconsul.Start(t, testconsul.Options{})
	ca := testpki.NewCA(t)
	a := tlsMember(t, ca, agent.HTTPAddr(), "sec-a")
	b := tlsMember(t, ca, agent.HTTPAddr(), "sec-b")
	bind := bindOf(t, a)
	host, _, _ := net.SplitHostPort(bind)
	ctx := testutil.Context(t, 2*time.Minute)

	dialCtx := func() context.Context { return testutil.Context(t, 5*time.Second) }
	if err := connect(dialCtx(), bind, grpc.WithTransportCredentials(insecure.NewCredentials())); err == nil {
		t.Error("a plaintext protoactor peer connected to a member's --bind")
	}
	stranger := testpki.NewCA(t).Issue(t, "stranger", host)
	for name, certs := range map[string][]tls.Certificate{"no certificate": nil, "another CA's certificate": {stranger.TLS(t)}} {
		creds := credentials.NewTLS(&tls.Config{RootCAs: ca.Pool(), Certificates: certs})
		if err := connect(dialCtx(), bind, grpc.WithTransportCredentials(creds)); err == nil {
			t.Errorf("a TLS peer with %s connected to a member's --bind", name)
		}
		// Raw TLS: the handshake, or the first read after it, fails.
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", bind, &tls.Config{RootCAs: ca.Pool(), Certificates: certs})
		if err == nil {
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = conn.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))
			_, err = conn.Read(make([]byte, 1))
			conn.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("raw TLS with %s: %v, want the member to refuse the certificate", name, err)
		}
	}
	if list, err := a.Client().List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("member a stores %d tasks (%v), want none", len(list), err)
	}
	// The control: a certificate of the cluster connects.
	member := ca.Issue(t, "peer", host)
	creds := credentials.NewTLS(&tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{member.TLS(t)}})
	if err := connect(dialCtx(), bind, grpc.WithTransportCredentials(creds)); err != nil {
		t.Fatalf("a peer with the cluster's certificate: %v", err)
	}
	// Members hand tasks to each other: a task submitted on a, owned by b,
	// completes, and a's waiter hears of it.
	for i := 0; ; i++ {
		st, err := a.Client().SubmitAndWait(ctx, api.SubmitRequest{ID: fmt.Sprintf("tls-%d", i), Kind: "sleep", Payload: json.RawMessage(`{"ms":20}`)}, nil)
		if err != nil || st.State != api.StateCompleted {
			t.Fatalf("tls-%d: %+v, %v", i, st, err)
		}
		if st.Owner == b.ID {
			break
		}
	}
}

// TestNodeRefusesToListenBeyondLoopback: `granary dev` or `granary node`
// with --http on a non-loopback address and no TLS and tokens exits 2
// saying why, before anything starts; with --insecure it serves.
func TestNodeRefusesToListenBeyondLoopback(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts granary processes")
	}
	bin := testnode.Binary(t)
	for _, args := range [][]string{
		{"dev", "--data-dir", t.TempDir(), "--http", "0.0.0.0:0"},
		{"node", "--cluster", "x", "--consul", "127.0.0.1:1", "--bind", "127.0.0.1:0", "--http", "0.0.0.0:0"},
		{"node", "--cluster", "x", "--consul", "127.0.0.1:1", "--bind", "0.0.0.0:0", "--advertise", "10.9.8.7:7000", "--http", "127.0.0.1:0"},
	} {
		cmd := exec.Command(bin, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("granary %v did not exit", args)
		}
		if code := cmd.ProcessState.ExitCode(); code != exitUsage || !strings.Contains(stderr.String(), "not a loopback address") || !strings.Contains(stderr.String(), "--insecure") {
			t.Errorf("granary %v: exit %d, %q; want exit 2 naming the address and --insecure", args, code, stderr.String())
		}
	}
	_, port, _ := net.SplitHostPort(testnode.FreeAddr(t))
	cmd := exec.Command(bin, "dev", "--data-dir", t.TempDir(), "--http", "0.0.0.0:"+port, "--insecure")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	c, err := client.New(client.Config{Addr: "127.0.0.1:" + port, RetryFor: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Health(testutil.Context(t, 30*time.Second)); err != nil {
		t.Fatalf("granary dev --http 0.0.0.0:%s --insecure: %v", port, err)
	}
}

// TestCLIWithTLSAndTokens: the client commands reach a node with a
// certificate and tokens through --ca and --token-file; without the CA
// they fail, with the read token they read but do not submit.
func TestCLIWithTLSAndTokens(t *testing.T) {
	t.Setenv("GRANARY_TOKEN", "")
	ca := testpki.NewCA(t)
	cert := ca.Issue(t, "api")
	const readToken, writeToken = "read-token-0123456789", "write-token-0123456789"
	dir := t.TempDir()
	tokensFile := filepath.Join(dir, "tokens")
	write(t, tokensFile, "# roles\nread "+readToken+"\nwrite "+writeToken+"\n")
	readFile, writeFile := filepath.Join(dir, "read"), filepath.Join(dir, "write")
	write(t, readFile, readToken+"\n")
	write(t, writeFile, writeToken+"\n")
	tokens, err := httpapi.LoadTokens(tokensFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := node.DefaultConfig()
	cfg.Registry, cfg.DataDir, cfg.HTTPAddr = stockKinds(t), t.TempDir(), "127.0.0.1:0"
	cfg.TLSCert, cfg.TLSKey, cfg.Tokens = cert.CertFile, cert.KeyFile, tokens
	cfg.Logger = testutil.Logger(t, slog.LevelWarn)
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(testutil.Context(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Stop(context.Background()) })
	addr := "https://" + n.HTTPAddr()
	submit := []string{"submit", "--kind", "sleep", "--payload", `{"ms":1}`, "--id", "cli-tls", "--wait", "--timeout", "20s"}
	if r := cli(t, addr, append(submit, "--token-file", writeFile)...); r.code != exitFailed || !strings.Contains(r.stderr, "certificate") {
		t.Errorf("without --ca: exit %d, %q; want 1 and a certificate error", r.code, r.stderr)
	}
	if r := cli(t, addr, append(submit, "--ca", ca.CertFile)...); r.code != exitFailed || !strings.Contains(r.stderr, "unauthenticated") {
		t.Errorf("without a token: exit %d, %q; want 1, unauthenticated", r.code, r.stderr)
	}
	if r := cli(t, addr, append(submit, "--ca", ca.CertFile, "--token-file", readFile)...); r.code != exitFailed || !strings.Contains(r.stderr, "permission denied") {
		t.Errorf("with the read token: exit %d, %q; want 1, permission denied", r.code, r.stderr)
	}
	if r := cli(t, addr, append(submit, "--ca", ca.CertFile, "--token-file", writeFile)...); r.code != exitOK {
		t.Errorf("with the write token: exit %d, %q", r.code, r.stderr)
	}
	if r := cli(t, addr, "status", "cli-tls", "--ca", ca.CertFile, "--token-file", readFile); r.code != exitOK || !strings.Contains(r.stdout, "completed") {
		t.Errorf("status with the read token: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}
