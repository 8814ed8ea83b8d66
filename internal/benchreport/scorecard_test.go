package main

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// quietDurable128 and quietDurable32 are the figures of the quiet-machine
// durable run of 2026-12-07 (docs/benchmarks-history.md), whose analysis
// the scorecard must reproduce.
var (
	quietDurable128 = &durableFigures{Ratio: 0.62, Caller: 52, Nodes: 184, Consul: 176, PutCaller: 62, PutConsul: 165}
	quietDurable32  = &durableFigures{Ratio: 0.37, Caller: 94, Nodes: 276, Consul: 291, PutCaller: 62, PutConsul: 165}
)

func TestScorecardRows(t *testing.T) {
	for _, tc := range []struct {
		name    string
		card    scorecard
		row     string // a part of the row's target, which picks it
		figure  string
		verdict string
		why     []string // parts of the last column; none: it must be empty
	}{
		{
			name: "durable 128 not met: decomposition and the nodes' budget",
			card: scorecard{Durable128: quietDurable128},
			row:  "128 callers", figure: "0.62×", verdict: "**not met**",
			why: []string{
				"callers 52 + nodes 184 + Consul 176 = 412 µs",
				"a put's callers 62 + Consul 165 = 227 µs (CPU ratio 0.55×)",
				"with the nodes' CPU at zero the ratio would be 1.00× (227 ÷ 228 µs)",
				"0.9× needs the nodes' CPU at most 24 µs per task (184 now)",
			},
		},
		{
			name: "durable 32 not met and out of reach even without the nodes",
			card: scorecard{Durable32: quietDurable32},
			row:  "32 callers (≥ 0.6×)", figure: "0.37×", verdict: "**not met**",
			why: []string{"with the nodes' CPU at zero the ratio would be 0.59×", "out of reach on CPU even then"},
		},
		{
			name: "durable met: no decomposition",
			card: scorecard{Durable128: &durableFigures{Ratio: 0.95, Caller: 1, Nodes: 1, Consul: 1, PutCaller: 1, PutConsul: 1}},
			row:  "128 callers", figure: "0.95×", verdict: "met",
		},
		{
			name: "durable not measured",
			card: scorecard{},
			row:  "128 callers", figure: notMeasured, verdict: "— (section `durable`)",
		},
		{
			name: "pending memory met",
			card: scorecard{Memory: &memoryFigures{PendingB: 981, RunningB: 5389, RunningHeap: 5400, RunningStk: 2037}},
			row:  "memory per pending", figure: "981 B", verdict: "met",
		},
		{
			name: "running memory not met: heap and stacks",
			card: scorecard{Memory: &memoryFigures{PendingB: 981, RunningB: 5389, RunningHeap: 5400, RunningStk: 2037}},
			row:  "memory per running", figure: "5389 B", verdict: "**not met**",
			why: []string{"heap 5400 B + stacks 2037 B per task"},
		},
		{
			name: "granary dev not met: CPU per task and the ceiling it implies",
			card: scorecard{DevClient: &devFigures{Rate: 3000, RawRate: 9000, CPU: 400, RawCPU: 20, Allocs: 335, RawAllocs: 10, Bytes: 26221, RawBytes: 1493, Cores: 2}},
			row:  "Go client", figure: "0.33× (3000 ÷ 9000 per s)", verdict: "**not met**",
			why: []string{"400 µs, against a raw write's 20 µs (20×)", "allocations 335 (26221 B) against 10 (1493 B)", "2 busy cores would run at most 5000 tasks/s, 0.56× the raw writes' rate"},
		},
		{
			name: "granary dev HTTP not measured",
			card: scorecard{DevClient: &devFigures{Rate: 1, RawRate: 1}},
			row:  "HTTP API", figure: notMeasured, verdict: "— (section `single`)",
		},
		{
			name: "failover: the 100,000 figure is bench-scale's",
			card: scorecard{Failover: &failoverFigures{Tasks: 10000, P50: 5.94, Worst: 6.28}},
			row:  "failover", figure: "10000 tasks: p50 5.94 s, worst 6.28 s (about 1684 tasks/s)", verdict: "judged by `make bench-scale`",
			why: []string{"go run ./internal/benchscale -tasks 0 -failover 100000 -failover-reps 3", "20000 tasks/s"},
		},
		{
			name: "grain state Consul not met",
			card: scorecard{Grain: &grainFigures{ConsulWritePut: 1.12, NodeWriteGet: 1.9, WriteConsul: 213, PutConsul: 193, WriteNode: 190, GetNode: 100}},
			row:  "Consul's CPU ÷ a raw put's", figure: "1.12×", verdict: "**not met**",
			why: []string{"Consul's CPU per grain write 213 µs, per put 193 µs"},
		},
		{
			name: "grain state node met",
			card: scorecard{Grain: &grainFigures{ConsulWritePut: 1.12, NodeWriteGet: 1.9, WriteConsul: 213, PutConsul: 193, WriteNode: 190, GetNode: 100}},
			row:  "writes nothing", figure: "1.90×", verdict: "met",
		},
		{
			name: "grain state node not met: the write's own share against its allowance",
			card: scorecard{Grain: &grainFigures{ConsulWritePut: 1, NodeWriteGet: 2.07, WriteConsul: 1, PutConsul: 1, WriteNode: 207, GetNode: 100}},
			row:  "writes nothing", figure: "2.07×", verdict: "**not met**",
			why: []string{"the write's own share (encoding the record, its transaction) is 107 µs, which 2.0× allows up to 100 µs"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cells := scorecardRow(t, tc.card.markdown(), tc.row)
			if cells[1] != tc.figure || cells[2] != tc.verdict {
				t.Errorf("figure %q, verdict %q; want %q, %q", cells[1], cells[2], tc.figure, tc.verdict)
			}
			if len(tc.why) == 0 && cells[3] != "" {
				t.Errorf("why %q; want none", cells[3])
			}
			for _, w := range tc.why {
				if !strings.Contains(cells[3], w) {
					t.Errorf("why %q lacks %q", cells[3], w)
				}
			}
		})
	}
}

