package grains

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/granary-rt/granary/supervisor"
)

// SingletonIdentity is the one identity of a singleton kind: calls naming
// any identity reach it.
const SingletonIdentity = "singleton"

// Watcher is implemented by directories that can wait for a holder to
// change; singleton standbys use it to take over as soon as the lock is free.
type Watcher interface {
	// Wait blocks until the holder of (kind, identity) may have changed
	// since index (index 0 answers at once) or ctx ends, and returns the
	// current holder ("" when free) with the index to wait on next.
	Wait(ctx context.Context, kind, identity string, index uint64) (holder string, next uint64, err error)
}

type activate struct{ kind string }

// electors runs one standby loop per hosted singleton kind.
type electors struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startSingletons starts the standby loops; the directory must be a Watcher.
func (h *Host) startSingletons() {
	w, ok := h.cfg.Directory.(Watcher)
	if !ok {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.electors = &electors{cancel: cancel}
	for kind := range h.hosted {
		k, err := h.cfg.Registry.Grain(kind)
		if err != nil || !k.IsSingleton() {
			continue
		}
		h.electors.wg.Add(1)
		go func() {
			defer h.electors.wg.Done()
			h.standBy(ctx, w, kind)
		}()
	}
}

func (h *Host) stopSingletons() {
	if h.electors != nil {
		h.electors.cancel()
		h.electors.wg.Wait()
	}
}

// standBy keeps trying to hold the singleton's lock: when it holds it, the
// activation is started eagerly here; otherwise it waits for the lock to be
// released (the holder's session ended) and claims it at once.
func (h *Host) standBy(ctx context.Context, w Watcher, kind string) {
	var index uint64
	for try := 1; ctx.Err() == nil; {
		if h.fenced() {
			supervisor.Sleep(ctx, 100*time.Millisecond)
			continue
		}
		holder, next, err := w.Wait(ctx, kind, SingletonIdentity, index)
		if err != nil {
			supervisor.Sleep(ctx, h.cfg.Retry.Delay(try, rand.Float64()))
			try++
			index = 0
			continue
		}
		try, index = 1, next
		if holder == "" {
			cctx, cancel := context.WithTimeout(ctx, h.cfg.DirectoryTimeout)
			holder, err = h.cfg.Directory.Claim(cctx, kind, SingletonIdentity, h.cfg.Member)
			cancel()
			if err != nil {
				supervisor.Sleep(ctx, h.cfg.Retry.Delay(1, rand.Float64()))
				index = 0
				continue
			}
			if holder == h.cfg.Member {
				h.log.Info("singleton lock taken; activating", "grain", kind)
			}
		}
		if holder == h.cfg.Member {
			h.sys.Root.Send(h.router, &activate{kind: kind})
		}
	}
}
