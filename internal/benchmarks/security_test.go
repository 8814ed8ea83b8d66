package benchmarks

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"
)

// TestGranaryPairTLSIsTLS: the TLS pair's members answer a TLS handshake
// only with a certificate of their CA, so BenchmarkGrainCall/granary_tls
// measures calls over mutual TLS and not plaintext.
func TestGranaryPairTLSIsTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := StartGranaryPairTLS(ctx, t)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	addr := p.systems[1].Address()
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
