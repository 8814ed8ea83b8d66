package schedule

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	// Time zones are read from the binary's own copy of the IANA
	// database, so a schedule's zone means the same on every member,
	// minimal container images without /usr/share/zoneinfo included.
	_ "time/tzdata"
)

// ErrInvalidSpec: a cron spec, time zone or interval that cannot be read.
var ErrInvalidSpec = errors.New("invalid schedule spec")

// MinEvery is the shortest @every interval: run ids carry their scheduled
// time to the second, so two runs of one schedule never share an id.
const MinEvery = time.Second

// horizon bounds the search for a spec's next time: a spec that matches no
// time within it (February 30th) is refused when parsed.
const horizon = 5 * 366 * 24 * time.Hour

// Spec is a parsed cron spec in a time zone: when a schedule's runs are due.
// The zero Spec is not usable; Parse makes one.
type Spec struct {
	text  string
	loc   *time.Location
	every time.Duration // @every: due at each multiple of it since the Unix epoch

	minute, hour, dom, month, dow uint64 // bit i set: value i matches
	domStar, dowStar              bool
}

// field is one of the five cron fields with its range and names.
type field struct {
	name     string
	min, max int
	names    []string // names[i] is value min+i (JAN, SUN)
}

var fields = [5]field{
	{name: "minute", min: 0, max: 59},
	{name: "hour", min: 0, max: 23},
	{name: "day of month", min: 1, max: 31},
	{name: "month", min: 1, max: 12, names: []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
	// 7 is Sunday too, as in Vixie cron.
	{name: "day of week", min: 0, max: 7, names: []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}},
}

// shortcuts are the named specs of Vixie cron.
var shortcuts = map[string]string{
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
	"@monthly":  "0 0 1 * *",
	"@weekly":   "0 0 * * 0",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@hourly":   "0 * * * *",
}

// Parse reads a cron spec: five fields (minute, hour, day of month, month,
// day of week; each "*", a value, a range "a-b", a list "a,b", and a step
// "*/n" or "a-b/n"; months and days may be named, JAN, MON), a shortcut
// (@yearly, @monthly, @weekly, @daily, @hourly) or "@every <duration>" (a
// whole number of seconds, at least MinEvery; due at each multiple of it
// since the Unix epoch, so every member computes the same times). Wall
// times are read in loc (nil: UTC). As in Vixie cron, when both day fields
// are restricted a day matching either one matches. Errors wrap
// ErrInvalidSpec.
func Parse(spec string, loc *time.Location) (Spec, error) {
	if loc == nil {
		loc = time.UTC
	}
	text := strings.TrimSpace(spec)
	s := Spec{text: text, loc: loc}
	if len(text) > 200 {
		return Spec{}, fmt.Errorf("%w: %d bytes, the limit is 200", ErrInvalidSpec, len(text))
	}
	lower := strings.ToLower(text)
	if rest, ok := strings.CutPrefix(lower, "@every"); ok {
		d, err := parseEvery(strings.TrimSpace(rest))
		if err != nil {
			return Spec{}, err
		}
		s.every = d
		return s, nil
	}
	if expanded, ok := shortcuts[lower]; ok {
		lower = expanded
	} else if strings.HasPrefix(lower, "@") {
		return Spec{}, fmt.Errorf("%w: unknown shortcut %q (want @yearly, @monthly, @weekly, @daily, @hourly or @every <duration>)", ErrInvalidSpec, text)
	}
	parts := strings.Fields(lower)
	if len(parts) != len(fields) {
		return Spec{}, fmt.Errorf("%w: %q has %d fields, want 5 (minute hour day-of-month month day-of-week)", ErrInvalidSpec, text, len(parts))
	}
	sets := make([]uint64, len(fields))
	for i, p := range parts {
		set, err := parseField(p, fields[i])
		if err != nil {
			return Spec{}, err
		}
		sets[i] = set
	}
	s.minute, s.hour, s.dom, s.month, s.dow = sets[0], sets[1], sets[2], sets[3], sets[4]
	if s.dow&(1<<7) != 0 {
		s.dow = s.dow&^(1<<7) | 1 // 7 is Sunday
	}
	s.domStar, s.dowStar = parts[2] == "*", parts[4] == "*"
	if s.Next(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() { // any five years hold a leap day
		return Spec{}, fmt.Errorf("%w: %q matches no time (a day the months it names never have?)", ErrInvalidSpec, text)
	}
	return s, nil
}

// parseEvery reads the interval of @every.
func parseEvery(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return 0, fmt.Errorf("%w: @every %q: %w", ErrInvalidSpec, v, err)
	case d < MinEvery:
		return 0, fmt.Errorf("%w: @every %s is below the least interval, %s", ErrInvalidSpec, d, MinEvery)
	case d%time.Second != 0:
		return 0, fmt.Errorf("%w: @every %s is not a whole number of seconds", ErrInvalidSpec, d)
	case d > horizon:
		return 0, fmt.Errorf("%w: @every %s is above the longest interval, %s", ErrInvalidSpec, d, horizon)
	}
	return d, nil
}

