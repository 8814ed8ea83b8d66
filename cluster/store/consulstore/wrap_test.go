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

// TestWrapMarksTransientErrors: Consul unreachable, overloaded (429),
// without a leader (5xx), losing its leader during a transaction, or not
// answering in time is store.ErrUnavailable, so callers retry; a 4xx
// answer (a transaction that can never succeed included) or the caller
// cancelling is not. The transaction texts are Consul's, as consul/api
// returns them (as plain errors, without their status).
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
		{context.DeadlineExceeded, true},
		{fmt.Errorf("writing: %w", context.DeadlineExceeded), true},
		{errors.New("Failed request: No cluster leader"), true},
		{errors.New("Failed request: raft apply failed: leadership lost while committing log"), true},
		{errors.New("Failed request: raft is already shutdown"), true},
		{errors.New("Failed request: rpc error making call: EOF"), true},
		{errors.New("Failed request: Not ready to serve consistent reads"), true},
		{errors.New("Failed request: timed out enqueuing operation"), true},
		{errors.New("Failed request: Value for key \"granary/x/tasks/t1\" is too large (600000 > 524288 bytes)"), false},
		{errors.New("Failed request: Transaction contains too many operations (65 > 64)"), false},
		{errors.New("Failed request: Permission denied"), false},
		{context.Canceled, false},
		{&url.Error{Op: "Get", URL: "http://x", Err: context.Canceled}, false},
		{errors.New("corrupt record"), false},
	} {
		if got := errors.Is(wrap(tc.err), store.ErrUnavailable); got != tc.want {
			t.Errorf("wrap(%v) unavailable = %v, want %v", tc.err, got, tc.want)
		}
	}
}
