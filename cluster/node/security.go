package node

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/remote"
	"github.com/granary-rt/granary/cluster/console"
	"github.com/granary-rt/granary/cluster/httpapi"
	"github.com/granary-rt/granary/cluster/membership"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// security is what Config's certificate files hold, loaded once by New.
type security struct {
	// cluster is the mutual TLS of remoting (nil: plaintext).
	clusterServer, clusterClient *tls.Config
	// api serves the HTTP API over TLS (nil: plain HTTP).
	api *tls.Config
	// memberRoots verifies the other members' API certificates when this
	// member calls their APIs: the system's CAs, the cluster CA, and this
	// member's own API certificate (for its own client).
	memberRoots *x509.CertPool
	// memberCert is the cluster certificate this member presents when it
	// calls another member's API, set when the cluster has a CA and the
	// API a certificate: members then prove what they are by mutual TLS
	// and send no bearer token to each other (see peerIdentity).
	memberCert *tls.Certificate
	// remoting is membership.Config.Remoting: what remoting asks of peers.
	remoting string
}

// loadSecurity reads the certificate files of cfg.
func loadSecurity(cfg Config) (security, error) {
	var s security
	if cfg.ClusterCA != "" {
		pool, err := loadPool(cfg.ClusterCA)
		if err != nil {
			return s, fmt.Errorf("ClusterCA: %w", err)
		}
		cert, err := tls.LoadX509KeyPair(cfg.ClusterCert, cfg.ClusterKey)
		if err != nil {
			return s, fmt.Errorf("ClusterCert and ClusterKey: %w", err)
		}
		if err := verifyLeaf(cert, pool); err != nil {
			return s, fmt.Errorf("ClusterCert: %w", err)
		}
		s.clusterServer = &tls.Config{
			MinVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{cert},
			// A peer without a certificate of the cluster CA fails the
			// handshake: gRPC reads no message from it.
			ClientAuth: tls.RequireAndVerifyClientCert,
			ClientCAs:  pool,
		}
		s.clusterClient = &tls.Config{
			MinVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{cert},
			RootCAs:      pool,
		}
		caPEM, _ := os.ReadFile(cfg.ClusterCA) // read above
		s.remoting = membership.RemotingMTLS(caPEM)
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if cfg.ClusterCA != "" {
		pem, _ := os.ReadFile(cfg.ClusterCA) // read above
		roots.AppendCertsFromPEM(pem)
	}
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return s, fmt.Errorf("TLSCert and TLSKey: %w", err)
		}
		if leaf, err := x509.ParseCertificate(cert.Certificate[0]); err == nil {
			roots.AddCert(leaf)
		}
		s.api = &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{cert},
			NextProtos:   []string{"http/1.1"},
		}
		if s.clusterClient != nil {
			// Members calling this API prove membership with their
			// cluster certificate; clients present none and use tokens.
			s.api.ClientAuth = tls.VerifyClientCertIfGiven
			s.api.ClientCAs = s.clusterServer.ClientCAs
			s.memberCert = &s.clusterClient.Certificates[0]
		}
	}
	s.memberRoots = roots
	return s, nil
}

func loadPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// verifyLeaf checks that cert was signed by a CA of pool: a member whose
// own certificate its peers would refuse should not start.
func verifyLeaf(cert tls.Certificate, pool *x509.CertPool) error {
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return err
	}
	inter := x509.NewCertPool()
	for _, der := range cert.Certificate[1:] {
		if c, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(c)
		}
	}
	_, err = leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return fmt.Errorf("not signed by the cluster CA: %w", err)
	}
	return nil
}

// remoteOptions are the gRPC options of remoting: mutual TLS when the
// cluster has a CA, plaintext otherwise (loopback, or Insecure).
func (s security) remoteOptions() []remote.ConfigOption {
	if s.clusterServer == nil {
		return nil
	}
	return []remote.ConfigOption{
		remote.WithServerOptions(grpc.Creds(credentials.NewTLS(s.clusterServer))),
		remote.WithDialOptions(grpc.WithTransportCredentials(credentials.NewTLS(s.clusterClient))),
	}
}

