package node

import (
	"crypto/tls"
	"errors"

	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// emfileListener fails its first Accepts as a process out of file
// descriptors does, then accepts from the real listener.
type emfileListener struct {
	net.Listener
	fails atomic.Int32
}

func (l *emfileListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestSniffSurvivesEMFILE: a TLS node's listener out of file descriptors
// (a flood of connections) serves again once they are back; it used to
// fail every later Accept, and the API was gone for good.
func TestSniffSurvivesEMFILE(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &emfileListener{Listener: raw}
	l.fails.Store(5)
	s := newSniffListener(l, &tls.Config{}, 16)
	t.Cleanup(func() { s.Close() })
	c, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("G")); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		ac, err := s.Accept()
		if err == nil {
			ac.Close()
		}
		got <- err
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("Accept after EMFILE: %v; want the connection", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Accept after EMFILE: no connection within 10s")
	}
}

// TestSniffBound: past maxSniffing silent connections, the oldest is
// closed to make room, so silent connections cannot pile up unbounded
// before the server's own bound sees them.
func TestSniffBound(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := newSniffListener(raw, &tls.Config{}, 2)
	t.Cleanup(func() { s.Close() })
	var conns []net.Conn
	for i := range 3 {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		defer c.Close()
		// Wait until the listener tracks it, so the order is known.
		deadline := time.Now().Add(10 * time.Second)
		for {
			s.mu.Lock()
			n := len(s.sniffing)
			s.mu.Unlock()
			if n == min(i+1, 2) && (i < 2 || closedByPeer(conns[0])) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("connection %d: %d being sniffed", i, n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if !closedByPeer(conns[0]) {
		t.Fatal("the oldest silent connection is still open past the bound")
	}
	if closedByPeer(conns[2]) {
		t.Fatal("the newest connection was closed")
	}
}

// closedByPeer reports a connection the other side closed.
func closedByPeer(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	var b [1]byte
	_, err := c.Read(b[:])
	_ = c.SetReadDeadline(time.Time{})
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}
