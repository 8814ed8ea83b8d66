package benchmarks

import (
	"crypto/tls"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/remote"
	"github.com/granary-rt/granary/cluster/tasks"
)

// TestGranaryPairTLSIsTLS: the TLS pair's members answer a TLS handshake
// only with a certificate of their CA, so BenchmarkGrainCall/granary_tls
// measures calls over mutual TLS and not plaintext.
func TestGranaryPairTLSIsTLS(t *testing.T) {
	// One member of the pair, with the pair's remoting options: a second
	// remote started in this process would race with the first over
	// gRPC's process-wide logger, which protoactor sets in every Start.
	sec := newClusterSecurity(t)
	sys := tasks.NewActorSystem(slog.New(slog.DiscardHandler))
	r := remote.NewRemote(sys, remote.Configure("127.0.0.1", 0, sec.remoteOptions(t, "b")...))
	r.Start()
	defer func() { r.Shutdown(false); sys.Shutdown() }()
	addr := sys.Address()
	d := &net.Dialer{Timeout: 5 * time.Second}
	// The server's certificate is of another CA than the system's:
	// verification fails unless skipped.
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err == nil {
		// Without a client certificate, TLS 1.3 fails at the first read.
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = conn.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
	}
	// A plaintext server would fail the handshake too, but not over the
	// certificate.
	if err == nil || !strings.Contains(err.Error(), "certificate required") {
		t.Fatalf("%s with a TLS client without a certificate: %v, want the member to ask for one", addr, err)
	}
}