// isLoopback reports a host only this machine can reach: localhost or a
// loopback IP. Names and unspecified addresses (0.0.0.0, ::) are not.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkExposure refuses a node that listens beyond loopback without
// authentication, unless Insecure says so.
func (c Config) checkExposure() error {
	if c.Insecure {
		return nil
	}
	if host, _, _ := splitHostPort(c.HTTPAddr); !isLoopback(host) && (c.TLSCert == "" || c.Tokens == nil) {
		return fmt.Errorf("HTTPAddr %s is not a loopback address: anyone who reaches it could submit, cancel and read tasks; "+
			"give the API a certificate (TLSCert, TLSKey: --tls-cert, --tls-key) and tokens (Tokens: --tokens), or accept that with Insecure (--insecure)", c.HTTPAddr)
	}
	if c.Embedded() || c.System != nil {
		return nil
	}
	exposed := c.BindAddr
	if host, _, _ := splitHostPort(c.BindAddr); isLoopback(host) {
		exposed = ""
	}
	if host, _, err := splitHostPort(c.AdvertiseAddr); err == nil && !isLoopback(host) {
		exposed = c.AdvertiseAddr // a proxy in front of BindAddr reaches beyond loopback
	}
	if exposed != "" && c.ClusterCA == "" {
		return fmt.Errorf("node-to-node address %s is not a loopback address: anyone who reaches it could send members tasks and changes; "+
			"give the members certificates of a cluster CA (ClusterCA, ClusterCert, ClusterKey: --cluster-ca, --cluster-cert, --cluster-key), or accept that with Insecure (--insecure)", exposed)
	}
	return nil
}

// checkSecurityFiles checks that certificate settings come in whole sets.
func (c Config) checkSecurityFiles() error {
	cluster := []string{c.ClusterCA, c.ClusterCert, c.ClusterKey}
	if n := countSet(cluster...); n != 0 && n != 3 {
		return errors.New("ClusterCA, ClusterCert and ClusterKey go together: give all three or none")
	}
	if countSet(c.TLSCert, c.TLSKey) == 1 {
		return errors.New("TLSCert and TLSKey go together: give both or neither")
	}
	if c.ClusterCA != "" && (c.Embedded() || c.System != nil) {
		return errors.New("ClusterCA is for this node's own remoting in a cluster: unused when embedded or with System (whose remoting its maker configures)")
	}
	if c.Tokens != nil && !c.Embedded() && c.Tokens.Internal() == "" {
		return errors.New("Tokens hold no write token: members call each other's APIs with the first write token")
	}
	return nil
}

func countSet(vals ...string) int {
	n := 0
	for _, v := range vals {
		if v != "" {
			n++
		}
	}
	return n
}

// tlsFirstByte is a TLS handshake record's first byte.
const tlsFirstByte = 0x16

// sniffTimeout bounds how long a new connection may stay silent before
// its first byte tells TLS from plain HTTP (ReadHeaderTimeout's bound).
const sniffTimeout = 10 * time.Second

// sniffListener serves TLS and plain HTTP on one port: a connection whose
// first byte opens a TLS handshake is TLS, any other is plain, which
// httpsOnly then restricts to /healthz. Consul's HTTP check polls
// http://HTTPAddr/healthz and cannot be told otherwise. Each connection is
// sniffed on its own goroutine, so a silent one holds up no other; at most
// maxSniffing are sniffed at once, the oldest closed to make room (the
// server's connection bound, connLimit, sees a connection only once it is
// sniffed). An accept that fails for want of file descriptors is retried
// with backoff, as http.Server does: it used to end the listener, and with
// it the API, for good.
type sniffListener struct {
	net.Listener
	tls   *tls.Config
	conns chan net.Conn
	errc  chan error
	done  chan struct{}

	maxSniffing int
	mu          sync.Mutex
	sniffing    map[net.Conn]time.Time // connections whose first byte is awaited
}

func newSniffListener(l net.Listener, cfg *tls.Config, maxSniffing int) *sniffListener {
	s := &sniffListener{Listener: l, tls: cfg, conns: make(chan net.Conn), errc: make(chan error, 1), done: make(chan struct{}),
		maxSniffing: maxSniffing, sniffing: map[net.Conn]time.Time{}}
	go s.acceptLoop()
	return s
}

func (s *sniffListener) acceptLoop() {
	var delay time.Duration
	for {
		c, err := s.Listener.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if acceptRetryable(err) {
				// Out of file descriptors (a flood of connections) or a
				// connection aborted before it was accepted: try again.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				select {
				case <-time.After(delay):
					continue
				case <-s.done:
					return
				}
			}
			s.errc <- err
			return
		}
		delay = 0
		s.track(c)
		go s.sniff(c)
	}
}

// acceptRetryable reports an Accept error that passes: the process or the
// system out of file descriptors, or a connection aborted in the queue.
func acceptRetryable(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ENOBUFS) ||
		errors.Is(err, syscall.ENOMEM) || errors.Is(err, syscall.ECONNABORTED)
}

// track records c as being sniffed, closing the oldest connection being
// sniffed when maxSniffing are.
func (s *sniffListener) track(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.maxSniffing > 0 && len(s.sniffing) >= s.maxSniffing {
		var oldest net.Conn
		var since time.Time
		for o, at := range s.sniffing {
			if oldest == nil || at.Before(since) {
				oldest, since = o, at
			}
		}
		delete(s.sniffing, oldest)
		oldest.Close() // its sniff's Read fails, and it closes it again
	}
	s.sniffing[c] = time.Now()
}

func (s *sniffListener) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.sniffing, c)
	s.mu.Unlock()
}

