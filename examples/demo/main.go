// Command demo is what `make run` runs: it starts `granary dev` on a
// throw-away data directory, submits a mixed workload through the Go client
// (flaky tasks that fail and panic, hung tasks that ignore their context,
// CPU-bound Monte-Carlo tasks), shows progress, prints a summary of how
// supervision handled every failure, and stops the node gracefully.
//
//	go run ./examples/demo --granary bin/granary [--tasks 300]
//	go run ./examples/demo --addr http://127.0.0.1:8080   # against a running node
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
)

func main() {
	bin := flag.String("granary", "bin/granary", "granary binary to start (ignored with --addr)")
	addr := flag.String("addr", "", "use a running node at this address instead of starting one")
	n := flag.Int("tasks", 300, "number of tasks to submit")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up if the workload has not finished by then")
	flag.Parse()
	if err := run(*bin, *addr, *n, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(bin, addr string, n int, timeout time.Duration) error {
	if n < 1 {
		return fmt.Errorf("--tasks must be at least 1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if addr == "" {
		node, err := startNode(bin)
		if err != nil {
			return err
		}
		defer node.stop()
		addr = node.addr
	}
	c, err := client.New(client.Config{Addr: addr})
	if err != nil {
		return err
	}
	h, err := c.Health(ctx)
	if err != nil {
		return fmt.Errorf("node at %s is not healthy: %w", addr, err)
	}
	fmt.Printf("granary node %q at %s is up; submitting %d tasks\n", h.Member, addr, n)

	start := time.Now()
	final, err := runAll(ctx, c, n, start)
	if err != nil {
		return err
	}
	summarize(final, time.Since(start))
	for _, st := range final {
		if !st.Terminal() {
			return fmt.Errorf("task %s ended the demo %s", st.ID, st.State)
		}
	}
	return nil
}

// workload returns the i-th task: 40% flaky, 15% hung, 45% pi.
func workload(i int) api.SubmitRequest {
	id := fmt.Sprintf("demo-%04d", i)
	quick := &api.Policy{
		MaxAttempts:    api.Ptr(5),
		BackoffInitial: api.Ptr(api.Duration(20 * time.Millisecond)),
		BackoffMax:     api.Ptr(api.Duration(500 * time.Millisecond)),
	}
	switch r := i % 20; {
	case r < 8:
		return api.SubmitRequest{ID: id, Kind: "flaky", Policy: quick,
			Payload: json.RawMessage(fmt.Sprintf(`{"fail_rate":0.3,"panic_rate":0.1,"seed":%d}`, i))}
	case r < 11:
		quick.AttemptTimeout = api.Ptr(api.Duration(300 * time.Millisecond))
		return api.SubmitRequest{ID: id, Kind: "hang", Policy: quick, Payload: json.RawMessage(`{"succeed_on_attempt":2}`)}
	default:
		return api.SubmitRequest{ID: id, Kind: "pi", Payload: json.RawMessage(fmt.Sprintf(`{"samples":%d}`, 5_000_000+(i%7)*2_500_000))}
	}
}

// runAll submits every task and waits for each to finish, printing
// progress once a second.
func runAll(ctx context.Context, c *client.Client, n int, start time.Time) ([]*api.Status, error) {
	var mu sync.Mutex
	states := map[string]string{}
	final := make([]*api.Status, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	submitSlots := make(chan struct{}, 16) // concurrent submits
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			submitSlots <- struct{}{}
			st, err := c.Submit(ctx, workload(i))
			<-submitSlots
			if err != nil {
				errs[i] = fmt.Errorf("submitting task %d: %w", i, err)
				return
			}
			final[i], errs[i] = c.Wait(ctx, st.ID, func(s *api.Status) {
				mu.Lock()
				states[s.ID] = s.State
				mu.Unlock()
			})
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return final, errors.Join(errs...)
		case <-tick.C:
			mu.Lock()
			counts := map[string]int{}
			for _, s := range states {
				counts[s]++
			}
			submitted := len(states)
			mu.Unlock()
			fin := counts[api.StateCompleted] + counts[api.StateFailed] + counts[api.StateCancelled]
			fmt.Printf("  %5.1fs  submitted %d/%d, finished %d  (completed %d, failed %d; running %d, retrying %d)\n",
				time.Since(start).Seconds(), submitted, n, fin, counts[api.StateCompleted], counts[api.StateFailed],
				counts[api.StateRunning], counts[api.StateRetrying])
		}
	}
}

func summarize(final []*api.Status, took time.Duration) {
	byKind := map[string]map[string]int{}
	causes := map[string]int{}
	reasons := map[string]int{}
	retries := 0
	for _, st := range final {
		if byKind[st.Kind] == nil {
			byKind[st.Kind] = map[string]int{}
		}
		byKind[st.Kind][st.State]++
		retries += max(0, st.Attempts-1)
		for _, e := range st.Errors {
			causes[e.Cause]++
		}
		if st.State == api.StateFailed {
			reason := st.Error
			if i := strings.Index(reason, "; last error:"); i >= 0 {
				reason = reason[:i] + "; last cause: " + lastCause(st)
			}
			reasons[reason]++
		}
	}
	fmt.Println()
	fmt.Println("summary")
	total := map[string]int{}
	for _, kind := range sortedKeys(byKind) {
		fmt.Printf("  %-8s", kind)
		for _, state := range api.States {
			if c := byKind[kind][state]; c > 0 {
				fmt.Printf("  %s %d", state, c)
				total[state] += c
			}
		}
		fmt.Println()
	}
	fmt.Printf("  completed %d, failed %d of %d tasks\n", total[api.StateCompleted], total[api.StateFailed], len(final))
	if len(reasons) > 0 {
		fmt.Println("  failed, by reason:")
		for _, r := range sortedKeys(reasons) {
			fmt.Printf("    %3d  %s\n", reasons[r], r)
		}
	}
	fmt.Printf("  retries: %d\n", retries)
	fmt.Println("  supervised restarts by cause:")
	for _, c := range sortedKeys(causes) {
		fmt.Printf("    %-18s %d\n", c, causes[c])
	}
	fmt.Printf("  wall time: %s (%.0f tasks/s)\n", took.Round(time.Millisecond), float64(len(final))/took.Seconds())
}

func lastCause(st *api.Status) string {
	if len(st.Errors) == 0 {
		return "?"
	}
	return st.Errors[len(st.Errors)-1].Cause
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// node is a `granary dev` process the demo started.
type node struct {
	cmd  *exec.Cmd
	addr string
	dir  string
	log  string
}

func startNode(bin string) (*node, error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("granary binary %s: %w (run make build)", bin, err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "granary-demo-")
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "node.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	httpAddr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "dev", "--data-dir", filepath.Join(dir, "data"), "--http", httpAddr)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	fmt.Printf("started granary dev (pid %d) on %s (console: http://%s/ui/ while the demo runs)\n", cmd.Process.Pid, httpAddr, httpAddr)
	fmt.Printf("its data and log are in %s, a throw-away directory: removed when the node stops cleanly, kept for a look if not\n", dir)
	return &node{cmd: cmd, addr: "http://" + httpAddr, dir: dir, log: logPath}, nil
}

// stop sends SIGTERM, which drains the node, and waits for it to exit.
func (n *node) stop() {
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- n.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			fmt.Printf("granary dev exited: %v (log: %s)\n", err, n.log)
			return
		}
		_ = os.RemoveAll(n.dir)
		fmt.Printf("granary dev stopped cleanly; %s removed\n", n.dir)
		fmt.Print(nextSteps)
	case <-time.After(45 * time.Second):
		_ = n.cmd.Process.Kill()
		fmt.Printf("granary dev did not stop within 45s; killed (log: %s)\n", n.log)
	}
}

// nextSteps is what a new user can do after the demo: a node of their
// own that keeps its data, its console, and a task by hand.
const nextSteps = `
next: run a node that keeps its data, and try it by hand
  bin/granary dev                                   # data in ./.granary; console at http://127.0.0.1:8080/ui/
  bin/granary kinds                                 # the kinds it hosts, each with an example payload
  bin/granary submit --kind pi --payload '{"samples":1000000}' --wait
`

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
