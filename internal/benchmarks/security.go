package benchmarks

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/remote"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/internal/testnode"
	"github.com/granary-rt/granary/internal/testpki"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// clusterSecurity is what the members of one secured cluster share: the
// cluster CA (which also signs the APIs' certificates, as README's
// "Securing a cluster" allows) and the token file.
type clusterSecurity struct {
	ca         *testpki.CA
	tokensFile string
}

// benchWriteToken is the write token of the benchmarks' secured clusters:
// the callers send it, and the members call each other's APIs with it.
const benchWriteToken = "bench-write-token-0123456789"

func newClusterSecurity(tb testing.TB) clusterSecurity {
	tb.Helper()
	s := clusterSecurity{ca: testpki.NewCA(tb), tokensFile: filepath.Join(tb.TempDir(), "tokens")}
	if err := os.WriteFile(s.tokensFile, []byte("write "+benchWriteToken+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	return s
}

// node starts `granary node` as member id with everything on: remoting is
// mutual TLS (--cluster-ca, --cluster-cert, --cluster-key), the API serves
// TLS (--tls-cert, --tls-key) and wants a token (--tokens). It returns once
// the node lists itself among the members.
//
// testnode.ClusterNode cannot start it: it picks the HTTP address itself,
// after the certificate naming it would have had to be issued, and waits
// for the node over plain HTTP without a token, which a node with
// --tls-cert refuses beyond /healthz. So this starts the same binary with
// the same flags (and the security flags) itself.
func (s clusterSecurity) node(b *testing.B, consulAddr, id string) durableNode {
	b.Helper()
	bind, httpAddr := testnode.FreeAddr(b), testnode.FreeAddr(b)
	bindHost, _, _ := net.SplitHostPort(bind)
	httpHost, _, _ := net.SplitHostPort(httpAddr)
	cert := s.ca.Issue(b, id, bindHost, httpHost)
	logPath := filepath.Join(b.TempDir(), id+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(testnode.Binary(b), "node", "--cluster", "bench", "--consul", consulAddr, "--bind", bind, "--http", httpAddr,
		"--node-id", id, "--log-level", "warn", "--log-format", "json",
		"--cluster-ca", s.ca.CertFile, "--cluster-cert", cert.CertFile, "--cluster-key", cert.KeyFile,
		"--tls-cert", cert.CertFile, "--tls-key", cert.KeyFile, "--tokens", s.tokensFile)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the benchmark
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
	})

	// No HTTPClient: a client brings its TLS settings there or takes
	// CAFile, not both. Its own transport keeps 64 connections per node
	// alive, more than a coalescing client has requests in flight.
	cfg := client.Config{Addr: httpAddr, CAFile: s.ca.CertFile, Token: benchWriteToken}
	c, err := client.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for {
		ms, err := c.Members(ctx)
		if slices.ContainsFunc(ms, func(m api.Member) bool { return m.ID == id }) {
			return durableNode{pid: cmd.Process.Pid, client: cfg}
		}
		select {
		case <-exited:
			b.Fatalf("secured node %s exited (log %s): %v", id, logPath, err)
		case <-ctx.Done():
			b.Fatalf("secured node %s did not join within %s (log %s): %v", id, startTimeout, logPath, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// remoteOptions make a member's remoting mutual TLS as cluster/node does
// from --cluster-ca, --cluster-cert and --cluster-key (its security.go,
// whose remoteOptions are unexported): TLS 1.3 both ways, a client
// certificate of the CA required, with a certificate of the CA for name,
// valid for 127.0.0.1.
func (s clusterSecurity) remoteOptions(tb testing.TB, name string) []remote.ConfigOption {
	tb.Helper()
	cert := s.ca.Issue(tb, name).TLS(tb)
	server := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    s.ca.Pool(),
	}
	client := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		RootCAs:      s.ca.Pool(),
	}
	return []remote.ConfigOption{
		remote.WithServerOptions(grpc.Creds(credentials.NewTLS(server))),
		remote.WithDialOptions(grpc.WithTransportCredentials(credentials.NewTLS(client))),
	}
}
