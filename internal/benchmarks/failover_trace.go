package benchmarks

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/supervisor"

	"github.com/hashicorp/consul/api"
)

// A kill -9 run's figure is the time its last identity answered from a
// survivor. runTrace records why the run ended when it did: the last
// identities, what their calls got until then, and a timeline of the kill
// as Consul and the survivors saw it. failoverRuns prints it for runs
// slower than traceFactor × the median.
const (
	traceFactor = 2
	// traceLastWithin: the identities that answered within this of the
	// last one are "the last" (they waited for the same thing).
	traceLastWithin = 100 * time.Millisecond
	// probeInterval is how often the Consul probe polls during a run: fine
	// enough to order the events of a ~2s failover, 4 reads per tick.
	probeInterval = 100 * time.Millisecond
	// traceErrs bounds the distinct errors kept per identity.
	traceErrs = 6
)

// traceEvent is one point of a run's timeline, at an offset from the kill.
type traceEvent struct {
	at   time.Duration
	what string
}

// identityTrace is what the calls for one identity met after the kill.
type identityTrace struct {
	id, via, answeredBy string
	at                  time.Duration // first answer from a survivor; RecoveryCap if none
	tries               int
	errs                []traceEvent // distinct errors, at their first occurrence
	mu                  sync.Mutex   // note runs on the call's and the client's retries
}

// try records a try of the harness at offset at, and its error (nil for
// a success).
func (it *identityTrace) try(at time.Duration, err error) {
	it.mu.Lock()
	it.tries++
	it.mu.Unlock()
	it.note(at, err)
}

// note records err (nil: nothing) at offset at: a try's, or one the
// client retried by itself.
func (it *identityTrace) note(at time.Duration, err error) {
	it.mu.Lock()
	defer it.mu.Unlock()
	if err == nil {
		return
	}
	msg := err.Error()
	for _, e := range it.errs {
		if e.what == msg {
			return
		}
	}
	if len(it.errs) < traceErrs {
		it.errs = append(it.errs, traceEvent{at, msg})
	}
}

// runTrace is why one kill -9 run ended when it did.
type runTrace struct {
	run    int
	victim string
	killed time.Time
	took   time.Duration
	ids    []*identityTrace
	events []traceEvent // Consul's and the survivors' view of the kill
}

// lastIdentities are the identities that answered within traceLastWithin
// of the last one, latest first.
func (t *runTrace) lastIdentities() []*identityTrace {
	ids := slices.Clone(t.ids)
	slices.SortFunc(ids, func(a, b *identityTrace) int { return int(b.at - a.at) })
	var out []*identityTrace
	for _, it := range ids {
		if it.at < ids[0].at-traceLastWithin {
			break
		}
		out = append(out, it)
	}
	return out
}

// String is the timeline, one event a line, offsets from the kill.
func (t *runTrace) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "run %d: killed %s at %s, last answer %.2fs after the kill\n", t.run+1, t.victim,
		t.killed.UTC().Format("15:04:05.000"), t.took.Seconds())
	events := slices.Clone(t.events)
	last := t.lastIdentities()
	for i, it := range last {
		if i == 3 {
			events = append(events, traceEvent{it.at, fmt.Sprintf("... and %d more identities answered", len(last)-3)})
			break
		}
		events = append(events, traceEvent{it.at, fmt.Sprintf("identity %s answered by %s via %s after %d tries", it.id, it.answeredBy, it.via, it.tries)})
		for _, e := range it.errs {
			events = append(events, traceEvent{e.at, fmt.Sprintf("  %s via %s got: %s", it.id, it.via, e.what)})
		}
	}
	slices.SortStableFunc(events, func(a, b traceEvent) int { return int(a.at - b.at) })
	for _, e := range events {
		fmt.Fprintf(&b, "  %+7.3fs %s\n", e.at.Seconds(), e.what)
	}
	return b.String()
}

// logWatcher is a member whose log the trace can read: survivors report
// their view changes and warnings from it.
type logWatcher interface {
	// logEvents are the member's log lines at level ≥ info from since
	// on, as events at their offset from since.
	logEvents(since time.Time) []traceEvent
}

// consulProbe watches a kill -9 in Consul: the victim's session and
// checks, the activation keys of the identities it hosted, and the Raft
// leader.
type consulProbe struct {
	c       *api.Client
	cluster string
}

// probeState is what one probe saw, as first-seen offsets from the kill.
type probeState struct {
	mu      sync.Mutex
	events  []traceEvent
	seen    map[string]bool // events already recorded, by text
	session string          // the victim's, before the kill
	leader  string          // the Raft leader last seen
	hosted  map[string]bool // the identities the victim held
}

func (s *probeState) add(at time.Duration, what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.seen[what] {
		s.seen[what] = true
		s.events = append(s.events, traceEvent{at, what})
	}
}

// prepare reads the victim's session, before the kill; the probe follows
// the activation keys of hosted, the identities the victim held.
func (p *consulProbe) prepare(victim string, hosted []string) *probeState {
	st := &probeState{seen: map[string]bool{}, hosted: map[string]bool{}}
	for _, id := range hosted {
		st.hosted[id] = true
	}
	if pair, _, err := p.c.KV().Get("granary/"+p.cluster+"/members/"+victim, nil); err == nil && pair != nil {
		st.session = pair.Session
	}
	st.leader, _ = p.c.Status().Leader()
	return st
}

