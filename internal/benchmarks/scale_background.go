package benchmarks

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/store/consulstore"
	"github.com/granary-rt/granary/cluster/tasks"
	consul "github.com/hashicorp/consul/api"
)

// Pass is what one background pass over a cluster's task store cost: the
// requests it sent to Consul and the bytes of their answers, its wall
// time, and the CPU time of this process (which ran it, as a member runs
// it) and of the Consul server meanwhile. Items is what it did: tasks
// deleted, or listed.
type Pass struct {
	Name           string
	Items          int
	Requests       int64
	Bytes          int64
	Took           time.Duration
	CPU, ConsulCPU time.Duration
}

// String is p as one row of a markdown table.
func (p Pass) String() string {
	return fmt.Sprintf("| %s | %d | %d | %.1f MB | %s | %s | %s |", p.Name, p.Items, p.Requests, float64(p.Bytes)/1e6,
		p.Took.Round(time.Millisecond), p.CPU.Round(time.Millisecond), p.ConsulCPU.Round(time.Millisecond))
}

// PassHeader is the header of a table of Pass rows.
const PassHeader = "| pass | tasks | Consul requests | bytes answered | took | this process's CPU | Consul's CPU |\n|---|---|---|---|---|---|---|\n"

// countingTransport counts the requests sent through it and the bytes of
// their answers' bodies.
type countingTransport struct {
	next            http.RoundTripper
	requests, bytes atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.requests.Add(1)
	resp, err := c.next.RoundTrip(r)
	if err == nil {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: &c.bytes}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// storeProbe is a task store of cluster on the Consul agent at addr,
// opened as a member opens it (without its own periodic reconcile), whose
// requests are counted.
type storeProbe struct {
	st        *consulstore.Store
	count     *countingTransport
	consulPID int
}

func openProbe(addr, cluster string, consulPID int) (*storeProbe, error) {
	ct := &countingTransport{next: http.DefaultTransport.(*http.Transport).Clone()}
	cc, err := consul.NewClient(&consul.Config{Address: addr, HttpClient: &http.Client{Transport: ct}})
	if err != nil {
		return nil, err
	}
	cfg := consulstore.DefaultConfig(cluster)
	cfg.ReconcileEvery, cfg.Writer, cfg.Logger = -1, "bench-probe", slog.New(slog.DiscardHandler)
	st, err := consulstore.New(cc, cfg)
	if err != nil {
		return nil, err
	}
	return &storeProbe{st: st, count: ct, consulPID: consulPID}, nil
}

// measure runs pass and returns its cost; pass returns its item count.
func (p *storeProbe) measure(name string, pass func() (int, error)) (Pass, error) {
	req0, bytes0 := p.count.requests.Load(), p.count.bytes.Load()
	cpu0, err := cpuTime(0)
	if err != nil {
		return Pass{}, err
	}
	consul0, err := cpuTime(p.consulPID)
	if err != nil {
		return Pass{}, err
	}
	t0 := time.Now()
	n, err := pass()
	if err != nil {
		return Pass{}, fmt.Errorf("%s: %w", name, err)
	}
	took := time.Since(t0)
	cpu1, _ := cpuTime(0)
	consul1, _ := cpuTime(p.consulPID)
	return Pass{Name: name, Items: n, Requests: p.count.requests.Load() - req0, Bytes: p.count.bytes.Load() - bytes0,
		Took: took, CPU: cpu1 - cpu0, ConsulCPU: consul1 - consul0}, nil
}

// BackgroundPasses measures, on the task store of cluster in the Consul
// server at addr (consulPID: its process), the passes a cluster runs over
// its store whatever its load, none of which changes a task:
//   - the janitor's sweep (tasks.Sweep) with nothing due, as every 10
//     minutes in a cluster whose tasks are younger than the retention;
//   - the first page of its candidates, and the page after it, read as
//     the first sweep a retention after the load will read them (every
//     task due; read only, nothing deleted);
//   - the submission-time index's reconcile (consulstore.Reconcile), which
//     one member runs every 5 minutes at most.
func BackgroundPasses(ctx context.Context, addr, cluster string, consulPID int) ([]Pass, error) {
	p, err := openProbe(addr, cluster, consulPID)
	if err != nil {
		return nil, err
	}
	defer p.st.Close()
	retention := tasks.DefaultConfig("").Retention
	now := time.Now()
	var out []Pass
	add := func(name string, pass func() (int, error)) error {
		r, err := p.measure(name, pass)
		out = append(out, r)
		return err
	}
	if err := add("janitor sweep, nothing due", func() (int, error) { return tasks.Sweep(ctx, p.st, now, retention) }); err != nil {
		return out, err
	}
	later := now.Add(retention + time.Hour)
	var first []store.Record
	if err := add("janitor: first page of candidates, every task due (read only)", func() (int, error) {
		first, err = p.st.List(ctx, tasks.Candidates(later, retention, nil))
		return len(first), err
	}); err != nil {
		return out, err
	}
	if len(first) > 0 {
		after := store.PositionOf(first[len(first)-1].Task)
		if err := add("janitor: the page after it (read only)", func() (int, error) {
			recs, err := p.st.List(ctx, tasks.Candidates(later, retention, &after))
			return len(recs), err
		}); err != nil {
			return out, err
		}
	}
	err = add("index reconcile", func() (int, error) {
		r, err := p.st.Reconcile(ctx)
		return r.Tasks, err
	})
	return out, err
}

// SweepDue measures the janitor's sweep (tasks.Sweep) that deletes the
// tasks submitted before cutoff, as the first sweep a retention after
// them does: it runs it at cutoff plus the retention, on the task store
// of cluster in the Consul server at addr (consulPID: its process).
func SweepDue(ctx context.Context, addr, cluster string, consulPID int, cutoff time.Time) (Pass, error) {
	p, err := openProbe(addr, cluster, consulPID)
	if err != nil {
		return Pass{}, err
	}
	defer p.st.Close()
	retention := tasks.DefaultConfig("").Retention
	return p.measure("janitor sweep deleting the tasks submitted before a cutoff", func() (int, error) {
		return tasks.Sweep(ctx, p.st, cutoff.Add(retention), retention)
	})
}