// scorecardRow returns the cells of the one table row of md whose target
// contains row.
func scorecardRow(t *testing.T, md, row string) []string {
	t.Helper()
	var found []string
	for _, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "| ") || !strings.HasSuffix(line, " |") {
			continue
		}
		cells := strings.Split(strings.TrimSuffix(strings.TrimPrefix(line, "| "), " |"), " | ")
		if len(cells) == 4 && strings.Contains(cells[0], row) {
			if found != nil {
				t.Fatalf("more than one row matches %q:\n%s", row, md)
			}
			found = cells
		}
	}
	if found == nil {
		t.Fatalf("no row matches %q:\n%s", row, md)
	}
	return found
}

func TestScorecardEveryTargetOnceEvenWhenNothingWasMeasured(t *testing.T) {
	md := (&scorecard{LoadStart: "0.50 0.40 0.30", LoadEnd: "0.60 0.50 0.40"}).markdown()
	if got := strings.Count(md, notMeasured); got != 9 {
		t.Errorf("%d rows not measured; want the 9 targets:\n%s", got, md)
	}
	if !strings.Contains(md, "`make bench-scale`'s") {
		t.Errorf("the figures of a million tasks are not sent to bench-scale:\n%s", md)
	}
	if !strings.Contains(md, "## Issue #23 scorecard") || !strings.Contains(md, "at the run's start: 0.50 0.40 0.30; at this section: 0.60 0.50 0.40") {
		t.Errorf("heading or load average missing:\n%s", md)
	}
}

func TestSelectSections(t *testing.T) {
	all := []section{{name: "single", expected: time.Minute}, {name: "durable", expected: 7 * time.Minute}, {name: "scorecard"}}
	got, err := selectSections(all, "scorecard,durable")
	if err != nil || len(got) != 2 || got[0].name != "durable" || got[1].name != "scorecard" {
		t.Fatalf("got %v, %v; want durable then scorecard, in the report's order", got, err)
	}
	if d := expectedDuration(got); d != 7*time.Minute {
		t.Errorf("expected %s; want 7m", d)
	}
	if got, err := selectSections(all, ""); err != nil || len(got) != 3 {
		t.Errorf("no -only: got %d sections, %v; want all 3", len(got), err)
	}
	if _, err := selectSections(all, "durable,durabel"); !errors.Is(err, errUnknownSection) || !strings.Contains(err.Error(), `"durabel"`) {
		t.Errorf("a misspelt section: %v; want errUnknownSection naming it", err)
	}
}

func TestRunBudgetCoversAFullRunOnALoadedMachine(t *testing.T) {
	// The 2026-12-01 full run of fewer sections took 18m18s: today's
	// sections must be given more than the 20 minutes that bounded it.
	if b := runBudget(45 * time.Minute); b < 90*time.Minute {
		t.Errorf("budget %s for a 45-minute run; want at least twice that", b)
	}
}

func TestHistoryLink(t *testing.T) {
	for out, want := range map[string]string{
		"docs/benchmarks.md":     "benchmarks-history.md",
		"benchmarks.md":          "docs/benchmarks-history.md",
		"/tmp/../tmp/x/bench.md": "", // somewhere else: a relative path that still reaches it
	} {
		got := historyLink(out)
		if want != "" && got != want {
			t.Errorf("historyLink(%q) = %q; want %q", out, got, want)
		}
		if !strings.HasSuffix(got, historyFile[len("docs/"):]) {
			t.Errorf("historyLink(%q) = %q; want a path to %s", out, got, historyFile)
		}
	}
}

// TestWriteReportKeepsTheHistory is issue #23's first problem: a full run
// rewrote docs/benchmarks.md whole, and the measurements made by hand in it
// with it. They live in the history file now, which the report links to
// and never writes.
func TestWriteReportKeepsTheHistory(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.MkdirAll("docs", 0o755); err != nil {
		t.Fatal(err)
	}
	const hand = "# Benchmarks measured by hand\n\n### Something (issue #23), 2026-12-07\n"
	if err := os.WriteFile(historyFile, []byte(hand), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeReport("docs/benchmarks.md", []string{"## A section\n"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	report, err := os.ReadFile("docs/benchmarks.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(report), "Hand-made measurements and their analyses: [docs/benchmarks-history.md](benchmarks-history.md)") {
		t.Errorf("the report does not link to the history:\n%s", report)
	}
	if !strings.Contains(string(report), "`go run ./internal/benchreport") || !strings.Contains(string(report), "## A section") {
		t.Errorf("the report lacks its command or its sections:\n%s", report)
	}
	if got, err := os.ReadFile(historyFile); err != nil || string(got) != hand {
		t.Errorf("the history file changed: %q, %v", got, err)
	}
}
