package benchmarks

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuMeter measures the CPU time that groups of processes spend during a
// benchmark's timed section and reports it per operation, as
// "<group>-cpu-µs/op". On a shared machine the rate moves with the
// neighbours; CPU per operation barely does, and it says where the cost
// of a task goes: the caller, the nodes or Consul.
type cpuMeter struct {
	groups []cpuGroup
}

type cpuGroup struct {
	name  string
	pids  []int // 0 is this process
	start time.Duration
}

// add counts the CPU of pids under name; pid 0 is this process.
func (m *cpuMeter) add(name string, pids ...int) {
	m.groups = append(m.groups, cpuGroup{name: name, pids: pids})
}

// begin records the CPU used so far.
func (m *cpuMeter) begin() {
	if m == nil {
		return
	}
	for i := range m.groups {
		m.groups[i].start = m.groups[i].used()
	}
}

// report reports the CPU used since begin, per operation.
func (m *cpuMeter) report(b *testing.B) {
	if m == nil || b.N == 0 {
		return
	}
	for _, g := range m.groups {
		b.ReportMetric(float64((g.used()-g.start).Microseconds())/float64(b.N), g.name+"-cpu-µs/op")
	}
}

func (g cpuGroup) used() time.Duration {
	var sum time.Duration
	for _, pid := range g.pids {
		d, err := cpuTime(pid)
		if err != nil {
			// A process that went away mid-measure would skew the figure
			// silently; say so instead.
			panic(fmt.Sprintf("cpu meter: %v", err))
		}
		sum += d
	}
	return sum
}

// clockTick is Linux's USER_HZ, the unit of /proc/<pid>/stat's times: 100
// on every architecture Go supports.
const clockTick = 10 * time.Millisecond

// cpuTime is the user and system time of pid (0: this process).
func cpuTime(pid int) (time.Duration, error) {
	if pid == 0 {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			return 0, err
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; the fields after its
	// closing parenthesis start at field 3.
	s := string(raw)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the name", pid, len(fields))
	}
	var sum time.Duration
	for _, f := range fields[11:13] { // utime, stime: fields 14 and 15
		ticks, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		sum += time.Duration(ticks) * clockTick
	}
	return sum, nil
}
