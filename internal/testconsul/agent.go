package testconsul

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/granary-rt/granary/internal/testpki"
)

const (
	// stopTimeout bounds the graceful part of Stop. A healthy agent exits
	// within about 100ms of SIGTERM; the bound only matters for a wedged
	// one, which then gets SIGKILL.
	stopTimeout = 10 * time.Second

	// readyPollInterval is how often Start probes a starting agent: short
	// enough to add little to a dev agent's sub-second start.
	readyPollInterval = 50 * time.Millisecond

	// probeTimeout bounds one readiness request, so an agent that accepts
	// connections but never answers cannot stall the poll past its deadline.
	probeTimeout = 5 * time.Second

	// portAttempts is how many sets of ports Start tries. Losing a freshly
	// picked port to another process is rare; losing it three times in a
	// row means something else is wrong.
	portAttempts = 3

	// readyKey is written and deleted to prove the agent accepts KV writes.
	readyKey = "testconsul/ready"
)

// errPortTaken means the agent exited because one of its ports was taken
// between pickPorts and its bind.
var errPortTaken = errors.New("a port was taken before the agent could bind it")

// nodeSeq makes node names unique within the test binary.
var nodeSeq atomic.Int64

// Agent is a Consul agent owned by one test. Stop, Kill, PID, HTTPAddr and
// Client may be called from any goroutine; Restart, like Start, may end the
// test and so belongs on the test's goroutine.
type Agent struct {
	bin       string
	tls       *tlsFiles // with Options.TLS
	opts      Options
	role      *quorumRole // nil: a single server or dev agent
	node      string
	logPath   string
	ports     agentPorts
	transport *http.Transport
	client    *api.Client

	mu   sync.Mutex
	proc *process // the latest process; nil before the first launch
	// paused: Pause stopped the process with SIGSTOP.
	paused bool
	// tailLogged records that a failure message already carried the log
	// tail, so cleanup does not print it twice.
	tailLogged bool
}

// process is one run of the agent binary.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has been reaped
}

// Start launches a Consul agent for the test and waits until it has a
// leader and accepts KV writes. A t.Cleanup stops it when the test ends,
// pass or fail. Without a consul binary Start fails the test, or skips it
// under `go test -short`; see Binary.
func Start(t testing.TB, opts Options) *Agent {
	t.Helper()
	bin := requireBinary(t)
	opts, err := opts.withDefaults(t)
	if err != nil {
		t.Fatal(err)
	}
	a := newAgent(t, bin, opts)
	for attempt := 1; ; attempt++ {
		ports, err := pickPorts(opts.BindAddr)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.setPorts(ports); err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		err = a.start()
		if err == nil {
			t.Logf("testconsul: %s agent %s ready at %s in %v (log: %s)",
				opts.Mode, a.node, a.HTTPAddr(), time.Since(began).Round(time.Millisecond), a.logPath)
			return a
		}
		if errors.Is(err, errPortTaken) && attempt < portAttempts {
			t.Logf("testconsul: attempt %d: %v; retrying with new ports", attempt, err)
			continue
		}
		a.fatalWithTail(t, err)
	}
}

// requireBinary returns Binary's answer, or ends the test: a skip under
// -short, a failure otherwise, and in both cases with the reason.
func requireBinary(t testing.TB) string {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if testing.Short() {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	return bin
}

// newAgent prepares an agent that is not running yet and registers the
// cleanup that stops it.
func newAgent(t testing.TB, bin string, opts Options) *Agent {
	a := &Agent{
		bin:     bin,
		opts:    opts,
		node:    nodeName(t.Name()),
		logPath: filepath.Join(t.TempDir(), "consul.log"),
		// Our own transport, not the api package's pooled default, so
		// cleanup can drop its idle connections and leave no goroutines.
		transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: probeTimeout}).DialContext,
			MaxIdleConnsPerHost: 32,
			IdleConnTimeout:     30 * time.Second,
		},
	}
	if opts.TLS {
		ca := testpki.NewCA(t)
		cert := ca.Issue(t, "consul", opts.BindAddr)
		a.tls = &tlsFiles{ca: ca.CertFile, cert: cert.CertFile, key: cert.KeyFile}
	}
	// Registered after every t.TempDir call for this agent, so it runs
	// before they are removed: the agent stops before its data goes.
	t.Cleanup(func() { a.cleanup(t) })
	return a
}

// tlsFiles are the PEM files of an agent serving TLS.
type tlsFiles struct{ ca, cert, key string }

// CAFile is the PEM file of the CA that signed the agent's certificate
// (Options.TLS), for clients to trust; "" without TLS.
func (a *Agent) CAFile() string {
	if a.tls == nil {
		return ""
	}
	return a.tls.ca
}

