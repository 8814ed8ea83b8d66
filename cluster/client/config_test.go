package client_test

import (
	"crypto/tls"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/cluster/errs"
	"github.com/granary-rt/granary/cluster/errs/errstest"
	"github.com/granary-rt/granary/supervisor/backoff"
)

// TestConfigValidate: each refused value is named with its field and
// value, wraps the shared errs.ErrInvalidConfig (the client had no
// Validate, and New's errors wrapped no sentinel), and New refuses it too.
func TestConfigValidate(t *testing.T) {
	t.Setenv("GRANARY_CA", "")
	t.Setenv("GRANARY_ADDR", "")
	missing := filepath.Join(t.TempDir(), "no-ca.pem")
	for _, tc := range []struct {
		name string
		cfg  client.Config
		want string // "": valid
	}{
		{"defaults", client.DefaultConfig(), ""},
		{"zero", client.Config{}, ""},
		{"an address without scheme", client.Config{Addr: "10.0.0.1:8080"}, ""},
		{"negative progress: never", client.Config{ProgressEvery: -1}, ""},
		{"ftp address", client.Config{Addr: "ftp://x"}, `Addr "ftp://x"`},
		{"empty address among several", client.Config{Addrs: []string{"http://a:1", ""}}, `Addrs[1] ""`},
		{"HTTP client and TLS", client.Config{HTTPClient: http.DefaultClient, TLSConfig: &tls.Config{}}, "HTTPClient brings its own TLS settings"},
		{"bad retry", client.Config{Retry: badRetry()}, "Retry"},
		{"negative retry time", client.Config{RetryFor: -time.Second}, "RetryFor is -1s"},
		{"negative poll wait", client.Config{PollWait: -time.Second}, "PollWait is -1s"},
		{"negative route refresh", client.Config{RouteRefresh: -time.Second}, "RouteRefresh is -1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errstest.WantInvalidConfig(t, tc.cfg.Validate(), tc.want, client.ErrInvalidConfig)
			if tc.want == "" {
				if _, err := client.New(tc.cfg); err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if _, err := client.New(tc.cfg); !errors.Is(err, client.ErrInvalidConfig) {
				t.Fatalf("New: %v, want ErrInvalidConfig", err)
			}
		})
	}
	if _, err := client.New(client.Config{CAFile: missing}); !errors.Is(err, errs.ErrInvalidConfig) || !strings.Contains(err.Error(), "CAFile") {
		t.Errorf("New with a CA file that does not exist: %v, want ErrInvalidConfig naming CAFile", err)
	}
}

// badRetry is DefaultConfig's Retry with a multiplier below 1.
func badRetry() backoff.Backoff {
	b := client.DefaultConfig().Retry
	b.Multiplier = 0.5
	return b
}
