package benchmarks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/granary-rt/granary/internal/testnode"
	"github.com/granary-rt/granary/supervisor"
)

var (
	rawnodeOnce sync.Once
	rawnodePath string
	rawnodeErr  error
)

// rawnodeBinary builds ./internal/benchmarks/rawnode into bin/ (git-ignored)
// once per process.
func rawnodeBinary(b *testing.B) string {
	b.Helper()
	rawnodeOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		rawnodePath = filepath.Join(root, "bin", "rawnode")
		cmd := exec.Command("go", "build", "-o", rawnodePath, "./internal/benchmarks/rawnode")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			rawnodeErr = fmt.Errorf("go build ./internal/benchmarks/rawnode: %v\n%s", err, out)
		}
	})
	if rawnodeErr != nil {
		b.Fatal(rawnodeErr)
	}
	return rawnodePath
}

// rawMember is a rawnode process: a raw protoactor-go cluster member with
// the stock Consul provider. A restart takes fresh ports, so the restarted
// member is a new one to protoactor (it has a new id anyway) and nothing
// depends on how its remoting treats a reused address.
type rawMember struct {
	b          *testing.B
	consulAddr string
	cluster    string
	log        string // every incarnation appends here
	hc         *http.Client

	bind, http string
	cmd        *exec.Cmd
	exited     chan struct{}
}

// startRawMembers starts n rawnode members of cluster and waits until each
// sees all of them.
func startRawMembers(b *testing.B, consulAddr, cluster string, n int) []*rawMember {
	b.Helper()
	var out []*rawMember
	for i := range n {
		m := &rawMember{b: b, consulAddr: consulAddr, cluster: cluster,
			log: filepath.Join(b.TempDir(), fmt.Sprintf("rawnode-%d.log", i+1)),
			hc:  &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
		b.Cleanup(m.kill)
		m.start()
		out = append(out, m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := waitSeen(ctx, asMembers(out), n); err != nil {
		b.Fatal(err)
	}
	return out
}

func (m *rawMember) name() string { return m.bind }

func (m *rawMember) start() {
	m.b.Helper()
	m.bind, m.http = testnode.FreeAddr(m.b), testnode.FreeAddr(m.b)
	f, err := os.OpenFile(m.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		m.b.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(rawnodeBinary(m.b), "--consul", m.consulAddr, "--cluster", m.cluster, "--bind", m.bind, "--http", m.http)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the benchmark
	if err := cmd.Start(); err != nil {
		m.b.Fatal(err)
	}
	m.cmd, m.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) { _ = cmd.Wait(); close(exited) }(m.exited)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for {
		if _, err := m.members(ctx); err == nil {
			return
		}
		if ctx.Err() != nil {
			m.b.Fatalf("rawnode on %s did not start (log %s)", m.http, m.log)
		}
		supervisor.Sleep(ctx, 50*time.Millisecond)
	}
}

func (m *rawMember) kill() {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.exited
}

func (m *rawMember) whoami(ctx context.Context, identity string) (string, error) {
	body, err := m.get(ctx, "/whoami/"+url.PathEscape(identity))
	return string(body), err
}

func (m *rawMember) members(ctx context.Context) (int, error) {
	body, err := m.get(ctx, "/members")
	if err != nil {
		return 0, err
	}
	var addrs []string
	err = json.Unmarshal(body, &addrs)
	return len(addrs), err
}

func (m *rawMember) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+m.http+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := m.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s: %s", path, resp.Status, bytes.TrimSpace(body))
	}
	return body, err
}

// rawPanics counts the panics in the raw members' logs: protoactor's Consul
// provider panics when its watch fails, and a panicking member dies.
func rawPanics(b *testing.B, members []*rawMember) int {
	n := 0
	for _, m := range members {
		data, err := os.ReadFile(m.log)
		if err != nil {
			b.Fatal(err)
		}
		n += bytes.Count(append([]byte("\n"), data...), []byte("\npanic: "))
	}
	return n
}
