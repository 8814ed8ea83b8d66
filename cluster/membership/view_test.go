package membership

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

func TestNextWaitIndex(t *testing.T) {
	tests := []struct {
		prev, got, want uint64
	}{
		{0, 0, 1},    // a broken 0 answer must not make queries spin
		{0, 42, 42},  // first answer
		{42, 42, 42}, // time-out without change
		{42, 50, 50}, // change
		{500, 7, 0},  // went backwards (dev agent restarted): start over
		{500, 0, 0},  // backwards to 0: start over, the next answer fixes it
		{1, 1, 1},
	}
	for _, tt := range tests {
		if got := nextWaitIndex(tt.prev, tt.got); got != tt.want {
			t.Errorf("nextWaitIndex(%d, %d) = %d, want %d", tt.prev, tt.got, got, tt.want)
		}
	}
}

// entry is a passing registration of cluster "c"; checked gives it the
// lease and health checks Join registers.
func entry(node, id, instance, httpAddr string, checked bool) *api.ServiceEntry {
	e := &api.ServiceEntry{
		Node:    &api.Node{Node: node, Address: "10.0.0.9"},
		Service: &api.AgentService{ID: id, Address: "127.0.0.9", Port: 7999, Meta: map[string]string{metaInstance: instance, metaHTTPAddr: httpAddr}},
		Checks:  api.HealthChecks{{CheckID: "serfHealth", Status: api.HealthPassing}},
	}
	if checked {
		for _, c := range []string{"lease", "health"} {
			e.Checks = append(e.Checks, &api.HealthCheck{CheckID: "granary:c:" + id + ":" + c, ServiceID: id, Status: api.HealthPassing})
		}
	}
	return e
}

// held is a member key of cluster "c" held by session (none: released).
func held(id, session string, r memberRecord) *api.KVPair {
	b, _ := json.Marshal(r)
	return &api.KVPair{Key: memberKeyPrefix("c") + id, Value: b, Session: session}
}

