package testconsul

import "syscall"

// sysProcAttr makes the kernel SIGKILL the agent when the thread that
// started it dies, so an agent never outlives a test binary that crashed or
// was killed before its cleanups ran. The signal is tied to the OS thread,
// not the process; Go only ends threads whose goroutine exits while locked
// to them, which test code here does not do.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