// setPorts assigns the agent's ports and points its client at them.
func (a *Agent) setPorts(p agentPorts) error {
	a.ports = p
	scheme := "http"
	if a.tls != nil {
		scheme = "https"
		tc, err := api.SetupTLSConfig(&api.TLSConfig{CAFile: a.tls.ca})
		if err != nil {
			return fmt.Errorf("testconsul: TLS client: %w", err)
		}
		a.transport.TLSClientConfig = tc
	}
	c, err := api.NewClient(&api.Config{
		Address:    a.HTTPAddr(),
		Scheme:     scheme,
		HttpClient: &http.Client{Transport: a.transport},
		Token:      a.opts.ACLToken,
	})
	if err != nil {
		return fmt.Errorf("testconsul: api client: %w", err)
	}
	a.client = c
	return nil
}

// HTTPAddr is the agent's HTTP API address, such as "127.0.0.1:41234". It
// does not change across Restart.
func (a *Agent) HTTPAddr() string {
	return net.JoinHostPort(a.opts.BindAddr, strconv.Itoa(a.ports.http))
}

// Client is an API client for the agent. It stays valid across Restart.
func (a *Agent) Client() *api.Client { return a.client }

// PID is the process id of the agent's latest run (the one just stopped, if
// it is stopped).
func (a *Agent) PID() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.proc == nil {
		return 0
	}
	return a.proc.cmd.Process.Pid
}

// Stop shuts the agent down with SIGTERM, waits for it to exit, and kills
// it if it has not exited after a bound. A server agent does not leave the
// cluster on SIGTERM, so Restart finds its Raft state intact. Stopping a
// stopped agent does nothing.
func (a *Agent) Stop() { a.halt(syscall.SIGTERM) }

// Kill ends the agent with SIGKILL, as a crash would, and waits for it to
// be reaped. Killing a stopped agent does nothing.
func (a *Agent) Kill() { a.halt(syscall.SIGKILL) }

// Restart stops the agent (if it is running) and starts it again on the
// same ports with the same data directory, then waits until it is ready.
// A Server agent keeps its data; a Dev agent comes back empty.
func (a *Agent) Restart(t testing.TB) {
	t.Helper()
	a.Stop()
	began := time.Now()
	if err := a.start(); err != nil {
		a.fatalWithTail(t, fmt.Errorf("restart: %w", err))
	}
	t.Logf("testconsul: %s agent %s ready again in %v", a.kind(), a.node, time.Since(began).Round(time.Millisecond))
}

func (a *Agent) halt(sig syscall.Signal) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.proc
	if p == nil {
		return
	}
	select {
	case <-p.exited:
		return
	default:
	}
	// The process is only reaped by our own Wait, and os.Process signals
	// through a pidfd where available, so this reaches our agent and no
	// other process.
	p.cmd.Process.Signal(sig)
	if a.paused {
		// A stopped process acts on SIGTERM only once continued.
		p.cmd.Process.Signal(syscall.SIGCONT)
		a.paused = false
	}
	select {
	case <-p.exited:
	case <-time.After(stopTimeout):
		p.cmd.Process.Kill()
		<-p.exited
	}
	// The agent closed its end of every pooled connection.
	a.transport.CloseIdleConnections()
}

// start launches the agent on a.ports and waits until it is ready. On
// failure the process is gone when start returns.
func (a *Agent) start() error {
	offset := fileSize(a.logPath)
	p, err := a.launch()
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.proc = p
	a.mu.Unlock()

	if err := a.waitReady(p); err != nil {
		a.Kill()
		if strings.Contains(readFrom(a.logPath, offset), "address already in use") {
			return fmt.Errorf("%w: %v", errPortTaken, err)
		}
		return err
	}
	return nil
}

