package consulstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"testing"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/hashicorp/consul/api"
)

// TestWrapMarksTransientErrors: Consul unreachable, overloaded (429) or
// without a leader (5xx) is store.ErrUnavailable, so callers retry; a 4xx
// answer or the caller's own context ending is not.
func TestWrapMarksTransientErrors(t *testing.T) {
	refused := &url.Error{Op: "Get", URL: "http://127.0.0.1:8500/v1/kv/x", Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{api.StatusError{Code: 429, Body: "Your IP is issuing too many concurrent connections"}, true},
		{&api.StatusError{Code: 500, Body: "No cluster leader"}, true},
		{fmt.Errorf("reading: %w", api.StatusError{Code: 503}), true},
		{refused, true},
		{fmt.Errorf("answer: %w", io.ErrUnexpectedEOF), true},
		{api.StatusError{Code: 400, Body: "bad request"}, false},
		{api.StatusError{Code: 413, Body: "too large"}, false},
		{context.DeadlineExceeded, false},
		{&url.Error{Op: "Get", URL: "http://x", Err: context.Canceled}, false},
		{errors.New("corrupt record"), false},
	} {
		if got := errors.Is(wrap(tc.err), store.ErrUnavailable); got != tc.want {
			t.Errorf("wrap(%v) unavailable = %v, want %v", tc.err, got, tc.want)
		}
	}
}
