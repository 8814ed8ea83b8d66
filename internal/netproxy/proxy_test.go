package netproxy

import (
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"
)

// prompt bounds every wait in these tests: the proxy acts on loopback, so
// anything slower than this means it failed to act, not that it was slow.
const prompt = 5 * time.Second

// startEcho runs a TCP echo server on a free loopback port until the test
// ends, and returns its address.
func startEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				io.Copy(c, c)
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func newProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	p, err := New("127.0.0.1:0", target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, prompt)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes msg and reads it back through an echo server.
func roundTrip(c net.Conn, msg string) error {
	c.SetDeadline(time.Now().Add(prompt))
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return errors.New("echo mismatch: got " + string(buf))
	}
	return nil
}

// requireCut asserts that the connection is dead: a read ends with EOF or
// an error well before the deadline, rather than timing out.
func requireCut(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(prompt))
	_, err := c.Read(make([]byte, 1))
	if err == nil {
		t.Fatal("read succeeded on a severed connection")
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read on a severed connection hung until the deadline (%v)", prompt)
	}
}

func TestForwardsTraffic(t *testing.T) {
	p := newProxy(t, startEcho(t))
	c := dial(t, p.Addr())
	for _, msg := range []string{"hello", "second message", "third"} {
		if err := roundTrip(c, msg); err != nil {
			t.Fatalf("round trip %q: %v", msg, err)
		}
	}
}

func TestHalfCloseIsForwarded(t *testing.T) {
	p := newProxy(t, startEcho(t))
	c := dial(t, p.Addr())
	c.SetDeadline(time.Now().Add(prompt))
	if _, err := c.Write([]byte("bye")); err != nil {
		t.Fatal(err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read after half-close: %v", err)
	}
	if string(got) != "bye" {
		t.Fatalf("got %q after half-close, want %q", got, "bye")
	}
}

func TestSeverAndRestore(t *testing.T) {
	p := newProxy(t, startEcho(t))
	live := dial(t, p.Addr())
	if err := roundTrip(live, "before"); err != nil {
		t.Fatal(err)
	}

	p.Sever()
	requireCut(t, live)
	// A new connection is accepted (the listener stays up, so clients see
	// a reset rather than a dial time-out) but closed at once.
	requireCut(t, dial(t, p.Addr()))

	p.Restore()
	if err := roundTrip(dial(t, p.Addr()), "after"); err != nil {
		t.Fatalf("new connection after Restore: %v", err)
	}
}

func TestUnreachableTargetClosesClient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()

	p := newProxy(t, dead)
	requireCut(t, dial(t, p.Addr()))
}

func TestCloseStopsEverything(t *testing.T) {
	echo := startEcho(t)
	before := runtime.NumGoroutine()

	p, err := New("127.0.0.1:0", echo)
	if err != nil {
		t.Fatal(err)
	}
	addr := p.Addr()
	var clients []net.Conn
	for i := range 3 {
		c := dial(t, addr)
		if err := roundTrip(c, "ping"); err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		clients = append(clients, c)
	}

	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for _, c := range clients {
		requireCut(t, c)
		c.Close()
	}
	if c, err := net.DialTimeout("tcp", addr, prompt); err == nil {
		c.Close()
		t.Fatalf("dial %s succeeded after Close", addr)
	}

	// The proxy's own goroutines are gone when Close returns; the echo
	// server's per-connection goroutines exit asynchronously once they see
	// the proxy's side close, hence the bounded poll.
	deadline := time.Now().Add(prompt)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Close, %d before:\n%s",
				runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
