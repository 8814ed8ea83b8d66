package benchmarks

import (
	"testing"
	"time"
)

// BenchmarkReminders: 10,000 reminders due within one minute over three
// `granary node` processes, with no member lost and with one killed
// (SIGKILL) during the minute.
func BenchmarkReminders(b *testing.B) {
	b.Run("10000_in_a_minute", func(b *testing.B) { ReminderLateness(b, 10000, time.Minute, false) })
	b.Run("10000_in_a_minute_member_killed", func(b *testing.B) { ReminderLateness(b, 10000, time.Minute, true) })
}
