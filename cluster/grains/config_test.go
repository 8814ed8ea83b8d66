package grains

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/actors"
)

// Validate refuses bounds that cannot work: a handler time-out, queue or
// activation limit of zero, a high-water mark above the limit.
func TestConfigValidateBounds(t *testing.T) {
	sys := actor.NewActorSystem()
	t.Cleanup(sys.Shutdown)
	valid := DefaultConfig("n1")
	valid.Registry, valid.System, valid.Directory = actors.NewRegistry(), sys, &LocalDirectory{}
	if err := valid.Validate(); err != nil {
		t.Fatalf("the defaults: %v", err)
	}
	for name, tweak := range map[string]func(*Config){
		"handler time-out":    func(c *Config) { c.HandlerTimeout = 0 },
		"negative grace":      func(c *Config) { c.AbandonGrace = -time.Second },
		"queue":               func(c *Config) { c.MaxQueued = 0 },
		"queue bytes":         func(c *Config) { c.MaxQueuedBytes = 0 },
		"activations":         func(c *Config) { c.MaxActivations = 0 },
		"high water over max": func(c *Config) { c.ActivationHighWater = c.MaxActivations + 1 },
		"pressure idle":       func(c *Config) { c.PressureIdleTimeout = 0 },
	} {
		cfg := valid
		tweak(&cfg)
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, cfg)
		}
	}
}
