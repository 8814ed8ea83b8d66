package testconsul

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"
)

// Mode selects how the agent keeps its state.
type Mode int

const (
	// Dev runs `consul agent -dev`: a single in-memory server. It starts
	// fastest; Restart gives an empty store.
	Dev Mode = iota
	// Server runs a disk-backed single server (-server -bootstrap-expect=1
	// -data-dir DIR) whose data survives Restart.
	Server
)

func (m Mode) String() string {
	switch m {
	case Dev:
		return "dev"
	case Server:
		return "server"
	default:
		return fmt.Sprintf("Mode(%d)", int(m))
	}
}

// Options configure Start. The zero value is a dev agent on 127.0.0.1.
type Options struct {
	Mode Mode
	// DataDir holds a Server agent's state. Default: a fresh t.TempDir().
	// Only valid with Mode Server.
	DataDir string
	// BindAddr is the address every agent port listens on; any 127.0.0.0/8
	// address works on Linux, which lets tests tell agents apart by address.
	// Default: 127.0.0.1.
	BindAddr string
	// StartTimeout bounds the wait for a leader and a successful KV write.
	// Default: 60s.
	StartTimeout time.Duration
	// ACLToken, when set, turns on Consul's ACLs in default-deny mode, as
	// production clusters run, with this token as the initial management
	// token (and the agent's own). Client uses it; anything else must
	// bring a token of its own.
	ACLToken string
	// MaxConnsPerClient is Consul's http_max_conns_per_client. Default
	// 1000: every member of a test cluster reaches the agent from one
	// loopback address and so shares the limit, which production members,
	// one a host, each have to themselves; a test of that limit sets
	// Consul's own default, 200.
	MaxConnsPerClient int
	// TLS serves the agent's HTTP API over TLS only (HTTPAddr is then an
	// https address), with a certificate of a CA made for the test
	// (Agent.CAFile). Client trusts it; anything else must too.
	TLS bool
}

const (
	// defaultBindAddr is the one loopback address present on every OS.
	defaultBindAddr = "127.0.0.1"

	// defaultStartTimeout: a disk-backed server elects itself in about 2s
	// on an idle machine, but CI runs packages in parallel under -race on
	// 2 shared cores. 60s is far beyond any healthy start, yet fails a
	// wedged agent well inside go test's 10-minute default time-out.
	defaultStartTimeout = 60 * time.Second
)

var errBadOptions = errors.New("testconsul: invalid options")

// withDefaults validates o and fills in its defaults.
func (o Options) withDefaults(t testing.TB) (Options, error) {
	switch o.Mode {
	case Dev:
		if o.DataDir != "" {
			return o, fmt.Errorf("%w: DataDir needs Mode Server (a dev agent keeps its state in memory)", errBadOptions)
		}
	case Server:
		if o.DataDir == "" {
			o.DataDir = t.TempDir()
		}
	default:
		return o, fmt.Errorf("%w: unknown %v", errBadOptions, o.Mode)
	}
	if o.MaxConnsPerClient == 0 {
		o.MaxConnsPerClient = 1000
	}
	if o.BindAddr == "" {
		o.BindAddr = defaultBindAddr
	}
	if ip := net.ParseIP(o.BindAddr); ip == nil || ip.To4() == nil || !ip.IsLoopback() {
		return o, fmt.Errorf("%w: BindAddr %q is not an address in 127.0.0.0/8", errBadOptions, o.BindAddr)
	}
	switch {
	case o.StartTimeout < 0:
		return o, fmt.Errorf("%w: negative StartTimeout %v", errBadOptions, o.StartTimeout)
	case o.StartTimeout == 0:
		o.StartTimeout = defaultStartTimeout
	}
	return o, nil
}
