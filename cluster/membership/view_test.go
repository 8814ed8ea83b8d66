package membership

import (
	"reflect"
	"testing"

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

func entry(node, id, addr string, port int, meta map[string]string) *api.ServiceEntry {
	return &api.ServiceEntry{
		Node:    &api.Node{Node: node, Address: "10.0.0.9"},
		Service: &api.AgentService{ID: id, Address: addr, Port: port, Meta: meta},
	}
}

func TestMembersFromEntries(t *testing.T) {
	entries := []*api.ServiceEntry{
		entry("agent-b", "n2", "127.0.0.2", 7002, map[string]string{metaHTTPAddr: "127.0.0.2:8002", metaKinds: "whoami,counter"}),
		entry("agent-a", "n1", "127.0.0.1", 7001, map[string]string{metaHTTPAddr: "127.0.0.1:8001", metaKinds: ""}),
		entry("agent-a", "n3", "", 7003, nil), // no service address: the node's
		// Same id on another agent: the alphabetically first agent wins.
		entry("agent-z", "n2", "127.0.0.99", 7099, nil),
		{Service: nil},
		nil,
	}
	got, dups := membersFromEntries(entries)
	want := []Member{
		{ID: "n1", Addr: "127.0.0.1:7001", HTTPAddr: "127.0.0.1:8001", Kinds: []string{}},
		{ID: "n2", Addr: "127.0.0.2:7002", HTTPAddr: "127.0.0.2:8002", Kinds: []string{"counter", "whoami"}},
		{ID: "n3", Addr: "10.0.0.9:7003", HTTPAddr: "", Kinds: []string{}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("members:\n got %+v\nwant %+v", got, want)
	}
	if dups != 1 {
		t.Errorf("dups = %d, want 1", dups)
	}
	v := View{Version: 1, Members: got}
	if m, ok := v.Member("n2"); !ok || !m.Hosts("counter") || m.Hosts("grain") {
		t.Errorf("View.Member(n2) = %+v, %v", m, ok)
	}
	if _, ok := v.Member("n4"); ok {
		t.Error("View.Member(n4) found a member that does not exist")
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
