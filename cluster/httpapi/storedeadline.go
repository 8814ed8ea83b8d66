package httpapi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/granary-rt/granary/cluster/api"
)

// A call that needs the store (submit, read, cancel, restart) may meet it
// several times: a submit handed to its owner member, which tries to store
// it, then stored here when the owner could not. While Consul has no
// leader each of those waits for the store's own bound, and together they
// outlast a client's deadline: the client saw a hang where it needed a
// prompt 503 (issue #22). So the store's part of such a call runs under
// one deadline, StoreDeadline, shorter than a client's; when it passes
// the node answers 503 with Retry-After. Long polls (?wait=, ?index=)
// wait on purpose and are not bounded by it; nor are listings, whose
// large pages take seconds on a loaded machine.

// withStoreDeadline is ctx bounded by StoreDeadline (0: unbounded).
func (h *handler) withStoreDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if h.cfg.StoreDeadline <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, h.cfg.StoreDeadline)
}

// storeDeadlineErr turns the end of ctx's store deadline into
// api.ErrUnavailable, which the client retries; any other error, and the
// client's own cancellation, is returned as it is.
func storeDeadlineErr(ctx, parent context.Context, err error) error {
	if err == nil || errors.Is(err, api.ErrUnavailable) || parent.Err() != nil || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w: the store did not answer in time: %w", api.ErrUnavailable, err)
}

// defaultStoreDeadline: 4s is far above a healthy store's answer
// (milliseconds) and a three-server Consul's leader election (about 1.5s),
// and below the 5s that clients commonly give a request, so that they
// hear 503 with Retry-After rather than time out.
const defaultStoreDeadline = 4 * time.Second
