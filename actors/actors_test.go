package actors_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
)

type fakeTask struct {
	context.Context
	attempt int
	*actors.MemoryCheckpoints
}

func (f fakeTask) TaskID() string           { return "t1" }
func (f fakeTask) Kind() string             { return "k" }
func (f fakeTask) Attempt() int             { return f.attempt }
func (f fakeTask) Heartbeat()               {}
func (f fakeTask) Progress(float64, string) {}
func (f fakeTask) Logger() *slog.Logger     { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type addIn struct {
	A, B int
}

func TestTypedTask(t *testing.T) {
	add := actors.MustTask("add", func(_ actors.TaskContext, in addIn) (int, error) { return in.A + in.B, nil })
	out, err := add.Run(fakeTask{context.Background(), 1, &actors.MemoryCheckpoints{}}, []byte(`{"A":2,"B":3}`))
	if err != nil || string(out) != "5" {
		t.Fatalf("Run = %s, %v; want 5", out, err)
	}
	for payload, want := range map[string]string{
		`{"A":"x"}`:       "cannot unmarshal",
		`{"C":1}`:         `unknown field "C"`,
		`{"A":1} {"B":2}`: "unexpected data after the JSON value",
		`[1,2]`:           "cannot unmarshal array",
	} {
		err := add.Validate([]byte(payload))
		if !errors.Is(err, actors.ErrInvalidPayload) || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate(%q) = %v; want ErrInvalidPayload saying %q", payload, err, want)
		}
	}
	// A payload that slipped past validation fails permanently at run time.
	if _, err := add.Run(fakeTask{context.Background(), 1, &actors.MemoryCheckpoints{}}, []byte(`nope`)); !actors.IsPermanent(err) || !errors.Is(err, actors.ErrInvalidPayload) {
		t.Fatalf("Run(bad payload) = %v; want a permanent ErrInvalidPayload", err)
	}
}

func TestProtoPayloads(t *testing.T) {
	k := actors.MustTask("proto", func(_ actors.TaskContext, in *messages.RetryPolicy) (*messages.RetryPolicy, error) {
		in.MaxAttempts++
		return in, nil
	})
	out, err := k.Run(fakeTask{context.Background(), 1, &actors.MemoryCheckpoints{}}, []byte(`{"maxAttempts":2}`))
	if err != nil || !strings.Contains(string(out), `"maxAttempts":3`) {
		t.Fatalf("Run = %s, %v", out, err)
	}
	if err := k.Validate([]byte(`{"max_attempts":"x"}`)); !errors.Is(err, actors.ErrInvalidPayload) {
		t.Fatalf("Validate(bad proto JSON) = %v", err)
	}
}

func TestPermanent(t *testing.T) {
	base := errors.New("no such file")
	err := fmt.Errorf("loading: %w", actors.Permanent(base))
	if !actors.IsPermanent(err) || !supervisor.IsPermanent(err) || !errors.Is(err, base) {
		t.Fatalf("wrapped Permanent lost its mark or its cause: %v", err)
	}
	if actors.IsPermanent(base) || actors.Permanent(nil) != nil {
		t.Fatal("a plain error is permanent, or Permanent(nil) is not nil")
	}
	if supervisor.DefaultDecider(supervisor.Failure{Cause: supervisor.CauseError, Err: err}) != supervisor.Stop {
		t.Fatal("the supervisor's default decider retries a permanent error")
	}
}

func TestOverrides(t *testing.T) {
	base, limits := actors.DefaultSettings(), actors.DefaultLimits()
	three, ms, min := 3, time.Millisecond, 2*time.Minute
	got, err := actors.Overrides{MaxAttempts: &three, BackoffInitial: &min}.Apply(base, limits)
	if err != nil {
		t.Fatal(err)
	}
	if got.MaxAttempts != 3 || got.Backoff.Initial != min || got.Backoff.Max != min {
		t.Fatalf("Apply = %+v; want 3 attempts and the max raised to the new initial", got)
	}
	got, err = actors.Overrides{BackoffMax: &ms}.Apply(base, limits)
	if err != nil || got.Backoff.Initial != ms {
		t.Fatalf("lowering backoff_max below the initial = %+v, %v; want initial lowered too", got.Backoff, err)
	}
	zero, big, neg, day8 := 0, 5000, -time.Second, 8*24*time.Hour
	half := 0.5
	for _, c := range []struct {
		o    actors.Overrides
		want string
	}{
		{actors.Overrides{MaxAttempts: &zero}, "max_attempts must be at least 1"},
		{actors.Overrides{MaxAttempts: &big}, "max_attempts must be at most 1000"},
		{actors.Overrides{AttemptTimeout: &neg}, "attempt_timeout must not be negative"},
		{actors.Overrides{ScheduleToClose: &day8}, "deadline must be at most"},
		{actors.Overrides{BackoffMultiplier: &half}, "multiplier"},
		{actors.Overrides{BackoffInitial: &neg}, "backoff_initial must be at least"},
	} {
		if _, err := c.o.Apply(base, limits); !errors.Is(err, actors.ErrInvalidPolicy) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Apply(%+v) = %v; want ErrInvalidPolicy saying %q", c.o, err, c.want)
		}
	}
}

