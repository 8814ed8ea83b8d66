// Package testnode runs real `granary` processes for integration tests: it
// builds the binary once per test binary, starts nodes on free loopback
// ports, kills or stops them by PID, and cleans up in t.Cleanup even when
// the test fails (printing the node's log tail then). An application's
// binary (its own main calling app.Main, possibly its own module) runs the
// same way: Build it, then DevOf or ClusterNodeOf.
package testnode

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/client"
)

// builds holds one build per main package, so each is built once per
// test process however many tests ask for it.
var (
	buildsMu sync.Mutex
	builds   = map[string]*build{}
)

type build struct {
	once sync.Once
	path string
	err  error
}

// Binary builds ./cmd/granary (once per test process) and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	return Build(t, "cmd/granary", "granary-test")
}

// Build builds the main package in dir, relative to the module root, once
// per test process, to bin/name, and returns its path. go build runs in
// dir, so a directory with its own go.mod (an application such as
// examples/orders) is built as that module, with its own go.mod and go.sum,
// exactly as its team would build it.
func Build(t testing.TB, dir, name string) string {
	t.Helper()
	buildsMu.Lock()
	b := builds[dir]
	if b == nil {
		b = &build{}
		builds[dir] = b
	}
	buildsMu.Unlock()
	b.once.Do(func() { b.path, b.err = goBuild(dir, name) })
	if b.err != nil {
		t.Fatalf("testnode: %v", b.err)
	}
	return b.path
}

func goBuild(dir, name string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	// Build beside the project (bin/ is git-ignored) and rename into
	// place, so concurrent test binaries never see a half-written file
	// and no copies pile up in the temporary directory.
	final := filepath.Join(root, "bin", name)
	tmp := fmt.Sprintf("%s.%d.tmp", final, os.Getpid())
	cmd := exec.Command("go", "build", "-o", tmp, ".")
	cmd.Dir = filepath.Join(root, dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build in %s: %v\n%s", dir, err, out)
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", err
	}
	return final, nil
}

func moduleRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("cannot locate the module root")
	}
	return filepath.Abs(filepath.Join(filepath.Dir(file), "..", ".."))
}

// FreeAddr returns a loopback address with a port that was free a moment ago.
//
// The address is a random one of 127.0.0.0/8 other than 127.0.0.1, whose
// ports nothing else takes: on 127.0.0.1 the port found free could be taken
// (by a connection's local end, or another test's agent) before the node
// binds it, and the node would fail with "address already in use".
func FreeAddr(t testing.TB) string {
	t.Helper()
	var err error
	for try := 0; try < 10; try++ {
		ip := fmt.Sprintf("127.%d.%d.%d", 1+rand.IntN(254), rand.IntN(256), 1+rand.IntN(254))
		var l net.Listener
		if l, err = net.Listen("tcp", ip+":0"); err == nil {
			defer l.Close()
			return l.Addr().String()
		}
	}
	t.Fatalf("testnode: no free loopback address: %v", err)
	return ""
}

// Node is one granary process: the stock binary, or an application's.
type Node struct {
	t       testing.TB
	bin     string // the binary to run; empty: the stock granary (Binary)
	args    []string
	HTTP    string // host:port of the HTTP API
	Bind    string // host:port of node-to-node remoting (cluster nodes)
	ID      string // member id (cluster nodes)
	DataDir string
	joined  bool // wait for cluster membership on start
	LogPath string
	cmd     *exec.Cmd
	exited  chan struct{}
	mu      sync.Mutex
	runs    int
	client  *client.Client
}

// Dev starts `granary dev` on a fresh data directory and waits until it is
// healthy. Extra args are appended.
func Dev(t testing.TB, extra ...string) *Node {
	t.Helper()
	return DevOf(t, "", extra...)
}

