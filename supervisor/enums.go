package supervisor

import (
	"fmt"
	"strings"
)

// Strategy selects which children a restart affects.
type Strategy int

const (
	// OneForOne restarts only the failed child.
	OneForOne Strategy = iota
	// OneForAll restarts every running child when one fails.
	OneForAll
	// RestForOne restarts the failed child and every child started after it.
	RestForOne
)

// RestartType says which terminations of a child lead to a restart, with the
// Erlang/OTP meanings.
type RestartType int

const (
	// Permanent children are restarted after failures and after normal exits.
	Permanent RestartType = iota
	// Transient children are restarted only after a failure.
	Transient
	// Temporary children are never restarted; the tree forgets them once
	// they terminate.
	Temporary
)

// Directive is what a supervisor does about a failure.
type Directive int

const (
	// Restart replaces the targets with fresh incarnations after a delay.
	Restart Directive = iota
	// Stop terminates the targets without restarting them.
	Stop
	// Escalate gives up: the supervisor fails itself and lets its own
	// supervisor decide.
	Escalate
	// Resume lets the failed child carry on with its current state.
	Resume
)

// Cause classifies why a child failed.
type Cause int

const (
	// CauseError is an error returned by the child.
	CauseError Cause = iota
	// CausePanic is a recovered panic.
	CausePanic
	// CauseAttemptTimeout is an attempt that ran longer than allowed.
	CauseAttemptTimeout
	// CauseHeartbeatTimeout is an attempt that stopped sending heartbeats.
	CauseHeartbeatTimeout
	// CauseMemberLost is a child lost together with the cluster member
	// hosting it.
	CauseMemberLost
	// CauseDeadline is an overall deadline that passed; retrying cannot help.
	CauseDeadline
	// CauseCancelled is a cancellation requested by a user; retrying would
	// defy it.
	CauseCancelled
)

var (
	strategyNames    = []string{"one_for_one", "one_for_all", "rest_for_one"}
	restartTypeNames = []string{"permanent", "transient", "temporary"}
	directiveNames   = []string{"restart", "stop", "escalate", "resume"}
	causeNames       = []string{"error", "panic", "attempt_timeout", "heartbeat_timeout", "member_lost", "deadline_exceeded", "cancelled"}
)

func enumString(names []string, kind string, v int) string {
	if v >= 0 && v < len(names) {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", kind, v)
}

// parseEnum accepts the canonical names case-insensitively and with '-' in
// place of '_', because such names mostly come from flags and config files.
func parseEnum(names []string, sentinel error, s string) (int, error) {
	norm := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "-", "_")
	for i, n := range names {
		if n == norm {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%w: %q (want one of %s)", sentinel, s, strings.Join(names, ", "))
}

func (s Strategy) String() string { return enumString(strategyNames, "Strategy", int(s)) }

func (s Strategy) valid() bool { return s >= OneForOne && s <= RestForOne }

// ParseStrategy parses the names String returns.
func ParseStrategy(s string) (Strategy, error) {
	v, err := parseEnum(strategyNames, ErrUnknownStrategy, s)
	return Strategy(v), err
}

// MarshalText implements encoding.TextMarshaler.
func (s Strategy) MarshalText() ([]byte, error) {
	if !s.valid() {
		return nil, fmt.Errorf("%w: %d", ErrUnknownStrategy, int(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Strategy) UnmarshalText(b []byte) error {
	v, err := ParseStrategy(string(b))
	if err == nil {
		*s = v
	}
	return err
}

func (r RestartType) String() string { return enumString(restartTypeNames, "RestartType", int(r)) }

func (r RestartType) valid() bool { return r >= Permanent && r <= Temporary }

// ParseRestartType parses the names String returns.
func ParseRestartType(s string) (RestartType, error) {
	v, err := parseEnum(restartTypeNames, ErrUnknownRestartType, s)
	return RestartType(v), err
}

// MarshalText implements encoding.TextMarshaler.
func (r RestartType) MarshalText() ([]byte, error) {
	if !r.valid() {
		return nil, fmt.Errorf("%w: %d", ErrUnknownRestartType, int(r))
	}
	return []byte(r.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *RestartType) UnmarshalText(b []byte) error {
	v, err := ParseRestartType(string(b))
	if err == nil {
		*r = v
	}
	return err
}

func (d Directive) String() string { return enumString(directiveNames, "Directive", int(d)) }

func (c Cause) String() string { return enumString(causeNames, "Cause", int(c)) }

// ParseCause parses the names String returns.
func ParseCause(s string) (Cause, error) {
	v, err := parseEnum(causeNames, ErrUnknownCause, s)
	return Cause(v), err
}

// MarshalText implements encoding.TextMarshaler.
func (c Cause) MarshalText() ([]byte, error) {
	if c < CauseError || c > CauseCancelled {
		return nil, fmt.Errorf("%w: %d", ErrUnknownCause, int(c))
	}
	return []byte(c.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (c *Cause) UnmarshalText(b []byte) error {
	v, err := ParseCause(string(b))
	if err == nil {
		*c = v
	}
	return err
}
