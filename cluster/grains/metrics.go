package grains

import (
	"context"
	"errors"
	"sort"
	"sync/atomic"
	"time"

	"github.com/granary-rt/granary/cluster/metrics"
)

// kindCounts counts this member's live activations by kind. Its keys, the
// hosted kinds, are fixed at New; activations change only the counts, and
// Prometheus reads them when it scrapes (readActivations).
type kindCounts map[string]*atomic.Int64

func newKindCounts(kinds map[string]bool) kindCounts {
	c := kindCounts{}
	for k := range kinds {
		c[k] = &atomic.Int64{}
	}
	return c
}

func (c kindCounts) add(kind string, d int64) {
	if n := c[kind]; n != nil {
		n.Add(d)
	}
}

// readActivations reports the counts by kind, for metrics.ReadActivations.
func (h *Host) readActivations(report func(kind string, n int)) {
	kinds := make([]string, 0, len(h.byKind))
	for k := range h.byKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		report(k, int(h.byKind[k].Load()))
	}
}

// observeCall records a call made through CallOnce.
func (h *Host) observeCall(kind string, start time.Time, err error) {
	code := callCode(err)
	if code == metrics.CallInvalidArgument {
		if _, rerr := h.cfg.Registry.Grain(kind); rerr != nil {
			kind = "unregistered" // anyone can send any kind: not a label value
		}
	}
	h.cfg.Metrics.Grain(kind).Call(code, time.Since(start))
}

func callCode(err error) metrics.CallCode {
	switch {
	case err == nil:
		return metrics.CallOK
	case errors.Is(err, ErrHandler):
		return metrics.CallHandler
	case errors.Is(err, ErrInvalidArgument):
		return metrics.CallInvalidArgument
	case errors.Is(err, ErrConflict):
		return metrics.CallConflict
	case errors.Is(err, ErrResourceExhausted):
		return metrics.CallResourceExhausted
	case errors.Is(err, ErrNoHost):
		return metrics.CallNoHost
	case errors.Is(err, context.Canceled):
		return metrics.CallCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return metrics.CallDeadlineExceeded
	case errors.Is(err, ErrUnavailable):
		return metrics.CallUnavailable
	}
	return metrics.CallError
}