// DevOf is Dev with the binary at bin: an application built with Build,
// whose main is app.Main with its own kinds (empty: the stock granary).
func DevOf(t testing.TB, bin string, extra ...string) *Node {
	t.Helper()
	n := &Node{t: t, bin: bin, HTTP: FreeAddr(t), DataDir: t.TempDir()}
	n.args = append([]string{"dev", "--data-dir", n.DataDir, "--http", n.HTTP, "--log-level", "debug", "--log-format", "json"}, extra...)
	n.LogPath = filepath.Join(t.TempDir(), "node.log")
	t.Cleanup(func() {
		n.Kill()
		if t.Failed() {
			t.Logf("log tail of granary node %s:\n%s", n.HTTP, n.tail(60))
			n.keepLog(t, "dev")
		}
	})
	n.Start()
	return n
}

// ClusterNode starts `granary node` as member id of cluster, with Consul at
// consulAddr, on free loopback ports, and waits until it has joined (its
// /v1/members lists it). Extra args are appended.
func ClusterNode(t testing.TB, cluster, consulAddr, id string, extra ...string) *Node {
	t.Helper()
	return ClusterNodeOf(t, "", cluster, consulAddr, id, extra...)
}

// ClusterNodeOf is ClusterNode with the binary at bin: an application
// built with Build (empty: the stock granary).
func ClusterNodeOf(t testing.TB, bin, cluster, consulAddr, id string, extra ...string) *Node {
	t.Helper()
	n := &Node{t: t, bin: bin, HTTP: FreeAddr(t), DataDir: t.TempDir(), ID: id}
	n.Bind = FreeAddr(t)
	n.args = append([]string{"node", "--cluster", cluster, "--consul", consulAddr, "--bind", n.Bind, "--http", n.HTTP,
		"--node-id", id, "--log-level", "debug", "--log-format", "json"}, extra...)
	n.LogPath = filepath.Join(t.TempDir(), id+".log")
	n.joined = true
	t.Cleanup(func() {
		n.Kill()
		if t.Failed() {
			t.Logf("log tail of granary node %s:\n%s", id, n.tail(150))
			n.keepLog(t, id)
		}
	})
	n.Start()
	return n
}

// Upgrade makes the next Start run the binary at bin (another build of
// granary: an earlier or later release) with the same arguments, data
// directory and addresses, as a rolling upgrade replaces a member's binary.
func (n *Node) Upgrade(bin string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.bin = bin
}

