package faulttest

import (
	"bytes"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"
)

// Pause stops process pid with SIGSTOP, as a long GC pause, a stopped VM or
// an overloaded host would, and returns once the kernel reports it stopped.
// A t.Cleanup resumes it even if the test fails, so the process can be
// stopped and reaped like any other. Signal only processes the test
// started.
func Pause(t testing.TB, pid int) {
	t.Helper()
	if pid <= 0 {
		t.Fatalf("faulttest: pause: no process (pid %d)", pid)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("faulttest: SIGSTOP %d: %v", pid, err)
	}
	waitState(t, pid, "stopped", func(state byte) bool { return state == 'T' })
}

// Resume continues a process Pause stopped and returns once it runs again.
func Resume(t testing.TB, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatalf("faulttest: SIGCONT %d: %v", pid, err)
	}
	waitState(t, pid, "running again", func(state byte) bool { return state != 'T' })
}

// waitState polls the process's state until ok accepts it. Signals are
// delivered asynchronously, so "sent" is not "stopped".
func waitState(t testing.TB, pid int, what string, ok func(state byte) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		state, err := processState(pid)
		if err != nil {
			t.Fatalf("faulttest: process %d: %v", pid, err)
		}
		if ok(state) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("faulttest: process %d not %s within 5s (state %c)", pid, what, state)
		}
		time.Sleep(time.Millisecond)
	}
}

// processState is the one-letter state in /proc/PID/stat: 'T' for stopped
// by a signal, 'R' or 'S' for running or sleeping, 'Z' for a zombie.
func processState(pid int) (byte, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// "pid (comm) S ...": comm may contain spaces and parentheses, so the
	// state follows the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 >= len(data) {
		return 0, fmt.Errorf("unexpected /proc/%d/stat: %q", pid, data)
	}
	return data[i+2], nil
}
