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

// BenchmarkSchedules: 100 schedules of every 2 s over three `granary node`
// processes for a minute, with no member lost and with one killed
// (SIGKILL) during the minute.
func BenchmarkSchedules(b *testing.B) {
	b.Run("100_every_2s", func(b *testing.B) { ScheduleLateness(b, 100, 2*time.Second, time.Minute, false) })
	b.Run("100_every_2s_member_killed", func(b *testing.B) { ScheduleLateness(b, 100, 2*time.Second, time.Minute, true) })
}
