//go:build !linux

package testconsul

import "syscall"

// sysProcAttr has no parent-death signal outside Linux; there the agent is
// stopped only by the test's cleanup.
func sysProcAttr() *syscall.SysProcAttr { return nil }