func (a *Agent) launch() (*process, error) {
	logFile, err := os.OpenFile(a.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open agent log: %w", err)
	}
	args := a.args()
	fmt.Fprintf(logFile, "==> testconsul: %s %s\n", a.bin, strings.Join(args, " "))

	cmd := exec.Command(a.bin, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Anything the agent writes relative to its working directory lands
	// next to its log, not in the package under test.
	cmd.Dir = filepath.Dir(a.logPath)
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", a.bin, err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	return p, nil
}

func (a *Agent) args() []string {
	bind := a.opts.BindAddr
	args := []string{"agent"}
	switch {
	case a.role != nil:
		args = append(args, a.role.args(a.opts.DataDir)...)
	case a.opts.Mode == Dev:
		args = append(args, "-dev")
	case a.opts.Mode == Server:
		args = append(args, "-server", "-bootstrap-expect=1", "-data-dir="+a.opts.DataDir)
	}
	httpPort := "-http-port=" + strconv.Itoa(a.ports.http)
	httpsPort := "-https-port=-1"
	if f := a.tls; f != nil {
		httpPort, httpsPort = "-http-port=-1", "-https-port="+strconv.Itoa(a.ports.http)
		args = append(args, fmt.Sprintf(`-hcl=tls { defaults { ca_file = %q cert_file = %q key_file = %q verify_incoming = false } }`, f.ca, f.cert, f.key))
	}
	if tok := a.opts.ACLToken; tok != "" {
		args = append(args, fmt.Sprintf(`-hcl=acl { enabled = true default_policy = "deny" enable_token_persistence = true tokens { initial_management = %q agent = %q } }`, tok, tok))
	}
	return append(args,
		"-node="+a.node,
		"-bind="+bind,
		"-client="+bind,
		"-advertise="+bind,
		httpPort,
		"-serf-lan-port="+strconv.Itoa(a.ports.serfLAN),
		"-serf-wan-port="+strconv.Itoa(a.ports.serfWAN),
		"-server-port="+strconv.Itoa(a.ports.server),
		"-dns-port=-1",
		"-grpc-port=-1",
		"-grpc-tls-port=-1",
		httpsPort,
		"-log-level=info",
		// The default multiplier of 5 makes a disk-backed server wait about
		// 9s to elect itself instead of about 2s; 1 is also what Consul
		// recommends for production.
		"-hcl=performance { raft_multiplier = 1 }",
		// Options.MaxConnsPerClient says why tests raise it.
		fmt.Sprintf("-hcl=limits { http_max_conns_per_client = %d }", a.opts.MaxConnsPerClient),
		// Tests must not phone home to checkpoint.hashicorp.com.
		"-hcl=disable_update_check = true",
		// /debug/pprof on the HTTP port, to profile Consul under a benchmark.
		"-hcl=enable_debug = true",
	)
}

// waitReady polls until the agent reports itself as leader and a KV write
// succeeds, the process exits, or the start time-out passes.
func (a *Agent) waitReady(p *process) error {
	ctx, cancel := context.WithTimeout(context.Background(), a.opts.StartTimeout)
	// Abort a probe in flight as soon as the process dies: its HTTP port
	// may be held by a stranger that never answers.
	watcherDone := make(chan struct{})
	go func() {
		defer close(watcherDone)
		select {
		case <-p.exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	defer func() {
		cancel()
		<-watcherDone
	}()

	tick := time.NewTicker(readyPollInterval)
	defer tick.Stop()
	for {
		err := a.probe(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("consul exited before it was ready (%v)", p.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("consul not ready after %v; last probe: %v", a.opts.StartTimeout, err)
		case <-tick.C:
		}
	}
}

// probe checks readiness once. The leader must be this agent's own server
// address: that proves the HTTP port is served by our agent and not by
// another test's agent that grabbed the port first.
func (a *Agent) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	leader, err := a.client.Status().LeaderWithQueryOptions((&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return err
	}
	if err := a.checkLeader(leader); err != nil {
		return err
	}
	w := (&api.WriteOptions{}).WithContext(ctx)
	kv := a.client.KV()
	if _, err := kv.Put(&api.KVPair{Key: readyKey, Value: []byte(a.node)}, w); err != nil {
		return fmt.Errorf("kv write: %w", err)
	}
	if _, err := kv.Delete(readyKey, w); err != nil {
		return fmt.Errorf("kv delete: %w", err)
	}
	return nil
}

// checkLeader says whether leader is the one this agent should see: its
// own server address, or for a member of a quorum one of the quorum's.
func (a *Agent) checkLeader(leader string) error {
	if leader == "" {
		return errors.New("no leader yet")
	}
	if a.role != nil {
		if !a.role.isServer(leader) {
			return fmt.Errorf("leader is %s, not one of this quorum's servers %v", leader, a.role.servers)
		}
		return nil
	}
	if want := a.ServerAddr(); leader != want {
		return fmt.Errorf("leader is %s, want this agent (%s)", leader, want)
	}
	return nil
}

// ServerAddr is the agent's server RPC address, the one Consul names as
// leader when this agent leads.
func (a *Agent) ServerAddr() string {
	return net.JoinHostPort(a.opts.BindAddr, strconv.Itoa(a.ports.server))
}

func (a *Agent) cleanup(t testing.TB) {
	// Take the tail before stopping, so it shows the agent as the test left
	// it rather than its shutdown chatter.
	a.mu.Lock()
	logTail := t.Failed() && !a.tailLogged
	a.mu.Unlock()
	var tail string
	if logTail {
		tail = lastLines(a.logPath, tailLines)
	}
	a.Stop()
	a.transport.CloseIdleConnections()
	if logTail {
		t.Logf("testconsul: last %d lines of %s:\n%s", tailLines, a.logPath, tail)
	}
}

func (a *Agent) fatalWithTail(t testing.TB, err error) {
	t.Helper()
	a.mu.Lock()
	a.tailLogged = true
	a.mu.Unlock()
	t.Fatalf("testconsul: %s agent %s: %v\nlast %d lines of %s:\n%s",
		a.kind(), a.node, err, tailLines, a.logPath, lastLines(a.logPath, tailLines))
}

// kind names the agent's part in logs: dev, server, or a quorum's client.
func (a *Agent) kind() string {
	if a.role != nil && !a.role.server {
		return "client"
	}
	return a.opts.Mode.String()
}

// nodeName derives a unique, DNS-safe node name from the test name, so the
// agent's log and catalog say which test owns it.
func nodeName(testName string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(testName) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	name := strings.Trim(b.String(), "-")
	const maxPrefix = 40 // a DNS label is at most 63 bytes
	if len(name) > maxPrefix {
		name = strings.TrimRight(name[:maxPrefix], "-")
	}
	return fmt.Sprintf("%s-%d-%d", name, os.Getpid(), nodeSeq.Add(1))
}
