package netproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// dialTimeout bounds how long a proxied connection waits for the target.
	// Targets are local test servers that answer in milliseconds; a few
	// seconds lets a loaded CI machine through without letting a dead target
	// hold a client for the kernel's full connect time-out.
	dialTimeout = 5 * time.Second

	// acceptBackoff is the pause after a non-fatal Accept error (for example
	// EMFILE), so the accept loop does not spin while the condition lasts.
	acceptBackoff = 50 * time.Millisecond
)

// Proxy forwards TCP connections from its listen address to a target
// address until it is severed or closed. It is safe for concurrent use.
type Proxy struct {
	ln     net.Listener
	target string

	// ctx is cancelled by Close so that dials to the target still in flight
	// give up at once instead of running out their time-out.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the accept loop and every per-connection goroutine

	mu      sync.Mutex
	severed bool
	closed  bool
	conns   map[net.Conn]struct{} // both ends of every live link
	// dropMatch, dropLeft: DropAnswers' pattern and the answers still to
	// lose; dropped counts those lost.
	dropMatch []byte
	dropLeft  int
	dropped   atomic.Int64
}

// New listens on listenAddr (for example "127.0.0.1:0" for a free port) and
// forwards every accepted connection to target.
func New(listenAddr, target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", listenAddr)
	if err != nil {
		return nil, fmt.Errorf("netproxy: listen on %s: %w", listenAddr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		ln:     ln,
		target: target,
		ctx:    ctx,
		cancel: cancel,
		conns:  make(map[net.Conn]struct{}),
	}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Addr is the address clients should dial, such as "127.0.0.1:41234".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Sever cuts the link: it closes every live connection and, until Restore,
// accepts new connections only to close them immediately, so clients see
// EOF or a reset promptly rather than a hanging dial.
func (p *Proxy) Sever() {
	p.mu.Lock()
	p.severed = true
	live := p.conns
	p.conns = make(map[net.Conn]struct{})
	p.mu.Unlock()
	closeAll(live)
}

// Restore heals a severed link: new connections are forwarded again.
// Connections closed by Sever stay closed.
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.severed = false
	p.mu.Unlock()
}

// Close stops listening, closes every live connection and waits for all the
// proxy's goroutines to exit. It is safe to call more than once; later calls
// return nil after the same wait.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return nil
	}
	p.closed = true
	live := p.conns
	p.conns = nil
	p.mu.Unlock()

	p.cancel()
	err := p.ln.Close()
	closeAll(live)
	p.wg.Wait()
	if err != nil {
		return fmt.Errorf("netproxy: close listener: %w", err)
	}
	return nil
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-time.After(acceptBackoff):
				continue
			case <-p.ctx.Done():
				return
			}
		}
		if !p.admit(c) {
			c.Close()
			continue
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

// admit registers a newly accepted connection unless the proxy is severed
// or closed.
func (p *Proxy) admit(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.severed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

// adopt registers the upstream end of a link, unless Sever or Close dropped
// the client end while the dial was in flight.
func (p *Proxy) adopt(client, upstream net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, live := p.conns[client]; !live {
		return false
	}
	p.conns[upstream] = struct{}{}
	return true
}

func (p *Proxy) drop(conns ...net.Conn) {
	p.mu.Lock()
	for _, c := range conns {
		delete(p.conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// serve dials the target for one accepted client and copies bytes both ways
// until both directions finish or the link is cut.
func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	d := net.Dialer{Timeout: dialTimeout}
	upstream, err := d.DialContext(p.ctx, "tcp", p.target)
	if err != nil {
		p.drop(client)
		return
	}
	if !p.adopt(client, upstream) {
		client.Close()
		upstream.Close()
		return
	}

	clientDone := make(chan struct{})
	var doomed atomic.Bool // an answer on this link is to be lost
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(clientDone)
		p.forwardRequests(upstream, client, &doomed)
	}()
	p.forwardAnswers(client, upstream, &doomed)
	<-clientDone
	p.drop(client, upstream)
}

// closeWrite passes a clean EOF from the other end on to dst as a
// half-close, so protocols that shut down one direction first keep
// working, and reports whether it did; any other error (or a failed
// half-close) has the caller close both ends, which also ends the copy in
// the other direction.
func closeWrite(dst net.Conn, readErr error) bool {
	if !errors.Is(readErr, io.EOF) {
		return false
	}
	hc, ok := dst.(interface{ CloseWrite() error })
	return ok && hc.CloseWrite() == nil
}

func closeAll(conns map[net.Conn]struct{}) {
	for c := range conns {
		c.Close()
	}
}