// watch polls Consul from the kill on; stop ends the polling and returns
// the events.
func (p *consulProbe) watch(ctx context.Context, st *probeState, victim, idPrefix string, killed time.Time) (stop func() []traceEvent) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			p.poll(st, victim, idPrefix, time.Since(killed))
			supervisor.Sleep(ctx, probeInterval)
		}
	}()
	return func() []traceEvent {
		cancel()
		<-done
		return st.events
	}
}

// poll makes one round of reads, at offset at from the kill.
func (p *consulProbe) poll(st *probeState, victim, idPrefix string, at time.Duration) {
	if l, err := p.c.Status().Leader(); err != nil {
		st.add(at, "consul: no answer to status/leader: "+err.Error())
	} else if l != st.leader {
		st.add(at, fmt.Sprintf("consul: raft leader changed %q -> %q", st.leader, l))
		st.leader = l
	}
	if st.session != "" {
		if s, _, err := p.c.Session().Info(st.session, nil); err == nil && s == nil {
			st.add(at, "consul: victim's session invalidated")
		}
	}
	if checks, _, err := p.c.Health().Checks("granary-"+p.cluster, nil); err == nil {
		for _, c := range checks {
			if c.ServiceID == victim && c.Status != api.HealthPassing {
				st.add(at, fmt.Sprintf("consul: victim's check %q %s in the catalog (node %s)", c.Name, c.Status, c.Node))
			}
		}
	}
	pairs, _, err := p.c.KV().List("granary/"+p.cluster+"/grains/whoami/"+idPrefix, nil)
	if err != nil {
		return
	}
	for _, kv := range pairs {
		id := kv.Key[strings.LastIndex(kv.Key, "/")+1:]
		switch {
		case !st.hosted[id]:
		case kv.Session == "":
			st.add(at, "activation key released: "+id)
		case kv.Session != st.session:
			st.add(at, fmt.Sprintf("activation key claimed by %s: %s", kv.Value, id))
		}
	}
}

// claimsOnly keeps, of the probe's per-identity events, those about the
// given identities, plus the first and last of each kind for the rest.
func claimsOnly(events []traceEvent, ids []*identityTrace) []traceEvent {
	keep := map[string]bool{}
	for _, it := range ids {
		keep[it.id] = true
	}
	var out []traceEvent
	first, last := map[string]traceEvent{}, map[string]traceEvent{}
	for _, e := range events {
		i := strings.LastIndex(e.what, ": ")
		if !strings.HasPrefix(e.what, "activation key ") || i < 0 {
			out = append(out, e)
			continue
		}
		kind, id := e.what[:i], e.what[i+2:]
		if keep[id] {
			out = append(out, e)
			continue
		}
		if _, ok := first[kind]; !ok {
			first[kind] = traceEvent{e.at, "first " + e.what}
		}
		last[kind] = traceEvent{e.at, "last " + e.what}
	}
	for k, e := range first {
		out = append(out, e)
		if l := last[k]; l.what != "last "+e.what[len("first "):] {
			out = append(out, l)
		}
	}
	return out
}

// traceLogLevel is the log level of the members whose failover is traced:
// info adds the view changes and Consul reconnections to the warnings, a
// few lines per kill, nothing per call.
var traceLogLevel = []string{"--log-level", "info"}

// logEvents implements logWatcher from the node's JSON log.
func (m *granaryMember) logEvents(since time.Time) []traceEvent {
	var out []traceEvent
	m.node.EachLogEntry(func(_ int, e map[string]any) {
		ts, _ := e["time"].(string)
		at, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil || at.Before(since) || at.After(since.Add(RecoveryCap)) {
			return
		}
		var attrs []string
		for k, v := range e {
			if k != "time" && k != "msg" && k != "level" {
				attrs = append(attrs, fmt.Sprintf("%s=%v", k, v))
			}
		}
		slices.Sort(attrs)
		out = append(out, traceEvent{at.Sub(since), fmt.Sprintf("%v %v %s", e["level"], e["msg"], strings.Join(attrs, " "))})
	})
	return out
}

// summary is the run on one line: its figure and when the victim's
// session ended and each survivor's view changed, for comparing runs.
func (t *runTrace) summary() string {
	s := fmt.Sprintf("run %d (%s killed): %.2fs", t.run+1, t.victim, t.took.Seconds())
	for _, e := range t.events {
		switch {
		case strings.Contains(e.what, "session invalidated"):
			s += fmt.Sprintf("; session invalidated %+.2fs", e.at.Seconds())
		case strings.Contains(e.what, " view changed "):
			s += fmt.Sprintf("; %s view %+.2fs", e.what[:strings.Index(e.what, " ")], e.at.Seconds())
		case strings.Contains(e.what, "raft leader changed"):
			s += fmt.Sprintf("; raft leader changed %+.2fs", e.at.Seconds())
		}
	}
	return s
}

// retryNotes maps a grain call's path to what hears of the retries the
// client makes inside one whoami (it retries 503s and unreachable nodes
// by itself, so the harness sees one try): the trace's view of them.
var retryNotes sync.Map // path → func(error)

// noteRetry is the members' clients' OnRetry.
func noteRetry(n client.RetryNotice) {
	if f, ok := retryNotes.Load(n.Path); ok {
		f.(func(error))(fmt.Errorf("client retries after %v (try %d): %w", n.Delay.Round(time.Millisecond), n.Try, n.Err))
	}
}

// grainPath is the path of a whoami call of identity, as the client
// reports it to OnRetry.
func grainPath(identity string) string { return "/v1/grains/whoami/" + url.PathEscape(identity) }