func (s *sniffListener) sniff(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(sniffTimeout))
	var first [1]byte
	_, err := c.Read(first[:])
	s.untrack(c)
	if err != nil {
		c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	var out net.Conn = &peekedConn{Conn: c, first: first[0], has: true}
	if first[0] == tlsFirstByte {
		out = tls.Server(out, s.tls)
	}
	select {
	case s.conns <- out:
	case <-s.done:
		c.Close()
	}
}

func (s *sniffListener) Accept() (net.Conn, error) {
	select {
	case c := <-s.conns:
		return c, nil
	case err := <-s.errc:
		s.errc <- err // every later Accept fails alike
		return nil, err
	case <-s.done:
		return nil, net.ErrClosed
	}
}

func (s *sniffListener) Close() error {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	return s.Listener.Close()
}

// peekedConn gives back the byte sniffed off a connection.
type peekedConn struct {
	net.Conn
	first byte
	has   bool
}

func (p *peekedConn) Read(b []byte) (int, error) {
	if p.has && len(b) > 0 {
		b[0], p.has = p.first, false
		return 1, nil
	}
	return p.Conn.Read(b)
}

// httpsOnly serves plain-HTTP requests (r.TLS nil) only /healthz, without
// the credentials they carry (a token sent in the clear is not honoured),
// and refuses the rest: the API is served over TLS.
func httpsOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			next.ServeHTTP(w, r)
			return
		}
		if r.URL.Path != "/healthz" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":{"code":"invalid_argument","message":"this node serves its API over HTTPS only: use https://HOST:PORT, or give the client the CA of the nodes' API certificates (granary --ca FILE or $GRANARY_CA; client.Config.CAFile), with which --cluster and addresses without a scheme use https"}}` + "\n"))
			return
		}
		r.Header.Del("Authorization")
		next.ServeHTTP(w, r)
	})
}

// apiHandler is the API as served: tokens checked (httpapi.RequireTokens)
// around the routes and the profiles, and plain HTTP limited to /healthz
// when the API has a certificate.
func (n *Node) apiHandler(h http.Handler) http.Handler {
	h = n.peerIdentity(httpapi.RequireTokens(n.cfg.Tokens, withMetrics(n.metrics, withPprof(n.cfg.Pprof, n.withBackup(h)))))
	// The web console's assets are served without a token (they hold no
	// data; its data calls go through the token check above).
	h = console.Mount(h, console.DefaultConfig())
	if n.sec.api != nil {
		h = httpsOnly(h)
	}
	// Web pages of other sites: no cross-origin writes, and no DNS
	// rebinding onto a loopback node that has no tokens.
	host, _, _ := splitHostPort(n.cfg.HTTPAddr)
	h = httpapi.GuardBrowsers(h, isLoopback(host) && n.cfg.Tokens == nil)
	return n.metrics.HTTP(h)
}

// memberHTTP is the HTTP client this member calls the other members'
// APIs with (Peers.Forward, activation counts, clocks, the cluster
// report): one connection pool, trusting memberRoots. With a member
// certificate (memberCert) it presents it and sends no Authorization
// header at all: the peer knows a member by its certificate, and a bearer
// token never leaves the process.
func (n *Node) newMemberHTTP() *http.Client {
	tcfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: n.sec.memberRoots}
	var rt http.RoundTripper = &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     90 * time.Second,
		TLSClientConfig:     tcfg,
	}
	if n.sec.memberCert != nil {
		tcfg.Certificates = []tls.Certificate{*n.sec.memberCert}
		rt = noBearer{rt}
	}
	return &http.Client{Transport: rt}
}

// noBearer drops the Authorization header of every request it sends.
type noBearer struct{ next http.RoundTripper }

func (t noBearer) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Authorization") != "" {
		r = r.Clone(r.Context())
		r.Header.Del("Authorization")
	}
	return t.next.RoundTrip(r)
}

// peerIdentity gives a request whose TLS client certificate chains to the
// cluster CA (verified by the handshake: s.api.ClientCAs) the role of a
// member, the internal write token's; any token it carries is ignored.
// Other requests pass unchanged, to be judged by their tokens.
func (n *Node) peerIdentity(next http.Handler) http.Handler {
	if n.sec.memberCert == nil || n.cfg.Tokens == nil {
		return next
	}
	internal := "Bearer " + n.cfg.Tokens.Internal()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
			r.Header.Set("Authorization", internal)
		}
		next.ServeHTTP(w, r)
	})
}

// memberURL is the base URL of a member's API at its HTTP address.
// consoleURL is where a browser opens this node's web console: the start
// log says it, so a new user finds the console without reading about it.
func (n *Node) consoleURL() string {
	return n.memberURL(n.HTTPAddr()) + console.DefaultConfig().Path
}

func (n *Node) memberURL(httpAddr string) string {
	if n.sec.api != nil {
		return "https://" + httpAddr
	}
	return "http://" + httpAddr
}
