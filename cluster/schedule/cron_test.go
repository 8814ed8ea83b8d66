package schedule

import (
	"errors"
	"testing"
	"time"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestParseRefusesBadSpecs(t *testing.T) {
	for _, spec := range []string{
		"", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * 32 * *", "* * * 13 *",
		"* * * * 8", "5-1 * * * *", "*/0 * * * *", "*/61 * * * *", "a * * * *", "* * * foo *", "1,,2 * * * *",
		"@often", "@every", "@every 500ms", "@every 1.5s", "@every -1s", "@every 100000h", "0 0 30 2 *", "0 0 31 4,6,9,11 *",
	} {
		if _, err := Parse(spec, nil); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("Parse(%q) = %v, want ErrInvalidSpec", spec, err)
		}
	}
}

func TestNext(t *testing.T) {
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	paris, newYork, kolkata := mustZone(t, "Europe/Paris"), mustZone(t, "America/New_York"), mustZone(t, "Asia/Kolkata")
	cases := []struct {
		name, spec string
		loc        *time.Location
		after      string
		want       []string // the next times, one after the other
	}{
		{"every minute", "* * * * *", nil, "2026-03-01T10:00:30Z", []string{"2026-03-01T10:01:00Z", "2026-03-01T10:02:00Z"}},
		{"strictly after", "* * * * *", nil, "2026-03-01T10:00:00Z", []string{"2026-03-01T10:01:00Z"}},
		{"steps and lists", "0,30 */6 * * *", nil, "2026-03-01T05:45:00Z", []string{"2026-03-01T06:00:00Z", "2026-03-01T06:30:00Z", "2026-03-01T12:00:00Z"}},
		{"ranges with steps", "10-20/5 9 * * *", nil, "2026-03-01T09:12:00Z", []string{"2026-03-01T09:15:00Z", "2026-03-01T09:20:00Z", "2026-03-02T09:10:00Z"}},
		{"named month and day", "0 12 * feb mon", nil, "2026-01-15T00:00:00Z", []string{"2026-02-02T12:00:00Z", "2026-02-09T12:00:00Z"}},
		{"sunday as 7", "0 0 * * 7", nil, "2026-03-02T00:00:00Z", []string{"2026-03-08T00:00:00Z"}},
		{"either day field (Vixie)", "0 0 13 * 5", nil, "2026-03-01T00:00:00Z", []string{"2026-03-06T00:00:00Z", "2026-03-13T00:00:00Z", "2026-03-20T00:00:00Z"}},
		{"leap day", "0 0 29 2 *", nil, "2026-01-01T00:00:00Z", []string{"2028-02-29T00:00:00Z"}},
		{"hourly", "@hourly", nil, "2026-03-01T10:59:59Z", []string{"2026-03-01T11:00:00Z", "2026-03-01T12:00:00Z"}},
		{"daily in a zone", "@daily", paris, "2026-03-01T00:00:00Z", []string{"2026-03-01T23:00:00Z"}},
		{"every 90s from the epoch", "@every 90s", nil, "2026-03-01T10:00:00Z", []string{"2026-03-01T10:01:30Z", "2026-03-01T10:03:00Z"}},
		{"half-hour zone", "0 9 * * *", kolkata, "2026-03-01T00:00:00Z", []string{"2026-03-01T03:30:00Z"}},
		// 2026-03-08 at 02:00 New York jumps to 03:00: 02:30 does not occur that day.
		{"spring forward skips the missing time", "30 2 * * *", newYork, "2026-03-07T12:00:00Z", []string{"2026-03-09T06:30:00Z"}},
		// 2026-11-01 at 02:00 New York falls back to 01:00: 01:30 passes twice, runs once.
		{"fall back runs once", "30 1 * * *", newYork, "2026-11-01T04:00:00Z", []string{"2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"}},
		{"every hour across fall back", "0 * * * *", newYork, "2026-11-01T04:30:00Z", []string{"2026-11-01T05:00:00Z", "2026-11-01T07:00:00Z"}},
		{"@every keeps to absolute time", "@every 1h", newYork, "2026-11-01T04:30:00Z", []string{"2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec, err := Parse(c.spec, c.loc)
			if err != nil {
				t.Fatal(err)
			}
			at := utc(c.after)
			for _, w := range c.want {
				at = spec.Next(at)
				if !at.Equal(utc(w)) {
					t.Fatalf("Next = %v (%v), want %s", at.UTC(), at, w)
				}
			}
		})
	}
}

// FuzzParse: no spec read from a client makes Parse or Next panic or loop,
// and Next always moves forward.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"* * * * *", "0,30 */6 1-15 jan-mar mon-fri", "@every 90s", "@hourly", "5/7 1-23/3 */2 * 0-7"} {
		f.Add(s, int64(1_700_000_000))
	}
	f.Fuzz(func(t *testing.T, spec string, unix int64) {
		s, err := Parse(spec, mustZone(t, "America/New_York"))
		if err != nil {
			return
		}
		at := time.Unix(unix%(1<<40), 0)
		next := s.Next(at)
		if !next.IsZero() && !next.After(at) {
			t.Fatalf("Parse(%q).Next(%v) = %v, not after it", spec, at, next)
		}
	})
}
