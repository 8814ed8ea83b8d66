package netproxy

import (
	"bytes"
	"net"
	"sync/atomic"
)

// DropAnswers makes the proxy lose the answers of the next n requests
// whose bytes contain match (such as "PUT /v1/txn"): each such request is
// forwarded whole, the target acts on it, and when its answer starts to
// come back the proxy closes both ends instead of passing it on. The
// client sees its connection fail after sending the request, as when a
// server commits a write and loses its leadership or its connection
// before it answers: the write's outcome is unknown to the client.
//
// The match is looked for within each read from the client, which holds a
// whole request line for HTTP/1.1 clients such as Go's. Calling it again
// replaces the previous count.
func (p *Proxy) DropAnswers(match string, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropMatch, p.dropLeft = []byte(match), n
}

// Dropped is how many answers the proxy has dropped (DropAnswers).
func (p *Proxy) Dropped() int64 { return p.dropped.Load() }

// takeDrop reports whether the request in chunk is one whose answer must
// be lost, and counts it.
func (p *Proxy) takeDrop(chunk []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dropLeft <= 0 || !bytes.Contains(chunk, p.dropMatch) {
		return false
	}
	p.dropLeft--
	return true
}

// forwardRequests copies the client's bytes to upstream, marking doomed
// when a request whose answer must be lost goes through.
func (p *Proxy) forwardRequests(upstream, client net.Conn, doomed *atomic.Bool) {
	copyLink(upstream, client, func(chunk []byte) bool {
		if p.takeDrop(chunk) {
			doomed.Store(true)
		}
		return false
	})
}

// forwardAnswers copies upstream's bytes to the client, unless a request
// whose answer must be lost was sent: then it closes both ends as soon as
// the answer begins, without passing any of it on.
func (p *Proxy) forwardAnswers(client, upstream net.Conn, doomed *atomic.Bool) {
	copyLink(client, upstream, func([]byte) bool {
		if doomed.Load() {
			p.dropped.Add(1)
			return true
		}
		return false
	})
}

// copyLink copies src to dst, as io.Copy would, until cut says of a chunk
// read that the link ends there: then that chunk is not passed on. A clean
// EOF is passed on as a half-close (closeWrite); anything else closes both
// ends, which also ends the copy in the other direction.
func copyLink(dst, src net.Conn, cut func(chunk []byte) bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if cut(buf[:n]) {
				break
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			if closeWrite(dst, err) {
				return
			}
			break
		}
	}
	dst.Close()
	src.Close()
}