// Start (re)starts the process with the same arguments and data directory,
// appending to the same log, and waits until it answers /healthz.
func (n *Node) Start() {
	n.t.Helper()
	f, err := os.OpenFile(n.LogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		n.t.Fatal(err)
	}
	defer f.Close()
	n.mu.Lock()
	n.runs++
	// On a line of its own: a killed run may have left its last line
	// unfinished, and a marker glued to it would not be read (every later
	// run of the log would be numbered one too low).
	fmt.Fprintf(f, "\n{\"msg\":\"testnode: start %d\"}\n", n.runs)
	bin := n.bin
	n.mu.Unlock()
	if bin == "" {
		bin = Binary(n.t)
	}
	cmd := exec.Command(bin, n.args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("testnode: starting %s: %v", filepath.Base(bin), err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	n.mu.Lock()
	n.cmd, n.exited = cmd, exited
	n.mu.Unlock()
	c := n.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Health(ctx); err != nil {
		n.t.Fatalf("testnode: node on %s not healthy: %v\n%s", n.HTTP, err, n.tail(40))
	}
	for n.joined {
		ms, err := c.Members(ctx)
		for _, m := range ms {
			if m.ID == n.ID {
				return
			}
		}
		if ctx.Err() != nil {
			n.t.Fatalf("testnode: %s did not join within 30s (%v)\n%s", n.ID, err, n.tail(40))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Client returns a client of this node.
func (n *Node) Client() *client.Client {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.client == nil {
		c, err := client.New(client.Config{Addr: n.HTTP})
		if err != nil {
			n.t.Fatal(err)
		}
		n.client = c // one connection pool per node, as an application would keep
	}
	return n.client
}

// PID is the process id of the node's latest run (0 before it started).
func (n *Node) PID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || n.cmd.Process == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

// Kill sends SIGKILL to the process (if running) and waits for it to exit.
func (n *Node) Kill() { n.signal(syscall.SIGKILL, 10*time.Second) }

// Stop sends SIGTERM and waits up to timeout for a graceful exit; it fails
// the test if the process does not exit in time or exits non-zero.
func (n *Node) Stop(timeout time.Duration) {
	n.t.Helper()
	if !n.signal(syscall.SIGTERM, timeout) {
		n.t.Fatalf("granary did not exit within %s of SIGTERM", timeout)
	}
	if code := n.cmd.ProcessState.ExitCode(); code != 0 {
		n.t.Fatalf("granary exited with %d after SIGTERM", code)
	}
}

// Terminate sends SIGTERM and returns at once, with a channel closed when
// the process has exited (then ExitCode tells how): for tests that act on
// the cluster while the node drains.
func (n *Node) Terminate() <-chan struct{} {
	n.t.Helper()
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.mu.Unlock()
	if cmd == nil {
		n.t.Fatal("testnode: Terminate before Start")
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	return exited
}

// ExitCode is the exit code of the latest run, once it has exited (-1
// before, or when a signal ended it).
func (n *Node) ExitCode() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || n.cmd.ProcessState == nil {
		return -1
	}
	return n.cmd.ProcessState.ExitCode()
}

func (n *Node) signal(sig syscall.Signal, timeout time.Duration) bool {
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.mu.Unlock()
	if cmd == nil {
		return true
	}
	select {
	case <-exited:
		return true
	default:
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
		return true
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-exited
		return false
	}
}

// LogEntries returns the JSON log lines whose msg equals msg, from the
// run-th start of the node (1-based; 0 for all runs).
func (n *Node) LogEntries(run int, msg string) []map[string]any {
	n.t.Helper()
	var out []map[string]any
	n.EachLogEntry(func(r int, m map[string]any) {
		if m["msg"] == msg && (run == 0 || run == r) {
			out = append(out, m)
		}
	})
	return out
}

// EachLogEntry calls fn with every JSON log line of the node, in order,
// and the run it belongs to (1-based: the run-th start of the node), in
// one pass over the log.
func (n *Node) EachLogEntry(fn func(run int, entry map[string]any)) {
	n.t.Helper()
	data, err := os.ReadFile(n.LogPath)
	if err != nil {
		n.t.Fatal(err)
	}
	cur := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			if bytes.Contains(sc.Bytes(), []byte(`{"msg":"testnode: start `)) {
				cur++ // a marker glued to a killed run's unfinished line (logs of older rigs)
			}
			continue
		}
		if s, _ := m["msg"].(string); strings.HasPrefix(s, "testnode: start ") {
			cur++
			continue
		}
		fn(cur, m)
	}
}

func (n *Node) tail(lines int) string {
	data, _ := os.ReadFile(n.LogPath)
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	// The HTTP access lines (health checks every second, mostly) would
	// fill the tail and hide what the node did: leave them out, and keep
	// the node's own lines.
	kept := all[:0:0]
	for _, l := range all {
		if !strings.Contains(l, `"msg":"http"`) {
			kept = append(kept, l)
		}
	}
	if len(kept) > lines {
		kept = kept[len(kept)-lines:]
	}
	return strings.Join(kept, "\n")
}

// KeepLogsEnv names the environment variable that, when it names a
// directory, makes a failed test copy each node's whole log there (the
// temporary directory holding it is removed with the test): a long run's
// failure can then be read line by line.
const KeepLogsEnv = "GRANARY_KEEP_LOGS"

// keepLog copies the node's log into $GRANARY_KEEP_LOGS, if set, as
// <test>-<name>.log.
func (n *Node) keepLog(t testing.TB, name string) {
	dir := os.Getenv(KeepLogsEnv)
	if dir == "" {
		return
	}
	data, err := os.ReadFile(n.LogPath)
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err == nil {
		test := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
		dst := filepath.Join(dir, fmt.Sprintf("%s-%s.log", test, name))
		if err = os.WriteFile(dst, data, 0o644); err == nil {
			t.Logf("testnode: kept the log of %s in %s", name, dst)
		}
	}
	if err != nil {
		t.Logf("testnode: keeping the log of %s: %v", name, err)
	}
}
