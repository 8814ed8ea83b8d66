package membership

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/supervisor"
)

// validConfig is DefaultConfig with an identity.
func validConfig() Config {
	c := DefaultConfig()
	c.Cluster = "test"
	c.NodeID = "node-1"
	c.Addr = "127.0.0.1:7001"
	c.HTTPAddr = "127.0.0.1:8001"
	c.Kinds = []string{"counter", "whoami"}
	return c
}

func TestDefaultConfigIsValidOnceIdentified(t *testing.T) {
	if err := validConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig with an identity: %v", err)
	}
	err := DefaultConfig().Validate()
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("DefaultConfig without identity: got %v, want ErrInvalidConfig", err)
	}
	for _, want := range []string{"Cluster", "NodeID", "Addr", "HTTPAddr"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestDefaultTimings(t *testing.T) {
	c := DefaultConfig()
	if c.TTL != 2*time.Second || c.RenewInterval != c.TTL/4 {
		t.Errorf("TTL %v RenewInterval %v, want 2s and TTL/4", c.TTL, c.RenewInterval)
	}
	if c.FenceAfter != c.TTL-c.RenewInterval/2 {
		t.Errorf("FenceAfter %v, want TTL - RenewInterval/2", c.FenceAfter)
	}
	// The watchdog's worst case must stay below TTL.
	if worst := c.FenceAfter + c.fenceCheckInterval(); worst >= c.TTL {
		t.Errorf("worst fence time %v is not below TTL %v", worst, c.TTL)
	}
	if c.blockingTimeout() <= c.WatchWait+c.WatchWait/16 {
		t.Errorf("blockingTimeout %v leaves no room past Consul's wait", c.blockingTimeout())
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   string
	}{
		{"upper-case cluster", func(c *Config) { c.Cluster = "Prod" }, "Cluster"},
		{"long cluster", func(c *Config) { c.Cluster = strings.Repeat("a", 60) }, "Cluster"},
		{"node id with slash", func(c *Config) { c.NodeID = "a/b" }, "NodeID"},
		{"node id with colon", func(c *Config) { c.NodeID = "a:b" }, "NodeID"},
		{"addr without port", func(c *Config) { c.Addr = "127.0.0.1" }, "Addr"},
		{"addr without host", func(c *Config) { c.Addr = ":7000" }, "Addr"},
		{"wildcard addr", func(c *Config) { c.Addr = "0.0.0.0:7000" }, "Addr"},
		{"bad http port", func(c *Config) { c.HTTPAddr = "localhost:99999" }, "HTTPAddr"},
		{"kind with comma", func(c *Config) { c.Kinds = []string{"a,b"} }, "Kinds"},
		{"empty kind", func(c *Config) { c.Kinds = []string{""} }, "Kinds"},
		{"duplicate kind", func(c *Config) { c.Kinds = []string{"a", "a"} }, "Kinds"},
		{"kinds too long", func(c *Config) { c.Kinds = []string{strings.Repeat("k", 513)} }, "Kinds"},
		{"version too long", func(c *Config) { c.Version = strings.Repeat("v", MaxVersionBytes+1) }, "Version"},
		{"zero TTL", func(c *Config) { c.TTL = 0 }, "TTL"},
		{"FenceAfter equals TTL", func(c *Config) { c.FenceAfter = c.TTL }, "FenceAfter"},
		{"FenceAfter above TTL", func(c *Config) { c.FenceAfter = 3 * time.Second }, "FenceAfter"},
		{"RenewInterval not below FenceAfter", func(c *Config) { c.RenewInterval = c.FenceAfter }, "RenewInterval"},
		{"zero RenewInterval", func(c *Config) { c.RenewInterval = 0 }, "RenewInterval"},
		{"zero RequestTimeout", func(c *Config) { c.RequestTimeout = 0 }, "RequestTimeout"},
		{"HTTP check interval below Consul minimum", func(c *Config) { c.HTTPCheckInterval = 500 * time.Millisecond }, "HTTPCheckInterval"},
		{"zero HTTP check timeout", func(c *Config) { c.HTTPCheckTimeout = 0 }, "HTTPCheckTimeout"},
		{"deregister below Consul minimum", func(c *Config) { c.DeregisterCriticalAfter = 30 * time.Second }, "DeregisterCriticalAfter"},
		{"zero lock delay", func(c *Config) { c.LockDelay = 0 }, "LockDelay"},
		{"lock delay above Consul maximum", func(c *Config) { c.LockDelay = 2 * time.Minute }, "LockDelay"},
		{"zero WatchWait", func(c *Config) { c.WatchWait = 0 }, "WatchWait"},
		{"WatchWait above Consul maximum", func(c *Config) { c.WatchWait = 11 * time.Minute }, "WatchWait"},
		{"zero Retry", func(c *Config) { c.Retry = supervisor.Backoff{} }, "Retry"},
		{"invalid Retry", func(c *Config) { c.Retry.Multiplier = 0.5 }, "Retry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.modify(&c)
			err := c.Validate()
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %s", err, tt.want)
			}
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
	}{
		{"no kinds", func(c *Config) { c.Kinds = nil }},
		{"host name", func(c *Config) { c.Addr = "node1.example.com:7000" }},
		{"ipv6", func(c *Config) { c.HTTPAddr = "[::1]:8080" }},
		{"nil logger and clock", func(c *Config) { c.Logger, c.Clock = nil, nil }},
		{"longer lease", func(c *Config) {
			c.TTL, c.RenewInterval, c.FenceAfter = 10*time.Second, 2*time.Second, 9*time.Second
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.modify(&c)
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
