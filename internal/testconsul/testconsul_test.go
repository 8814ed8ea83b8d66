package testconsul

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

func TestBinaryHonoursCONSUL_BIN(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "consul-fake")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "not-executable")
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name    string
		env     string
		wantErr bool
	}{
		{"executable", exe, false},
		{"missing", filepath.Join(dir, "does-not-exist"), true},
		{"not executable", plain, true},
		{"directory", dir, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CONSUL_BIN", tc.env)
			got, err := Binary()
			if !tc.wantErr {
				if err != nil || got != tc.env {
					t.Fatalf("Binary() = %q, %v; want %q", got, err, tc.env)
				}
				return
			}
			if !errors.Is(err, ErrNoBinary) {
				t.Fatalf("Binary() = %q, %v; want an error wrapping ErrNoBinary", got, err)
			}
			for _, want := range []string{"CONSUL_BIN=" + tc.env, "make consul", "set CONSUL_BIN"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestOptionsValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"dev with data dir", Options{DataDir: "/tmp/x"}},
		{"unknown mode", Options{Mode: Mode(7)}},
		{"non-loopback bind", Options{BindAddr: "10.0.0.1"}},
		{"ipv6 bind", Options{BindAddr: "::1"}},
		{"hostname bind", Options{BindAddr: "localhost"}},
		{"negative timeout", Options{StartTimeout: -time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.opts.withDefaults(t); !errors.Is(err, errBadOptions) {
				t.Fatalf("withDefaults(%+v) = %v; want errBadOptions", tc.opts, err)
			}
		})
	}

	got, err := Options{Mode: Server}.withDefaults(t)
	if err != nil {
		t.Fatal(err)
	}
	if got.DataDir == "" || got.BindAddr != defaultBindAddr || got.StartTimeout != defaultStartTimeout {
		t.Fatalf("defaults not applied: %+v", got)
	}
}

func TestNodeNameIsDNSSafeAndUnique(t *testing.T) {
	long := "TestA/very_long subtest name/" + strings.Repeat("x", 100)
	a, b := nodeName(long), nodeName(long)
	if a == b {
		t.Fatalf("node names not unique: %q", a)
	}
	if len(a) > 63 || strings.Trim(a, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		t.Fatalf("node name %q is not a DNS label", a)
	}
}

func TestDevAgent(t *testing.T) {
	t.Parallel()
	a := Start(t, Options{})
	kv := a.Client().KV()

	if _, err := kv.Put(&api.KVPair{Key: "greeting", Value: []byte("hello")}, nil); err != nil {
		t.Fatalf("put: %v", err)
	}
	pair, _, err := kv.Get("greeting", nil)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if pair == nil || string(pair.Value) != "hello" {
		t.Fatalf("get greeting = %+v, want hello", pair)
	}

	pid := a.PID()
	a.Stop()
	requireGone(t, pid)
	a.Stop() // idempotent
	a.Kill() // and a no-op on a stopped agent
}

func TestDevAgentKillAndOtherLoopback(t *testing.T) {
	t.Parallel()
	a := Start(t, Options{BindAddr: "127.0.0.2"})
	if !strings.HasPrefix(a.HTTPAddr(), "127.0.0.2:") {
		t.Fatalf("HTTPAddr = %s, want 127.0.0.2:PORT", a.HTTPAddr())
	}
	pid := a.PID()
	a.Kill()
	requireGone(t, pid)
}

func TestServerAgentKeepsDataAcrossRestart(t *testing.T) {
	t.Parallel()
	a := Start(t, Options{Mode: Server})
	kv := a.Client().KV()
	if _, err := kv.Put(&api.KVPair{Key: "durable", Value: []byte("v1")}, nil); err != nil {
		t.Fatalf("put: %v", err)
	}
	addr, pid := a.HTTPAddr(), a.PID()

	a.Restart(t)

	if a.HTTPAddr() != addr {
		t.Fatalf("HTTPAddr changed across Restart: %s -> %s", addr, a.HTTPAddr())
	}
	if a.PID() == pid {
		t.Fatalf("PID %d unchanged across Restart", pid)
	}
	requireGone(t, pid)
	pair, _, err := kv.Get("durable", nil)
	if err != nil {
		t.Fatalf("get after restart: %v", err)
	}
	if pair == nil || string(pair.Value) != "v1" {
		t.Fatalf("durable after restart = %+v, want v1", pair)
	}
	if _, err := kv.Put(&api.KVPair{Key: "after", Value: []byte("v2")}, nil); err != nil {
		t.Fatalf("put after restart: %v", err)
	}
}

// requireGone asserts that the process no longer exists (it was reaped, so
// signal 0 finds no such process).
func requireGone(t *testing.T, pid int) {
	t.Helper()
	if pid <= 0 {
		t.Fatalf("bad pid %d", pid)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("process %d still exists after stop (kill -0: %v)", pid, err)
	}
}

func TestStartDetectsTakenPort(t *testing.T) {
	t.Parallel()
	bin := requireBinary(t)
	squatter, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer squatter.Close()

	opts, err := Options{}.withDefaults(t)
	if err != nil {
		t.Fatal(err)
	}
	a := newAgent(t, bin, opts)
	ports, err := pickPorts(opts.BindAddr)
	if err != nil {
		t.Fatal(err)
	}
	ports.http = squatter.Addr().(*net.TCPAddr).Port
	if err := a.setPorts(ports); err != nil {
		t.Fatal(err)
	}
	if err := a.start(); !errors.Is(err, errPortTaken) {
		t.Fatalf("start with a taken HTTP port = %v; want errPortTaken", err)
	}
	requireGone(t, a.PID())
}

// failingTB makes the agent's cleanup believe the test failed and records
// what it logs.
type failingTB struct {
	testing.TB
	mu   sync.Mutex
	logs []string
}

func (f *failingTB) Failed() bool { return true }

func (f *failingTB) Logf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
}

func TestFailedTestGetsLogTail(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a Consul agent")
	}
	t.Parallel()
	ftb := &failingTB{TB: t}
	// Registered first, so it runs after the agent's cleanup.
	t.Cleanup(func() {
		ftb.mu.Lock()
		defer ftb.mu.Unlock()
		if len(ftb.logs) == 0 {
			t.Fatal("cleanup of a failed test logged nothing")
		}
		last := ftb.logs[len(ftb.logs)-1]
		if !strings.Contains(last, "last 50 lines of") || !strings.Contains(last, "[INFO]") {
			t.Errorf("cleanup of a failed test did not log the agent's log tail; last log:\n%s", last)
		}
	})
	Start(ftb, Options{})
}
