package benchmarks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
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
	// ConsoleRounds is how many rounds each side (console open, console
	// closed) gets; they alternate ABBA so that a drift over the run (the
	// store grows by every round's tasks) weighs on both alike.
	ConsoleRounds = 4
	// ConsoleRound is one round's length.
	ConsoleRound = 15 * time.Second
	// ConsoleBusyRate is the busy workload: echo tasks submitted per
	// second through the measured node, every round the same.
	ConsoleBusyRate = 200
	// ConsoleMaxOverhead is the target: a console open on a busy node
	// costs it at most 1% of one core.
	ConsoleMaxOverhead = 1.0
)

// ConsolePages are the pages the browser shows in turn during a round
// with the console open, each for an equal share of the round.
var ConsolePages = []string{"#/tasks", "#/cluster", "#/failures", "#/grains", "#/jobs"}

// ConsoleOverhead measures what a web console open on a busy node costs
// that node: two `granary node` processes on a real Consul dev agent; a
// fixed workload of ConsoleBusyRate echo tasks a second submitted through
// node 1 (the busy node), with headless Chromium showing the console's
// pages from node 1 (each of ConsolePages in turn) or showing about:blank,
// in alternating rounds. Node 1's CPU comes from /proc/PID/stat. b.N is
// ignored; metrics: "with-console-%core" and "without-console-%core"
// (medians, in percent of one core), "overhead-%core" (their difference),
// "without-console-range-%core" (how far the closed rounds differ: the
// noise) and "tasks" (submitted over the run).
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
	// Warm up: the node's caches and Consul's, and a first console load.
	if err := showConsole(bctx, "http://"+busy.node.HTTP+"/ui/", 5*time.Second); err != nil {
		b.Fatal(err)
	}
	blank(bctx)
	var with, without []float64
	for i := range 2 * ConsoleRounds {
		open := i%4 == 0 || i%4 == 3 // ABBA: open, closed, closed, open, ...
		before, err := cpuTime(pid)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if open {
			if err := showConsole(bctx, "http://"+busy.node.HTTP+"/ui/", ConsoleRound); err != nil {
				b.Fatal(err)
			}
		} else {
			select {
			case <-time.After(ConsoleRound):
			case <-ctx.Done():
				b.Fatal(ctx.Err())
			}
		}
		used, err := cpuTime(pid)
		if err != nil {
			b.Fatal(err)
		}
		pct := 100 * float64(used-before) / float64(time.Since(start))
		if open {
			with = append(with, pct)
			blank(bctx)
		} else {
			without = append(without, pct)
		}
	}
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d submits of the busy workload failed", n)
	}
	w, wo := medianFloat(with), medianFloat(without)
	b.ReportMetric(w, "with-console-%core")
	b.ReportMetric(wo, "without-console-%core")
	b.ReportMetric(w-wo, "overhead-%core")
	b.ReportMetric(float64(submitted.Load()), "tasks")
	b.ReportMetric(spread(without), "without-console-range-%core")
}

// spread is max - min: how far rounds of one side differ, the noise the
// overhead is read against.
func spread(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	lo, hi := xs[0], xs[0]
	for _, x := range xs {
		lo, hi = min(lo, x), max(hi, x)
	}
	return hi - lo
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

// showConsole shows each of ConsolePages for an equal share of d.
func showConsole(ctx context.Context, base string, d time.Duration) error {
	each := d / time.Duration(len(ConsolePages))
	for _, p := range ConsolePages {
		start := time.Now()
		nctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := chromedp.Do(nctx, chromedp.Navigate(base+p))
		cancel()
		if err != nil {
			return fmt.Errorf("showing %s%s: %w", base, p, err)
		}
		select {
		case <-time.After(each - time.Since(start)):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// blank closes the console: the tab shows about:blank, which polls nothing.
func blank(ctx context.Context) {
	nctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_ = chromedp.Do(nctx, chromedp.Navigate("about:blank"))
}

func medianFloat(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
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
