package kinds_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"testing"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/examples/kinds"
)

// fakeCtx is a TaskContext for calling handlers directly.
type fakeCtx struct {
	context.Context
	id      string
	attempt int
}

func (f fakeCtx) TaskID() string                   { return f.id }
func (f fakeCtx) Kind() string                     { return "test" }
func (f fakeCtx) Attempt() int                     { return f.attempt }
func (f fakeCtx) Heartbeat()                       {}
func (f fakeCtx) Progress(float64, string)         {}
func (f fakeCtx) Logger() *slog.Logger             { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
func tc(id string, attempt int) actors.TaskContext { return fakeCtx{context.Background(), id, attempt} }

func TestRegister(t *testing.T) {
	reg := actors.NewRegistry()
	if err := kinds.Register(reg); err != nil {
		t.Fatal(err)
	}
	want := "[echo flaky hang pi sleep wordcount]"
	if got := fmt.Sprint(reg.TaskKinds()); got != want {
		t.Fatalf("kinds %s, want %s", got, want)
	}
	if err := kinds.Register(reg); !errors.Is(err, actors.ErrDuplicateKind) {
		t.Fatalf("second Register: %v, want ErrDuplicateKind", err)
	}
}

func TestHandlers(t *testing.T) {
	cases := []struct {
		kind    *actors.TaskKind
		payload string
		attempt int
		want    string
		wantErr string
	}{
		{kinds.Echo, `{"a":[1,2]}`, 1, `{"a":[1,2]}`, ""},
		{kinds.Sleep, `{"ms":1}`, 1, `{"slept_ms":1}`, ""},
		{kinds.Flaky, `{"fail_rate":0,"seed":1}`, 3, `{"attempt":3}`, ""},
		{kinds.Flaky, `{"fail_rate":1,"seed":1}`, 2, "", "simulated failure on attempt 2"},
		{kinds.Hang, `{"succeed_on_attempt":2}`, 2, `{"attempt":2}`, ""},
		{kinds.WordCount, `{"text":"To be, or not to be"}`, 1, `{"words":6,"counts":{"be":2,"not":1,"or":1,"to":2}}`, ""},
	}
	for _, c := range cases {
		out, err := c.kind.Run(tc("t1", c.attempt), []byte(c.payload))
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%s(%s): error %v, want %q", c.kind.Name(), c.payload, err, c.wantErr)
			}
			continue
		}
		if err != nil || string(out) != c.want {
			t.Errorf("%s(%s) = %s, %v; want %s", c.kind.Name(), c.payload, out, err, c.want)
		}
	}
}

func TestFlakyIsDeterministicPerAttempt(t *testing.T) {
	outcome := func(id string, attempt int) (res string) {
		defer func() {
			if r := recover(); r != nil {
				res = "panic"
			}
		}()
		_, err := kinds.Flaky.Run(tc(id, attempt), []byte(`{"fail_rate":0.4,"panic_rate":0.2,"seed":9}`))
		if err != nil {
			return "error"
		}
		return "ok"
	}
	seen := map[string]int{}
	for a := 1; a <= 200; a++ {
		first := outcome("x", a)
		if again := outcome("x", a); again != first {
			t.Fatalf("attempt %d: %s then %s; want the same outcome", a, first, again)
		}
		seen[first]++
	}
	for _, o := range []string{"ok", "error", "panic"} {
		if seen[o] == 0 {
			t.Fatalf("200 attempts gave %v; want every outcome", seen)
		}
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic_rate 1 did not panic")
			}
		}()
		_, _ = kinds.Flaky.Run(tc("x", 1), []byte(`{"panic_rate":1}`))
	}()
}

func TestPi(t *testing.T) {
	out, err := kinds.Pi.Run(tc("p", 1), []byte(`{"samples":1000000}`))
	if err != nil {
		t.Fatal(err)
	}
	var res kinds.PiOut
	if err := json.Unmarshal(out, &res); err != nil || math.Abs(res.Pi-math.Pi) > 0.05 {
		t.Fatalf("pi = %s, %v", out, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := kinds.Pi.Run(fakeCtx{ctx, "p", 1}, []byte(`{"samples":1000000}`)); !errors.Is(err, context.Canceled) {
		t.Fatalf("pi with a cancelled context: %v, want context.Canceled", err)
	}
}

func TestValidateRejectsBadPayloads(t *testing.T) {
	cases := []struct {
		kind    *actors.TaskKind
		payload string
		want    string
	}{
		{kinds.Echo, `{nope`, "not valid JSON"},
		{kinds.Sleep, `{"ms":-1}`, "ms must be in"},
		{kinds.Sleep, `{"ms":"x"}`, "cannot unmarshal"},
		{kinds.Sleep, `{"msec":1}`, "unknown field"},
		{kinds.Flaky, `{"fail_rate":1.5}`, "fail_rate must be in [0,1]"},
		{kinds.Flaky, `{"fail_rate":0.6,"panic_rate":0.6}`, "at most 1"},
		{kinds.Hang, `{"succeed_on_attempt":0}`, "succeed_on_attempt must be in"},
		{kinds.Pi, `{"samples":0}`, "samples must be in"},
		{kinds.WordCount, `[1]`, "cannot unmarshal"},
	}
	for _, c := range cases {
		err := c.kind.Validate([]byte(c.payload))
		if !errors.Is(err, actors.ErrInvalidPayload) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s.Validate(%s) = %v; want ErrInvalidPayload saying %q", c.kind.Name(), c.payload, err, c.want)
		}
	}
	if err := kinds.Echo.Validate(nil); err != nil {
		t.Errorf("echo with no payload: %v", err)
	}
}

func ExampleCountWords() {
	out := kinds.CountWords("The cat and the hat.")
	fmt.Println(out.Words, out.Counts["the"], out.Counts["hat"])
	// Output: 5 2 1
}
