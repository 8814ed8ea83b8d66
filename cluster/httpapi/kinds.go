package httpapi

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
)

// kinds answers GET /v1/kinds: the task and grain kinds this node hosts,
// with the defaults a submit starts from.
func (h *handler) kinds(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Registry == nil {
		h.fail(w, r, fmt.Errorf("%w: this node does not say which kinds it hosts", api.ErrNotFound))
		return
	}
	out := KindList(h.cfg.Registry, h.cfg.Kinds)
	h.reply(w, http.StatusOK, out)
}

// KindList describes the kinds of reg that hosted names (nil: all of them):
// task kinds first, then grain kinds, each sorted by name.
func KindList(reg *actors.Registry, hosted []string) api.KindList {
	out := api.KindList{Kinds: []api.Kind{}}
	hosts := func(name string) bool { return hosted == nil || slices.Contains(hosted, name) }
	taskNames, grainNames := reg.TaskKinds(), reg.GrainKinds()
	slices.Sort(taskNames)
	slices.Sort(grainNames)
	for _, name := range taskNames {
		k, err := reg.Task(name)
		if err != nil || !hosts(name) {
			continue
		}
		out.Kinds = append(out.Kinds, api.Kind{Name: name, Type: api.KindTask, Defaults: policyOf(k.Settings()), Example: k.Example()})
	}
	for _, name := range grainNames {
		k, err := reg.Grain(name)
		if err != nil || !hosts(name) {
			continue
		}
		out.Kinds = append(out.Kinds, api.Kind{Name: name, Type: api.KindGrain, Singleton: k.IsSingleton(), Durable: k.IsDurable(), Example: k.Example()})
	}
	out.Count = len(out.Kinds)
	return out
}

// policyOf writes a kind's settings as the policy of a submit; time-outs
// that are off (0) are left out, as a submit would leave them.
func policyOf(s actors.Settings) *api.Policy {
	p := &api.Policy{
		MaxAttempts:       api.Ptr(s.MaxAttempts),
		BackoffInitial:    api.Ptr(api.Duration(s.Backoff.Initial)),
		BackoffMultiplier: api.Ptr(s.Backoff.Multiplier),
		BackoffMax:        api.Ptr(api.Duration(s.Backoff.Max)),
		Jitter:            api.Ptr(s.Backoff.Jitter.String()),
	}
	for _, d := range []struct {
		v   int64
		dst **api.Duration
	}{{int64(s.AttemptTimeout), &p.AttemptTimeout}, {int64(s.HeartbeatTimeout), &p.HeartbeatTimeout}, {int64(s.ScheduleToClose), &p.Deadline}} {
		if d.v > 0 {
			*d.dst = api.Ptr(api.Duration(d.v))
		}
	}
	return p
}
