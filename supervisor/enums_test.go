package supervisor

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestEnumNames(t *testing.T) {
	type enum interface{ String() string }
	tests := []struct {
		v    enum
		want string
	}{
		{OneForOne, "one_for_one"}, {OneForAll, "one_for_all"}, {RestForOne, "rest_for_one"}, {Strategy(7), "Strategy(7)"},
		{Permanent, "permanent"}, {Transient, "transient"}, {Temporary, "temporary"},
		{Restart, "restart"}, {Stop, "stop"}, {Escalate, "escalate"}, {Resume, "resume"}, {Directive(-1), "Directive(-1)"},
		{CauseError, "error"}, {CausePanic, "panic"}, {CauseAttemptTimeout, "attempt_timeout"},
		{CauseHeartbeatTimeout, "heartbeat_timeout"}, {CauseMemberLost, "member_lost"},
		{CauseDeadline, "deadline_exceeded"}, {CauseCancelled, "cancelled"},
		{JitterNone, "none"}, {JitterFull, "full"}, {JitterEqual, "equal"},
	}
	for _, tt := range tests {
		if got := tt.v.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestParseEnums(t *testing.T) {
	for _, s := range []Strategy{OneForOne, OneForAll, RestForOne} {
		if got, err := ParseStrategy(s.String()); got != s || err != nil {
			t.Errorf("ParseStrategy(%q) = %v, %v", s, got, err)
		}
	}
	if got, err := ParseStrategy(" Rest-For-One "); got != RestForOne || err != nil {
		t.Errorf("lenient parse = %v, %v", got, err)
	}
	for c := CauseError; c <= CauseCancelled; c++ {
		if got, err := ParseCause(c.String()); got != c || err != nil {
			t.Errorf("ParseCause(%q) = %v, %v", c, got, err)
		}
	}
	for _, j := range []Jitter{JitterNone, JitterFull, JitterEqual} {
		if got, err := ParseJitter(j.String()); got != j || err != nil {
			t.Errorf("ParseJitter(%q) = %v, %v", j, got, err)
		}
	}
	for _, r := range []RestartType{Permanent, Transient, Temporary} {
		if got, err := ParseRestartType(r.String()); got != r || err != nil {
			t.Errorf("ParseRestartType(%q) = %v, %v", r, got, err)
		}
	}
	bad := []struct {
		err      error
		sentinel error
	}{
		{func() error { _, err := ParseStrategy("all_for_one"); return err }(), ErrUnknownStrategy},
		{func() error { _, err := ParseCause("oops"); return err }(), ErrUnknownCause},
		{func() error { _, err := ParseJitter("decorrelated"); return err }(), ErrUnknownJitter},
		{func() error { _, err := ParseRestartType("forever"); return err }(), ErrUnknownRestartType},
	}
	for _, b := range bad {
		if !errors.Is(b.err, b.sentinel) {
			t.Errorf("error %v does not wrap %v", b.err, b.sentinel)
		}
	}
}

func TestEnumsJSON(t *testing.T) {
	type config struct {
		Strategy Strategy    `json:"strategy"`
		Restart  RestartType `json:"restart"`
		Cause    Cause       `json:"cause"`
		Jitter   Jitter      `json:"jitter"`
	}
	in := config{RestForOne, Transient, CauseMemberLost, JitterEqual}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"strategy":"rest_for_one","restart":"transient","cause":"member_lost","jitter":"equal"}`
	if string(b) != want {
		t.Fatalf("json = %s, want %s", b, want)
	}
	var out config
	if err := json.Unmarshal(b, &out); err != nil || out != in {
		t.Fatalf("round trip = %+v, %v", out, err)
	}
	for _, v := range []any{Strategy(9), RestartType(9), Cause(99), Jitter(9)} {
		if _, err := json.Marshal(v); err == nil {
			t.Errorf("Marshal(%v) succeeded", v)
		}
	}
	if err := json.Unmarshal([]byte(`{"strategy":"nope"}`), &out); !errors.Is(err, ErrUnknownStrategy) {
		t.Errorf("Unmarshal bad strategy = %v", err)
	}
}
