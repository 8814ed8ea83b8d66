package benchmarks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/internal/testconsul"
)

// Console overhead knobs.
const (
	// ConsolePairs is how many pairs of rounds (console open, console
	// closed) run; within a pair the order alternates (open first, then
	// closed first), and the overhead is the median of the pairs'
	// differences, so drift over the run (the store grows by every
	// round's tasks) and a neighbour's burst weigh on both sides alike.
	ConsolePairs = 10
	// ConsoleRound is one measured round's length. A round with the
	// console open starts ConsoleSettle after its page was loaded, so it
	// measures a console kept open; the page load is measured apart.
	ConsoleRound = 12 * time.Second
	// ConsoleSettle is the window in which a page loads (its first
	// fetches, which do not wait for the poll gate).
	ConsoleSettle = 3 * time.Second
	// ConsoleBusyRate is the busy workload: echo tasks submitted per
	// second through the measured node, every round the same.
	ConsoleBusyRate = 200
	// ConsoleMaxOverhead is the target: a console open on a busy node
	// costs it at most 1% of one core.
	ConsoleMaxOverhead = 1.0
)

// ConsolePages are the pages the browser shows, one per round with the
// console open, in turn.
var ConsolePages = []string{"#/tasks", "#/cluster", "#/failures", "#/grains", "#/jobs"}

// ConsoleOverhead measures what a web console open on a busy node costs
// that node: two `granary node` processes on a real Consul dev agent; a
// fixed workload of ConsoleBusyRate echo tasks a second submitted through
// node 1 (the busy node) all along; headless Chromium keeping one of the
// console's pages from node 1 open (ConsolePages in turn), or about:blank,
// in alternating rounds. Node 1's CPU comes from /proc/PID/stat. b.N is
// ignored; metrics, in percent of one core: "overhead-%core" (the median
// of the pairs' differences), "overhead-iqr-%core" (their interquartile
// range: the noise), "with-console-%core" and "without-console-%core"
// (medians); "page-load-cpu-ms" (the node's CPU for loading a page, the
// median over the pairs, above the closed rate); and "tasks" (submitted
// over the run).
func ConsoleOverhead(b *testing.B) {
	chrome, err := FindChromium()
	if err != nil {
		b.Fatal(err)
	}
	agent := testconsul.Start(b, testconsul.Options{})
	members := startGranaryMembers(b, agent.HTTPAddr(), "console", 2)
	busy := members[0]
	pid := busy.node.PID()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(b.TempDir()), chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		b.Fatalf("starting %s: %v", chrome, err)
	}

	// The busy workload runs for the whole measurement, so every round
	// sees it in its steady state.
	work, stopWork := context.WithCancel(ctx)
	var submitted, failed atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		busyWorkload(work, busy, &submitted, &failed)
	}()
	defer func() { stopWork(); wg.Wait() }()
	base := "http://" + busy.node.HTTP + "/ui/"
	// Warm up: the node's caches and Consul's, and the browser's.
	for _, p := range ConsolePages {
		if err := show(bctx, base+p, time.Second); err != nil {
			b.Fatal(err)
		}
	}
	if err := show(bctx, "about:blank", 2*time.Second); err != nil {
		b.Fatal(err)
	}
	// window returns the node's CPU over d (from now), in percent of one
	// core, and as a duration.
	window := func(d time.Duration) (float64, time.Duration) {
		before, err := cpuTime(pid)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		select {
		case <-time.After(d):
		case <-ctx.Done():
			b.Fatal(ctx.Err())
		}
		used, err := cpuTime(pid)
		if err != nil {
			b.Fatal(err)
		}
		return 100 * float64(used-before) / float64(time.Since(start)), used - before
	}
	navigate := func(url string) {
		nctx, cancel := context.WithTimeout(bctx, 10*time.Second)
		defer cancel()
		if err := chromedp.Do(nctx, chromedp.Navigate(url)); err != nil {
			b.Fatalf("showing %s: %v", url, err)
		}
	}
	var with, without, diffs, loads []float64
	for i := range ConsolePairs {
		page := base + ConsolePages[i%len(ConsolePages)]
		var w, wo float64
		var load time.Duration
		open := func() {
			navigate(page)
			_, load = window(ConsoleSettle) // the page loads: its first fetches
			w, _ = window(ConsoleRound)     // the page stays open, polling
		}
		closed := func() {
			navigate("about:blank")
			window(time.Second) // let the last answers to the page drain
			wo, _ = window(ConsoleRound)
		}
		if i%2 == 0 {
			open()
			closed()
		} else {
			closed()
			open()
		}
		with, without, diffs = append(with, w), append(without, wo), append(diffs, w-wo)
		// A page load's cost: the settle window's CPU above the closed
		// round's rate.
		loads = append(loads, (load.Seconds()-wo/100*ConsoleSettle.Seconds())*1000)
	}
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d submits of the busy workload failed", n)
	}
	b.ReportMetric(quantile(diffs, 0.5), "overhead-%core")
	b.ReportMetric(quantile(diffs, 0.75)-quantile(diffs, 0.25), "overhead-iqr-%core")
	b.ReportMetric(quantile(with, 0.5), "with-console-%core")
	b.ReportMetric(quantile(without, 0.5), "without-console-%core")
	b.ReportMetric(quantile(loads, 0.5), "page-load-cpu-ms")
	b.ReportMetric(float64(submitted.Load()), "tasks")
}

// busyWorkload submits ConsoleBusyRate echo tasks a second through m
// until ctx ends, from as many goroutines as it takes.
func busyWorkload(ctx context.Context, m *granaryMember, submitted, failed *atomic.Int64) {
	tick := time.NewTicker(time.Second / ConsoleBusyRate)
	defer tick.Stop()
	sem := make(chan struct{}, 64)
	payload := json.RawMessage(`{"busy":true}`)
	for {
		select {
		case <-ctx.Done():
			for range cap(sem) {
				sem <- struct{}{}
			}
			return
		case <-tick.C:
		}
		select {
		case sem <- struct{}{}:
		default:
			continue // the node is behind: skip a beat rather than pile up
		}
		go func() {
			defer func() { <-sem }()
			_, err := m.c.Submit(ctx, api.SubmitRequest{Kind: "echo", Payload: payload})
			switch {
			case err == nil:
				submitted.Add(1)
			case ctx.Err() == nil:
				failed.Add(1)
			}
		}()
	}
}

// show navigates the tab to url and leaves it there for d (from the
// start of the navigation).
func show(ctx context.Context, url string, d time.Duration) error {
	start := time.Now()
	nctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err := chromedp.Do(nctx, chromedp.Navigate(url))
	cancel()
	if err != nil {
		return fmt.Errorf("showing %s: %w", url, err)
	}
	select {
	case <-time.After(d - time.Since(start)):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// quantile is the q-quantile of xs (linear between the nearest ranks).
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	pos := q * float64(len(s)-1)
	i := int(pos)
	if i+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[i] + (pos-float64(i))*(s[i+1]-s[i])
}

// ErrNoChromium: no Chromium to drive.
var ErrNoChromium = errors.New("no Chromium found: install Debian's chromium package (make test does: internal/scripts/install-chromium.sh) or set CHROMIUM_BIN")

// FindChromium is $CHROMIUM_BIN, else chromium, chromium-browser or
// google-chrome on PATH.
func FindChromium() (string, error) {
	if p := os.Getenv("CHROMIUM_BIN"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrNoChromium
}
