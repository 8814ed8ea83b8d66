package kinds

import (
	"fmt"
	"time"

	"github.com/granary-rt/granary/actors"
)

// MaxSleep is the longest sleep a payload may ask for.
const MaxSleep = 24 * time.Hour

// sleepReportEvery is how often sleep reports progress, which also counts as
// its heartbeat: often enough for a live progress bar, rare enough to cost
// nothing.
const sleepReportEvery = 100 * time.Millisecond

// SleepIn is the payload of sleep.
type SleepIn struct {
	// MS is how long to sleep, in milliseconds: 0 to 86400000 (MaxSleep).
	MS int64 `json:"ms"`
	// ReportMS is how often it reports progress (its heartbeat), in
	// milliseconds: 0 is every 100 ms; at most 5000, half its heartbeat
	// time-out. A member running 20,000 sleeps spent a fifth of its CPU on
	// their reports every 100 ms (issue #23's scale benchmark).
	ReportMS int64 `json:"report_ms,omitempty"`
}

// maxSleepReport is the longest report_ms: half the heartbeat time-out.
const maxSleepReport = 5 * time.Second

// Validate reports whether the sleep is within 0..MaxSleep and its report
// interval within 0..maxSleepReport.
func (in SleepIn) Validate() error {
	if in.MS < 0 || in.MS > MaxSleep.Milliseconds() {
		return fmt.Errorf("ms must be between 0 and %d (%gh), got %d", MaxSleep.Milliseconds(), MaxSleep.Hours(), in.MS)
	}
	if in.ReportMS < 0 || in.ReportMS > maxSleepReport.Milliseconds() {
		return fmt.Errorf("report_ms must be between 0 (every %s) and %d, got %d", sleepReportEvery, maxSleepReport.Milliseconds(), in.ReportMS)
	}
	return nil
}

// SleepOut is the result of sleep.
type SleepOut struct {
	SleptMS int64 `json:"slept_ms"`
}

// Sleep waits ms milliseconds. It is the model of a long-running, well-
// behaved handler: it reports progress (a heartbeat) every 100ms, or every
// report_ms, and returns ctx.Err() as soon as its attempt is cancelled.
//
// Because it heartbeats, its default settings swap the attempt time-out for
// a heartbeat time-out: a sleep may legitimately run for a day, but a
// stuck one is caught within seconds.
var Sleep = actors.MustTask("sleep", runSleep,
	actors.WithCheck(SleepIn.Validate),
	actors.WithExample(`{"ms":3000}`),
	// No attempt time-out: a healthy attempt ends by itself within
	// MaxSleep, which the payload check enforces, and the 10-minute default
	// would fail every sleep longer than that.
	actors.WithAttemptTimeout(0),
	// 10s is a hundred missed reports: only a wedged attempt or a stalled
	// machine misses that many, never a busy one.
	actors.WithHeartbeatTimeout(10*time.Second),
)

func runSleep(ctx actors.TaskContext, in SleepIn) (SleepOut, error) {
	total := time.Duration(in.MS) * time.Millisecond
	if total == 0 {
		return SleepOut{}, ctx.Err()
	}
	start := time.Now()
	done := time.NewTimer(total)
	defer done.Stop()
	every := sleepReportEvery
	if in.ReportMS > 0 {
		every = time.Duration(in.ReportMS) * time.Millisecond
	}
	report := time.NewTicker(every)
	defer report.Stop()
	for {
		select {
		case <-done.C:
			return SleepOut{SleptMS: in.MS}, nil
		case <-report.C:
			slept := time.Since(start)
			ctx.Progress(min(float64(slept)/float64(total), 1), fmt.Sprintf("slept %s of %s", slept.Round(time.Millisecond), total))
		case <-ctx.Done():
			return SleepOut{}, ctx.Err()
		}
	}
}
