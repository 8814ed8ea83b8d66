package kinds_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/examples/kinds"
)

// outcome runs kind once and classifies what happened, recovering a panic
// as the runtime would.
func outcome(kind *actors.TaskKind, ctx actors.TaskContext, payload string) (res string) {
	defer func() {
		if r := recover(); r != nil {
			res = fmt.Sprint("panic: ", r)
		}
	}()
	out, err := kind.Run(ctx, []byte(payload))
	if err != nil {
		return "error: " + err.Error()
	}
	return string(out)
}

func TestRegisterAddsEveryKindOnce(t *testing.T) {
	reg := actors.NewRegistry()
	if err := kinds.Register(reg); err != nil {
		t.Fatal(err)
	}
	want := []string{"echo", "flaky", "hang", "pi", "sleep", "steps", "wordcount", "wordcount-mapreduce", "wordcount-shard"}
	if got := reg.TaskKinds(); !slices.Equal(got, want) {
		t.Fatalf("registered %v, want %v", got, want)
	}
	if err := kinds.Register(reg); !errors.Is(err, actors.ErrDuplicateKind) {
		t.Fatalf("second Register: %v, want ErrDuplicateKind", err)
	}
}

func TestDefaultSettings(t *testing.T) {
	def := actors.DefaultSettings()
	cases := []struct {
		kind             *actors.TaskKind
		attemptTimeout   time.Duration
		heartbeatTimeout time.Duration
	}{
		{kinds.Echo, def.AttemptTimeout, 0},
		{kinds.Sleep, 0, 10 * time.Second},
		{kinds.Flaky, def.AttemptTimeout, 0},
		{kinds.Hang, 2 * time.Second, 0},
		{kinds.Pi, def.AttemptTimeout, 0},
		{kinds.WordCount, def.AttemptTimeout, 0},
	}
	for _, c := range cases {
		t.Run(c.kind.Name(), func(t *testing.T) {
			s := c.kind.Settings()
			if s.AttemptTimeout != c.attemptTimeout || s.HeartbeatTimeout != c.heartbeatTimeout || s.MaxAttempts != def.MaxAttempts {
				t.Errorf("settings %+v; want attempt time-out %s, heartbeat time-out %s, %d attempts",
					s, c.attemptTimeout, c.heartbeatTimeout, def.MaxAttempts)
			}
		})
	}
}

