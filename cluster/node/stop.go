package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// shutdownHTTP bounds the HTTP server's shutdown after the drain: long
// polls are woken by then, so it waits only for answers being written.
const shutdownHTTP = 5 * time.Second

// leaveTimeout bounds leaving Consul (its session and registration) at
// the end of Stop, after the drain: two round trips to a healthy Consul.
const leaveTimeout = 5 * time.Second

// Failed receives an error if the node fails on its own after Start: its
// HTTP server stopped other than through Stop. The caller should then
// Stop the node; a process exits non-zero.
func (n *Node) Failed() <-chan error { return n.serveErr }

// Stop leaves gracefully, within ctx and DrainTimeout (drain.go): the
// member marks itself draining, so no new work is placed on it; running
// attempts finish and commit while it keeps its lease and session (those
// still running at the drain's deadline are handed off: they run again on
// a survivor, or at the next start when embedded); grains are deactivated
// (releasing their claims) so callers find them on other members; the
// member leaves Consul, then the API closes, waking long polls. Safe to
// call twice; the second call returns the first's result.
func (n *Node) Stop(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.started {
		return ErrNotStarted
	}
	if n.stopped {
		return n.stopErr
	}
	n.stopped = true
	ctx, cancel := context.WithTimeout(ctx, n.cfg.DrainTimeout)
	defer cancel()
	n.log.Info("stopping", "activations", n.host.Activations(), "running_attempts", n.mgr.Running(), "drain_timeout", n.cfg.DrainTimeout.String())
	n.stopErr = n.teardown(ctx)
	n.log.Info("granary node stopped")
	return n.stopErr
}

// teardown stops whatever has started, in the order of a graceful leave;
// what never started is skipped. It returns the drain's error: attempts
// or activations cut off by ctx.
func (n *Node) teardown(ctx context.Context) error {
	var errs []error
	work := ctx
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		work, cancel = context.WithDeadline(ctx, dl.Add(-leaveReserve(n.cfg.DrainTimeout)))
		defer cancel()
	}
	if err := n.drainTasks(work); err != nil {
		errs = append(errs, err)
	}
	if n.host != nil {
		n.hostStopping.Store(true)
		if err := n.host.Stop(ctx); err != nil {
			n.log.Warn("deactivation cut short", "err", err)
			errs = append(errs, err)
		}
	}
	if n.closeDir != nil {
		n.closeDir()
	}
	if m := n.mem.Load(); m != nil {
		// Leaving has a bound of its own: a drain cut short by ctx has
		// spent it, and a member that leaves is adopted from at once,
		// while one that fails to leave is adopted from only when its
		// lease lapses.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), leaveTimeout)
		defer cancel()
		if err := m.Leave(lctx); err != nil {
			n.log.Warn("leaving Consul failed; the registration expires by itself", "err", err)
		}
	}
	if n.leaseHTTP != nil {
		n.leaseHTTP.CloseIdleConnections()
	}
	if n.stopViews != nil {
		n.stopViews()
		<-n.viewsDone
	}
	if n.clocks != nil {
		n.clocks.stop()
	}
	if p := n.probe.Load(); p != nil {
		p.stop()
	}
	if n.srv != nil {
		n.cancelRequests()
		shut, cancel := context.WithTimeout(context.Background(), shutdownHTTP)
		defer cancel()
		if err := n.srv.Shutdown(shut); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Warn("HTTP shutdown", "err", err)
		}
	} else if n.ln != nil {
		n.ln.Close()
	}
	if n.rem != nil {
		// Not graceful: protoactor's graceful shutdown stops its endpoint
		// manager by writing fields that its endpoint goroutines read
		// unguarded (a data race the race detector reports). Grains and
		// tasks have drained by now, so only the server needs to stop.
		n.rem.Shutdown(false)
	}
	if n.ownSys {
		n.sys.Shutdown()
	}
	if n.closeStore != nil {
		if err := n.closeStore(); err != nil {
			errs = append(errs, fmt.Errorf("node: closing the task store: %w", err))
		}
	}
	n.stopTracing()
	return errors.Join(errs...)
}