// TestRosterOf: a member is a registration with granary's checks whose
// node holds its member key, with the same instance, under a live
// session; its addresses come from the key. A registration without the
// checks (anyone with service:write can make one), or without the key,
// is not a member, whatever it says.
func TestRosterOf(t *testing.T) {
	entries := []*api.ServiceEntry{
		entry("agent-b", "n2", "i2", "127.0.0.2:8002", true),
		entry("agent-a", "n1", "i1", "127.0.0.66:6666", true), // the registration's http_addr is not believed
		entry("agent-z", "n1", "i1", "127.0.0.66:6666", true), // a copy on another agent: still one member
		entry("agent-a", "impostor", "ix", "127.0.0.66:6666", false),
		entry("agent-a", "nokey", "i3", "127.0.0.3:8003", true),
		entry("agent-a", "released", "i4", "127.0.0.4:8004", true),
		entry("agent-a", "otherinst", "i5", "127.0.0.5:8005", true),
		entry("agent-a", "garbage", "i6", "127.0.0.6:8006", true),
		{Service: nil},
		nil,
	}
	pairs := api.KVPairs{
		held("n1", "s1", memberRecord{Instance: "i1", Addr: "127.0.0.1:7001", HTTPAddr: "127.0.0.1:8001", Kinds: []string{"whoami", "counter"}, Version: "v1"}),
		held("n2", "s2", memberRecord{Instance: "i2", Addr: "127.0.0.2:7002", HTTPAddr: "127.0.0.2:8002", Remoting: "mtls:ab"}),
		held("impostor", "s9", memberRecord{Instance: "iy", Addr: "127.0.0.66:7000", HTTPAddr: "127.0.0.66:6666"}),
		held("released", "", memberRecord{Instance: "i4", Addr: "127.0.0.4:7004", HTTPAddr: "127.0.0.4:8004"}),
		held("otherinst", "s5", memberRecord{Instance: "old", Addr: "127.0.0.5:7005", HTTPAddr: "127.0.0.5:8005"}),
		{Key: memberKeyPrefix("c") + "garbage", Value: []byte("{"), Session: "s6"},
		held("elsewhere", "s7", memberRecord{Instance: "i7"}), // a key without a registration
		nil,
	}
	got, out := rosterOf("c", entries, pairs)
	want := []Member{
		{ID: "n1", Addr: "127.0.0.1:7001", HTTPAddr: "127.0.0.1:8001", Kinds: []string{"counter", "whoami"}, Version: "v1"},
		{ID: "n2", Addr: "127.0.0.2:7002", HTTPAddr: "127.0.0.2:8002", Kinds: []string{}, Remoting: "mtls:ab"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("members:\n got %+v\nwant %+v", got, want)
	}
	reasons := map[string]bool{}
	for _, ig := range out {
		reasons[ig.id] = ig.pending
	}
	wantOut := map[string]bool{"impostor": false, "nokey": true, "released": true, "otherinst": true, "garbage": true}
	if !reflect.DeepEqual(reasons, wantOut) {
		t.Errorf("ignored (id: pending) = %v, want %v", reasons, wantOut)
	}
	v := View{Version: 1, Members: got}
	if m, ok := v.Member("n1"); !ok || !m.Hosts("counter") || m.Hosts("grain") {
		t.Errorf("View.Member(n1) = %+v, %v", m, ok)
	}
	if _, ok := v.Member("impostor"); ok {
		t.Error("View.Member found the impostor")
	}
}

// TestRosterWarnsOnce: an ignored registration is logged once while it
// stays; a pending one (a member joining) only after pendingGrace.
func TestRosterWarnsOnce(t *testing.T) {
	r := newRosterState()
	r.setEntries([]*api.ServiceEntry{entry("a", "impostor", "ix", "127.0.0.66:1", false), entry("a", "joining", "ij", "127.0.0.5:1", true)})
	if _, _, ok := r.members("c", time.Now()); ok {
		t.Fatal("members answered before the member keys were read")
	}
	r.setPairs(nil)
	now := time.Now()
	warnAt := func(at time.Time) []string {
		_, out, ok := r.members("c", at)
		if !ok {
			t.Fatal("members not ok")
		}
		var ids []string
		for _, ig := range r.toWarn(out, at) {
			ids = append(ids, ig.id)
		}
		return ids
	}
	if got := warnAt(now); !reflect.DeepEqual(got, []string{"impostor"}) {
		t.Errorf("first look warns %v, want [impostor]", got)
	}
	if got := warnAt(now.Add(time.Second)); got != nil {
		t.Errorf("second look warns %v, want nothing", got)
	}
	if got := warnAt(now.Add(pendingGrace)); !reflect.DeepEqual(got, []string{"joining"}) {
		t.Errorf("after the grace warns %v, want [joining]", got)
	}
}

func TestRemotingMTLS(t *testing.T) {
	a := "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
	b := "-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n"
	if RemotingMTLS([]byte(a+b)) != RemotingMTLS([]byte(b+a)) || RemotingMTLS([]byte(a)) == RemotingMTLS([]byte(b)) ||
		len(RemotingMTLS([]byte(a))) > MaxRemotingBytes {
		t.Error("RemotingMTLS must name the set of CA certificates, whatever their order, and tell sets apart")
	}
}

func TestViewDiff(t *testing.T) {
	m := func(id, addr string) Member { return Member{ID: id, Addr: addr} }
	before := []Member{m("a", "1"), m("b", "1"), m("c", "1")}
	after := []Member{m("b", "2"), m("c", "1"), m("d", "1")}
	joined, left, changed := viewDiff(before, after)
	if !reflect.DeepEqual(joined, []string{"d"}) || !reflect.DeepEqual(left, []string{"a"}) || !reflect.DeepEqual(changed, []string{"b"}) {
		t.Errorf("viewDiff = joined %v left %v changed %v", joined, left, changed)
	}
}

func TestViewHubLatestWins(t *testing.T) {
	h := newViewHub()
	ch, cancel := h.subscribe()
	select {
	case v := <-ch:
		t.Fatalf("got %+v before anything was published", v)
	default:
	}

	a := []Member{{ID: "a"}}
	ab := []Member{{ID: "a"}, {ID: "b"}}
	if _, v, changed := h.publish(a); !changed || v.Version != 1 {
		t.Fatalf("first publish: changed %v version %d", changed, v.Version)
	}
	if _, _, changed := h.publish([]Member{{ID: "a"}}); changed {
		t.Fatal("publishing an equal list counted as a change")
	}
	h.publish(ab)
	h.publish(a) // the subscriber took nothing yet: only this one is kept
	v := <-ch
	if v.Version != 3 || !reflect.DeepEqual(v.IDs(), []string{"a"}) {
		t.Fatalf("subscriber got version %d %v, want the latest (3, [a])", v.Version, v.IDs())
	}
	select {
	case v := <-ch:
		t.Fatalf("second receive %+v: older views must have been replaced", v)
	default:
	}

	// A late subscriber starts with the current view.
	late, cancelLate := h.subscribe()
	if v := <-late; v.Version != 3 {
		t.Fatalf("late subscriber got version %d, want 3", v.Version)
	}

	// Views handed out are copies.
	v.Members[0].ID = "mutated"
	if h.current().Members[0].ID != "a" {
		t.Fatal("mutating a received view changed the hub's view")
	}

	cancel()
	cancel() // idempotent
	if _, ok := <-ch; ok {
		t.Fatal("channel still open after cancel")
	}
	h.close()
	h.close()
	if _, ok := <-late; ok {
		t.Fatal("channel still open after close")
	}
	cancelLate() // after close: no panic
	if _, _, changed := h.publish(ab); changed {
		t.Fatal("publish after close counted as a change")
	}
	closed, _ := h.subscribe()
	if _, ok := <-closed; ok {
		t.Fatal("subscribing after close gave an open channel")
	}
}