// parseField reads one field into a set of matching values.
func parseField(p string, f field) (uint64, error) {
	var set uint64
	for _, item := range strings.Split(p, ",") {
		lo, hi, step := f.min, f.max, 1
		rng, stepText, hasStep := strings.Cut(item, "/")
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n < 1 || n > f.max+1 {
				return 0, fmt.Errorf("%w: %s %q: the step must be a number from 1 to %d", ErrInvalidSpec, f.name, item, f.max+1)
			}
			step = n
		}
		if rng != "*" {
			a, b, isRange := strings.Cut(rng, "-")
			var err error
			if lo, err = f.value(a); err != nil {
				return 0, err
			}
			hi = lo
			if isRange {
				if hi, err = f.value(b); err != nil {
					return 0, err
				}
			} else if hasStep {
				hi = f.max // "a/n": from a to the end
			}
			if lo > hi {
				return 0, fmt.Errorf("%w: %s %q: the range runs backwards", ErrInvalidSpec, f.name, item)
			}
		}
		for v := lo; v <= hi; v += step {
			set |= 1 << v
		}
	}
	return set, nil
}

// value reads one value of f: a number in its range or one of its names.
func (f field) value(v string) (int, error) {
	for i, n := range f.names {
		if v == n {
			return f.min + i, nil
		}
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < f.min || n > f.max {
		return 0, fmt.Errorf("%w: %s %q: want a value from %d to %d", ErrInvalidSpec, f.name, v, f.min, f.max)
	}
	return n, nil
}

// String is the spec as written.
func (s Spec) String() string { return s.text }

// Location is the time zone the spec reads its wall times in.
func (s Spec) Location() *time.Location { return s.loc }

// Every is the interval of an @every spec (0 for a cron spec).
func (s Spec) Every() time.Duration { return s.every }

// Next returns the first due time strictly after after, or the zero time
// if none comes within five years.
//
// Across daylight saving changes, a cron spec keeps to wall time in its
// zone: a wall time the clock skips (02:30 when it jumps from 02:00 to
// 03:00) does not occur that day, and a wall time the clock passes twice
// (01:30 when it falls back) is due once, at its first passing. @every
// ignores wall time: it is due every interval, in absolute time.
func (s Spec) Next(after time.Time) time.Time {
	if s.every > 0 {
		n := after.UnixNano()
		d := int64(s.every)
		next := n - mod(n, d) + d
		return time.Unix(0, next).In(s.loc)
	}
	t := after.In(s.loc).Truncate(time.Second)
	t = t.Add(time.Minute - time.Duration(t.Second())*time.Second) // the next whole minute
	end := after.Add(horizon)
	for t.Before(end) {
		w := t
		switch {
		case !has(s.month, int(w.Month())):
			t = advance(t, time.Date(w.Year(), w.Month()+1, 1, 0, 0, 0, 0, s.loc))
		case !s.dayMatches(w):
			t = advance(t, time.Date(w.Year(), w.Month(), w.Day()+1, 0, 0, 0, 0, s.loc))
		case !has(s.hour, w.Hour()):
			t = t.Add(time.Duration(60-w.Minute()) * time.Minute)
		case !has(s.minute, w.Minute()):
			t = t.Add(time.Minute)
		case s.repeated(t):
			t = t.Add(time.Minute)
		default:
			return t
		}
	}
	return time.Time{}
}

// dayMatches applies Vixie cron's rule: with both day fields restricted,
// either may match.
func (s Spec) dayMatches(w time.Time) bool {
	dom, dow := has(s.dom, w.Day()), has(s.dow, int(w.Weekday()))
	if s.domStar || s.dowStar {
		return dom && dow
	}
	return dom || dow
}

// repeated reports whether t's wall time already passed earlier (the
// clock fell back over it): it is due only at its first passing.
func (s Spec) repeated(t time.Time) bool {
	for _, back := range []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour} {
		e := t.Add(-back)
		if e.Hour() == t.Hour() && e.Minute() == t.Minute() && e.Day() == t.Day() {
			return true
		}
	}
	return false
}

// advance moves t to next, or by a minute if next is not later (a local
// midnight the clock skipped or passed twice).
func advance(t, next time.Time) time.Time {
	if !next.After(t) {
		return t.Add(time.Minute)
	}
	return next
}

func has(set uint64, v int) bool { return set&(1<<v) != 0 }

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}