func TestHandlers(t *testing.T) {
	cases := []struct {
		name    string
		kind    *actors.TaskKind
		payload string
		attempt int
		want    string
	}{
		{"echo object", kinds.Echo, `{"a":[1,2]}`, 1, `{"a":[1,2]}`},
		{"echo keeps bytes", kinds.Echo, ` [1, "two"] `, 1, ` [1, "two"] `},
		{"echo nothing", kinds.Echo, ``, 1, `null`},
		{"sleep 0", kinds.Sleep, `{"ms":0}`, 1, `{"slept_ms":0}`},
		{"sleep 1ms", kinds.Sleep, `{"ms":1}`, 1, `{"slept_ms":1}`},
		{"flaky rates 0", kinds.Flaky, `{"fail_rate":0,"panic_rate":0,"seed":1}`, 3, `{"attempt":3}`},
		{"flaky fail_rate 1", kinds.Flaky, `{"fail_rate":1,"seed":1}`, 2, `error: flaky: simulated failure on attempt 2`},
		{"flaky panic_rate 1", kinds.Flaky, `{"panic_rate":1}`, 4, `panic: flaky: simulated panic on attempt 4`},
		{"hang on its attempt", kinds.Hang, `{"succeed_on_attempt":2}`, 2, `{"attempt":2}`},
		{"hang after its attempt", kinds.Hang, `{"succeed_on_attempt":2}`, 3, `{"attempt":3}`},
		{"hang on attempt 1", kinds.Hang, `{"succeed_on_attempt":1}`, 1, `{"attempt":1}`},
		{"wordcount", kinds.WordCount, `{"text":"To be, or not to be"}`, 1, `{"words":6,"counts":{"be":2,"not":1,"or":1,"to":2}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := outcome(c.kind, newContext(context.Background(), "t1", c.attempt), c.payload); got != c.want {
				t.Errorf("%s(%s) on attempt %d = %s; want %s", c.kind.Name(), c.payload, c.attempt, got, c.want)
			}
		})
	}
}

func TestEchoResultDoesNotAliasPayload(t *testing.T) {
	payload := []byte(`"abc"`)
	out, err := kinds.Echo.Run(newContext(context.Background(), "e", 1), payload)
	if err != nil {
		t.Fatal(err)
	}
	payload[1] = 'X'
	if string(out) != `"abc"` {
		t.Fatalf("result changed with the payload buffer: %s", out)
	}
}

func TestSleepReportsProgressAndStopsWhenCancelled(t *testing.T) {
	// synctest's fake clock makes the 100ms reports exact and the test
	// instant.
	t.Run("reports progress", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx := newContext(context.Background(), "s", 1)
			if got := outcome(kinds.Sleep, ctx, `{"ms":1000}`); got != `{"slept_ms":1000}` {
				t.Fatalf("sleep = %s", got)
			}
			// Reports at 100ms..900ms; at 1s the timer and the ticker fire
			// together and either may win.
			p := ctx.reported()
			if len(p) < 9 || !slices.IsSorted(p) || p[0] <= 0 || p[len(p)-1] > 1 {
				t.Fatalf("progress %v; want at least 9 increasing fractions in (0,1]", p)
			}
		})
	})
	t.Run("reports every report_ms", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx := newContext(context.Background(), "s", 1)
			if got := outcome(kinds.Sleep, ctx, `{"ms":1000,"report_ms":300}`); got != `{"slept_ms":1000}` {
				t.Fatalf("sleep = %s", got)
			}
			if p := ctx.reported(); len(p) != 3 { // at 300, 600 and 900 ms
				t.Fatalf("progress %v; want 3 reports, one every 300 ms", p)
			}
		})
	})
	t.Run("deadline passes", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			deadline, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := kinds.Sleep.Run(newContext(deadline, "s", 1), []byte(`{"ms":60000}`))
			if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 250*time.Millisecond {
				t.Fatalf("sleep returned %v after %s; want DeadlineExceeded after 250ms", err, time.Since(start))
			}
		})
	})
	for _, ms := range []int{0, 60000} {
		t.Run(fmt.Sprintf("already cancelled, %dms", ms), func(t *testing.T) {
			_, err := kinds.Sleep.Run(cancelledContext("s", 1), fmt.Appendf(nil, `{"ms":%d}`, ms))
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("sleep with a cancelled context: %v, want context.Canceled", err)
			}
		})
	}
}

func TestFlakyIsDeterministicPerAttempt(t *testing.T) {
	const payload = `{"fail_rate":0.4,"panic_rate":0.2,"seed":9}`
	kindsOf := map[string]int{}
	for _, id := range []string{"a", "b"} {
		for attempt := 1; attempt <= 100; attempt++ {
			first := outcome(kinds.Flaky, newContext(context.Background(), id, attempt), payload)
			if again := outcome(kinds.Flaky, newContext(context.Background(), id, attempt), payload); again != first {
				t.Fatalf("task %s attempt %d: %q, then %q on a rerun", id, attempt, first, again)
			}
			kindsOf[strings.SplitN(first, ":", 2)[0]]++
		}
	}
	// 200 draws at rates 0.4/0.2/0.4 miss an outcome with odds below 1e-19.
	if len(kindsOf) != 3 {
		t.Fatalf("200 attempts gave %v; want panics, errors and successes", kindsOf)
	}
}

func TestFlakyDrawDependsOnSeedAndTask(t *testing.T) {
	run := func(id, seed string) (outcomes []string) {
		for attempt := 1; attempt <= 50; attempt++ {
			ctx := newContext(context.Background(), id, attempt)
			outcomes = append(outcomes, outcome(kinds.Flaky, ctx, `{"fail_rate":0.5,"seed":`+seed+`}`))
		}
		return outcomes
	}
	base := run("a", "1")
	if slices.Equal(base, run("a", "2")) {
		t.Error("seeds 1 and 2 gave the same 50 outcomes")
	}
	if slices.Equal(base, run("b", "1")) {
		t.Error("tasks a and b gave the same 50 outcomes")
	}
}

func TestHangIgnoresItsContextBeforeItsAttempt(t *testing.T) {
	ctx := cancelledContext("h", 1)
	returned := make(chan string, 1)
	// This goroutine never ends: hang's early attempts block forever by
	// design, and the test binary exiting is what reclaims it.
	go func() { returned <- outcome(kinds.Hang, ctx, `{"succeed_on_attempt":2}`) }()
	// Not returning cannot be observed, only not seen for a while: 50ms is
	// far longer than a handler honouring its cancelled context needs.
	select {
	case got := <-returned:
		t.Fatalf("attempt 1 of 2 returned %s; want it to hang despite its cancelled context", got)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestPi(t *testing.T) {
	ctx := newContext(context.Background(), "p", 1)
	out, err := kinds.Pi.Run(ctx, []byte(`{"samples":1000000}`))
	if err != nil {
		t.Fatal(err)
	}
	var res kinds.PiOut
	if err := json.Unmarshal(out, &res); err != nil || res.Samples != 1_000_000 || math.Abs(res.Pi-math.Pi) > 0.05 {
		t.Fatalf("pi = %s, %v; want within 0.05 of π over 1000000 samples", out, err)
	}
	if p := ctx.reported(); len(p) != 10 || p[len(p)-1] != 1 {
		t.Errorf("progress %v; want 10 reports ending at 1", p)
	}
	if again, err := kinds.Pi.Run(newContext(context.Background(), "p", 2), []byte(`{"samples":1000000}`)); err != nil || string(again) != string(out) {
		t.Errorf("attempt 2 of the same task = %s, %v; want %s", again, err, out)
	}
	for _, samples := range []int{1, 1_000_000} {
		t.Run(fmt.Sprintf("cancelled, %d samples", samples), func(t *testing.T) {
			_, err := kinds.Pi.Run(cancelledContext("p", 1), fmt.Appendf(nil, `{"samples":%d}`, samples))
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("pi with a cancelled context: %v, want context.Canceled", err)
			}
		})
	}
}

func TestCountWords(t *testing.T) {
	cases := []struct {
		text string
		want string
	}{
		{"", `{"words":0,"counts":{}}`},
		{"  ...  ", `{"words":0,"counts":{}}`},
		{"Route 66, route 66!", `{"words":4,"counts":{"66":2,"route":2}}`},
		{"Don't STOP", `{"words":3,"counts":{"don":1,"stop":1,"t":1}}`},
		{"Ça va? ÇA VA!", `{"words":4,"counts":{"va":2,"ça":2}}`},
		{"tab\tnew\nline", `{"words":3,"counts":{"line":1,"new":1,"tab":1}}`},
	}
	for _, c := range cases {
		t.Run(c.text, func(t *testing.T) {
			got, err := json.Marshal(kinds.CountWords(c.text))
			if err != nil || string(got) != c.want {
				t.Errorf("CountWords(%q) = %s, %v; want %s", c.text, got, err, c.want)
			}
		})
	}
}

func TestValidateRejectsBadPayloads(t *testing.T) {
	cases := []struct {
		kind    *actors.TaskKind
		payload string
		want    string
	}{
		{kinds.Echo, `{nope`, "not valid JSON"},
		{kinds.Echo, `1 2`, "not valid JSON"},
		{kinds.Pi, ``, "samples must be between"},
		{kinds.Sleep, `{"ms":-1}`, "ms must be between 0 and 86400000 (24h), got -1"},
		{kinds.Sleep, `{"ms":86400001}`, "ms must be between 0 and 86400000"},
		{kinds.Sleep, `{"ms":"x"}`, "cannot unmarshal"},
		{kinds.Sleep, `{"ms":1.5}`, "cannot unmarshal"},
		{kinds.Sleep, `{"msec":1}`, `unknown field "msec"`},
		{kinds.Sleep, `{"ms":1} {}`, "unexpected data"},
		{kinds.Sleep, `{"ms":1,"report_ms":-1}`, "report_ms must be between 0 (every 100ms) and 5000, got -1"},
		{kinds.Sleep, `{"ms":1,"report_ms":5001}`, "report_ms must be between 0 (every 100ms) and 5000"},
		{kinds.Flaky, `{"fail_rate":1.5}`, "fail_rate must be between 0 and 1, got 1.5"},
		{kinds.Flaky, `{"fail_rate":-0.1}`, "fail_rate must be between 0 and 1"},
		{kinds.Flaky, `{"panic_rate":2}`, "panic_rate must be between 0 and 1, got 2"},
		{kinds.Flaky, `{"fail_rate":0.6,"panic_rate":0.6}`, "fail_rate + panic_rate must be at most 1, got 0.6 + 0.6"},
		{kinds.Flaky, `{"seed":-1}`, "cannot unmarshal"},
		{kinds.Hang, `{}`, "succeed_on_attempt must be between 1 and 1000, got 0"},
		{kinds.Hang, `{"succeed_on_attempt":1001}`, "succeed_on_attempt must be between 1 and 1000"},
		{kinds.Pi, `{"samples":0}`, "samples must be between 1 and 1000000000, got 0"},
		{kinds.Pi, `{"samples":-5}`, "samples must be between 1 and 1000000000"},
		{kinds.Pi, `{"samples":1000000001}`, "samples must be between 1 and 1000000000"},
		{kinds.Pi, `{"samples":1e6}`, "cannot unmarshal"},
		{kinds.WordCount, `[1]`, "cannot unmarshal"},
		{kinds.WordCount, `{"text":1}`, "cannot unmarshal"},
	}
	for _, c := range cases {
		t.Run(c.kind.Name()+" "+c.payload, func(t *testing.T) {
			err := c.kind.Validate([]byte(c.payload))
			if !errors.Is(err, actors.ErrInvalidPayload) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Validate(%s) = %v; want ErrInvalidPayload saying %q", c.payload, err, c.want)
			}
		})
	}
}

func TestValidateAcceptsGoodPayloads(t *testing.T) {
	cases := []struct {
		kind    *actors.TaskKind
		payload string
	}{
		{kinds.Echo, ``},
		{kinds.Echo, `null`},
		{kinds.Echo, `"text"`},
		{kinds.Sleep, `{}`},
		{kinds.Sleep, `{"ms":86400000}`},
		{kinds.Sleep, `{"ms":1,"report_ms":5000}`},
		{kinds.Flaky, `{}`},
		{kinds.Flaky, `{"fail_rate":0.7,"panic_rate":0.3,"seed":18446744073709551615}`},
		{kinds.Flaky, `{"fail_rate":0.9,"panic_rate":0.1}`},
		{kinds.Hang, `{"succeed_on_attempt":1000}`},
		{kinds.Pi, `{"samples":1}`},
		{kinds.Pi, `{"samples":1000000000}`},
		{kinds.WordCount, `{}`},
		{kinds.WordCount, `{"text":"hello"}`},
	}
	for _, c := range cases {
		t.Run(c.kind.Name()+" "+c.payload, func(t *testing.T) {
			if err := c.kind.Validate([]byte(c.payload)); err != nil {
				t.Errorf("Validate(%s) = %v; want nil", c.payload, err)
			}
		})
	}
}

// TestStepsResumesFromItsCheckpoint: an attempt of steps that stops at
// step 3 (its context cancelled) leaves the checkpoint 3 behind it, and the
// next attempt through the same checkpoints starts there.
func TestStepsResumesFromItsCheckpoint(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	first := newContext(ctx, "s1", 1)
	var out []byte
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		out, err = kinds.Steps.Run(first, []byte(`{"steps":1000,"step_ms":1}`))
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		var step int
		if ok, _ := first.LastCheckpoint(&step); ok && step >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("steps saved no checkpoint past step 3 in 10s")
		}
	}
	cancel()
	<-done
	if err == nil {
		t.Fatalf("cancelled attempt returned %s", out)
	}
	var saved int
	if _, err := first.LastCheckpoint(&saved); err != nil {
		t.Fatal(err)
	}
	second := newContext(context.Background(), "s1", 2)
	if err := second.Checkpoint(saved); err != nil {
		t.Fatal(err)
	}
	out, err = kinds.Steps.Run(second, []byte(`{"steps":1000}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`{"steps":1000,"resumed_from":%d,"attempt":2}`, saved); string(out) != want {
		t.Fatalf("second attempt returned %s, want %s", out, want)
	}
}

// TestEveryStockKindHasAnExample: a new user learns a kind's payload from
// `granary kinds` and the console's forms (hang with {} said
// "succeed_on_attempt must be between 1 and 1000, got 0"; alarm's after_ms
// was only in go doc). Each example passes the kind's own check (the
// constructor makes sure of it).
func TestEveryStockKindHasAnExample(t *testing.T) {
	for _, k := range kinds.All() {
		if len(k.Example()) == 0 || k.Validate(k.Example()) != nil {
			t.Errorf("task kind %s: example %q", k.Name(), k.Example())
		}
	}
	for _, k := range kinds.Grains() {
		if len(k.Example()) == 0 || k.Validate(k.Example()) != nil {
			t.Errorf("grain kind %s: example %q", k.Name(), k.Example())
		}
	}
}
