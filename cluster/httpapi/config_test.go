package httpapi_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/errs/errstest"
	"github.com/granary-rt/granary/cluster/httpapi"
)

// TestConfigValidate: a negative bound is named with its field and value
// and wraps the shared errs.ErrInvalidConfig (the API had no Validate);
// zero is the default or no bound.
func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*httpapi.Config)
		want string // "": valid
	}{
		{"defaults", func(*httpapi.Config) {}, ""},
		{"zero", func(c *httpapi.Config) { *c = httpapi.Config{} }, ""},
		{"negative wait", func(c *httpapi.Config) { c.MaxWait = -time.Second }, "MaxWait is -1s"},
		{"negative retry-after", func(c *httpapi.Config) { c.RetryAfter = -time.Second }, "RetryAfter is -1s"},
		{"negative store deadline", func(c *httpapi.Config) { c.StoreDeadline = -time.Second }, "StoreDeadline is -1s"},
		{"negative body", func(c *httpapi.Config) { c.MaxBodyBytes = -1 }, "MaxBodyBytes is -1"},
		{"negative in flight", func(c *httpapi.Config) { c.MaxInflight = -2 }, "MaxInflight is -2"},
		{"negative waiters", func(c *httpapi.Config) { c.MaxWaiters = -3 }, "MaxWaiters is -3"},
		{"negative page", func(c *httpapi.Config) { c.MaxPageBytes = -4 }, "MaxPageBytes is -4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := httpapi.DefaultConfig()
			tc.edit(&cfg)
			errstest.WantInvalidConfig(t, cfg.Validate(), tc.want, httpapi.ErrInvalidConfig)
		})
	}
}

// TestZeroConfigTakesDefaults: New(svc, Config{}) serves with
// DefaultConfig's body limit and long-poll cap (a zero MaxBodyBytes
// refused every submit's body as too large).
func TestZeroConfigTakesDefaults(t *testing.T) {
	srv, _ := apiServer(t, httpapi.Config{})
	resp, err := http.Post(srv.URL+"/v1/tasks", "application/json", strings.NewReader(`{"kind":"echo","payload":{"n":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("submit through a zero Config: %d %s, want 201", resp.StatusCode, body)
	}
}