func TestRegistry(t *testing.T) {
	reg := actors.NewRegistry()
	a := actors.MustTask("a", func(actors.TaskContext, int) (int, error) { return 0, nil })
	if err := reg.RegisterTask(a); err != nil {
		t.Fatal(err)
	}
	if err := reg.RegisterTask(a); !errors.Is(err, actors.ErrDuplicateKind) {
		t.Fatalf("duplicate: %v", err)
	}
	g, err := actors.NewGrain("a", func() actors.Grain { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.RegisterGrain(g); !errors.Is(err, actors.ErrDuplicateKind) {
		t.Fatalf("grain with a task's name: %v", err)
	}
	if _, err := reg.Task("b"); !errors.Is(err, actors.ErrUnknownKind) || !strings.Contains(err.Error(), "[a]") {
		t.Fatalf("unknown kind: %v; want ErrUnknownKind listing the known kinds", err)
	}
	if _, err := actors.NewTask("Bad Name", func(actors.TaskContext, []byte) ([]byte, error) { return nil, nil }); !errors.Is(err, actors.ErrInvalidKind) {
		t.Fatalf("bad name: %v", err)
	}
	if _, err := actors.NewTask("x", nil); !errors.Is(err, actors.ErrInvalidKind) {
		t.Fatalf("nil handler: %v", err)
	}
	if _, err := actors.Task("y", func(actors.TaskContext, int) (int, error) { return 0, nil }, actors.WithMaxAttempts(0)); !errors.Is(err, actors.ErrInvalidKind) {
		t.Fatalf("invalid default settings: %v", err)
	}
}

type counter struct{ n int }

type addReq struct {
	N int `json:"n"`
}

func (c *counter) Receive(_ actors.GrainContext, r addReq) (int, error) {
	c.n += r.N
	return c.n, nil
}

func TestTypedGrain(t *testing.T) {
	k, err := actors.GrainOf("counter", func() actors.TypedGrain[addReq, int] { return &counter{} })
	if err != nil {
		t.Fatal(err)
	}
	g := k.New()
	for i, want := range []string{"2", "5"} {
		out, err := g.Receive(nil, []byte(fmt.Sprintf(`{"n":%d}`, 2+i)))
		if err != nil || string(out) != want {
			t.Fatalf("Receive #%d = %s, %v; want %s", i, out, err, want)
		}
	}
	if err := k.Validate([]byte(`{"m":1}`)); !errors.Is(err, actors.ErrInvalidPayload) {
		t.Fatalf("Validate(bad request) = %v", err)
	}
}

func ExampleTask() {
	square := actors.MustTask("square", func(_ actors.TaskContext, n int) (int, error) { return n * n, nil },
		actors.WithMaxAttempts(3))
	fmt.Println(square.Name(), square.Settings().MaxAttempts)
	fmt.Println(square.Validate([]byte(`"seven"`)) != nil)
	// Output:
	// square 3
	// true
}

func (in addIn) Validate() error {
	if in.A < 0 || in.B < 0 {
		return fmt.Errorf("A and B must not be negative, got %d and %d", in.A, in.B)
	}
	return nil
}

// TestWithCheck: a typed kind's check refuses a payload that decodes but
// is wrong, with the check's words, and lets a good one through.
func TestWithCheck(t *testing.T) {
	add := actors.MustTask("add", func(_ actors.TaskContext, in addIn) (int, error) { return in.A + in.B, nil },
		actors.WithCheck(addIn.Validate))
	if err := add.Validate([]byte(`{"A":1,"B":2}`)); err != nil {
		t.Fatalf("a good payload: %v", err)
	}
	if err := add.Validate([]byte(`{"A":-1,"B":2}`)); !errors.Is(err, actors.ErrInvalidPayload) || !strings.Contains(err.Error(), "must not be negative") {
		t.Fatalf("a negative A: %v; want ErrInvalidPayload with the check's words", err)
	}
	if err := add.Validate([]byte(`{"C":1}`)); !errors.Is(err, actors.ErrInvalidPayload) {
		t.Fatalf("a payload that does not decode: %v", err)
	}
	if _, err := actors.Task("bad", func(_ actors.TaskContext, in addIn) (int, error) { return 0, nil }, actors.WithCheck[addIn](nil)); !errors.Is(err, actors.ErrInvalidKind) {
		t.Fatalf("a nil check: %v, want ErrInvalidKind", err)
	}
}
