package placement

import (
	"fmt"
	"hash/fnv"
	"slices"
	"testing"
)

func TestHosts(t *testing.T) {
	tests := []struct {
		name   string
		member Member
		kind   string
		want   bool
	}{
		{"listed", Member{ID: "a", Kinds: []string{"counter", "whoami"}}, "whoami", true},
		{"not listed", Member{ID: "a", Kinds: []string{"counter"}}, "whoami", false},
		{"no kinds hosts none", Member{ID: "a"}, "counter", false},
		{"empty kind not implied", Member{ID: "a", Kinds: []string{"counter"}}, "", false},
		{"case sensitive", Member{ID: "a", Kinds: []string{"Counter"}}, "counter", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Hosts(tt.member, tt.kind); got != tt.want {
				t.Errorf("Hosts(%+v, %q) = %v, want %v", tt.member, tt.kind, got, tt.want)
			}
		})
	}
}

// checkAllAgree asserts that Owner, Ranked and a Table built from members
// all give want (and ok == (want != "")).
func checkAllAgree(t *testing.T, members []Member, kind, identity, want string) {
	t.Helper()
	wantOK := want != ""
	if got, ok := Owner(members, kind, identity); got != want || ok != wantOK {
		t.Errorf("Owner(%q, %q) = %q, %v; want %q, %v", kind, identity, got, ok, want, wantOK)
	}
	if got, ok := NewTable(members).Owner(kind, identity); got != want || ok != wantOK {
		t.Errorf("Table.Owner(%q, %q) = %q, %v; want %q, %v", kind, identity, got, ok, want, wantOK)
	}
	ranked := Ranked(members, kind, identity)
	if wantOK && (len(ranked) == 0 || ranked[0] != want) {
		t.Errorf("Ranked(%q, %q) = %v; want %q first", kind, identity, ranked, want)
	}
	if !wantOK && len(ranked) != 0 {
		t.Errorf("Ranked(%q, %q) = %v; want empty", kind, identity, ranked)
	}
}

func TestKindFiltering(t *testing.T) {
	tests := []struct {
		name    string
		members []Member
		kind    string
		want    string // "" means ok=false
	}{
		{"no members", nil, "counter", ""},
		{"nobody hosts the kind", []Member{{ID: "a", Kinds: []string{"whoami"}}, {ID: "b"}}, "counter", ""},
		{"only host owns everything", []Member{{ID: "a", Kinds: []string{"whoami"}}, {ID: "b", Kinds: []string{"counter"}}, {ID: "c"}}, "counter", "b"},
		{"empty identity still placed", []Member{{ID: "a", Kinds: []string{"counter"}}}, "counter", "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, identity := range []string{"", "alice", "bob", "user-1", "user-2"} {
				checkAllAgree(t, tt.members, tt.kind, identity, tt.want)
			}
		})
	}
}

func TestNonHostNeverOwns(t *testing.T) {
	// node-2 would own some of these identities if it hosted "whoami".
	members := []Member{
		{ID: "node-1", Kinds: []string{"counter", "whoami"}},
		{ID: "node-2", Kinds: []string{"counter"}},
		{ID: "node-3", Kinds: []string{"counter", "whoami"}},
	}
	table := NewTable(members)
	for _, identity := range identities(3000) {
		owner, ok := table.Owner("whoami", identity)
		if !ok || owner == "node-2" {
			t.Fatalf("whoami/%s placed on %q (ok=%v), want node-1 or node-3", identity, owner, ok)
		}
		if slices.Contains(table.Ranked("whoami", identity), "node-2") {
			t.Fatalf("Ranked(whoami, %s) lists node-2, which does not host whoami", identity)
		}
	}
}

func TestOrderAndDuplicatesDoNotMatter(t *testing.T) {
	base := []Member{
		{ID: "node-1", Kinds: []string{"counter"}},
		{ID: "node-2", Kinds: []string{"counter"}},
		{ID: "node-3", Kinds: []string{"counter"}},
	}
	variants := map[string][]Member{
		"reversed":         {base[2], base[1], base[0]},
		"rotated":          {base[1], base[2], base[0]},
		"duplicate member": {base[0], base[1], base[2], base[1]},
		"duplicate kind": {
			{ID: "node-1", Kinds: []string{"counter", "counter"}},
			base[1], base[2],
		},
		"kinds split over two entries": {
			base[0], base[1],
			{ID: "node-3", Kinds: []string{"whoami"}},
			{ID: "node-3", Kinds: []string{"counter"}},
		},
	}
	for name, members := range variants {
		t.Run(name, func(t *testing.T) {
			for _, identity := range identities(500) {
				want := Ranked(base, "counter", identity)
				checkAllAgree(t, members, "counter", identity, want[0])
				if got := Ranked(members, "counter", identity); !slices.Equal(got, want) {
					t.Fatalf("Ranked(%s) = %v, want %v", identity, got, want)
				}
				if got := NewTable(members).Ranked("counter", identity); !slices.Equal(got, want) {
					t.Fatalf("Table.Ranked(%s) = %v, want %v", identity, got, want)
				}
			}
		})
	}
}

func TestRankedIsFailoverOrder(t *testing.T) {
	// Removing the owner must hand the identity to the second in Ranked,
	// removing that one to the third, and so on.
	all := hostsOf(t, "node-%d", 6)
	for _, identity := range identities(200) {
		order := Ranked(all, balanceKind, identity)
		alive := slices.Clone(all)
		for _, want := range order {
			checkAllAgree(t, alive, balanceKind, identity, want)
			alive = slices.DeleteFunc(alive, func(m Member) bool { return m.ID == want })
		}
		checkAllAgree(t, alive, balanceKind, identity, "")
	}
}

// TestGolden pins answers so that any change to the hash, which would move
// grains between processes running different builds, fails here first.
func TestGolden(t *testing.T) {
	three := []Member{
		{ID: "node-1", Kinds: []string{"counter", "whoami"}},
		{ID: "node-2", Kinds: []string{"counter"}},
		{ID: "node-3", Kinds: []string{"counter", "whoami"}},
	}
	addrs := []Member{
		{ID: "127.0.0.1:7001", Kinds: []string{"counter"}},
		{ID: "127.0.0.1:7002", Kinds: []string{"counter"}},
		{ID: "127.0.0.1:7003", Kinds: []string{"counter"}},
	}
	tests := []struct {
		members        []Member
		kind, identity string
		want           []string
	}{
		{three, "counter", "alice", []string{"node-1", "node-2", "node-3"}},
		{three, "counter", "bob", []string{"node-3", "node-1", "node-2"}},
		{three, "counter", "carol", []string{"node-3", "node-2", "node-1"}},
		{three, "counter", "", []string{"node-2", "node-1", "node-3"}},
		{three, "whoami", "alice", []string{"node-3", "node-1"}},
		{three, "whoami", "bob", []string{"node-1", "node-3"}},
		{three, "whoami", "dave", []string{"node-1", "node-3"}},
		{addrs, "counter", "alice", []string{"127.0.0.1:7003", "127.0.0.1:7001", "127.0.0.1:7002"}},
		{addrs, "counter", "user-42", []string{"127.0.0.1:7002", "127.0.0.1:7001", "127.0.0.1:7003"}},
		{addrs, "counter", "user-43", []string{"127.0.0.1:7003", "127.0.0.1:7001", "127.0.0.1:7002"}},
		{addrs, "counter", "日本", []string{"127.0.0.1:7003", "127.0.0.1:7002", "127.0.0.1:7001"}},
	}
	for _, tt := range tests {
		t.Run(tt.kind+"/"+tt.identity, func(t *testing.T) {
			checkAllAgree(t, tt.members, tt.kind, tt.identity, tt.want[0])
			if got := Ranked(tt.members, tt.kind, tt.identity); !slices.Equal(got, tt.want) {
				t.Errorf("Ranked = %v, want %v", got, tt.want)
			}
		})
	}

	hashes := []struct {
		name      string
		got, want uint64
	}{
		{"memberSeed(node-1)", memberSeed("node-1"), 0x085f2c614980a355},
		{"keyHash(counter, alice)", keyHash("counter", "alice"), 0xd1df3d32936b890b},
		{"score", score(memberSeed("node-1"), keyHash("counter", "alice")), 0xfb40598e5d2a0918},
	}
	for _, h := range hashes {
		if h.got != h.want {
			t.Errorf("%s = %#x, want %#x", h.name, h.got, h.want)
		}
	}
}

// TestHashPrimitives checks the hand-written primitives against their
// published definitions, so the code matches what doc.go claims.
func TestHashPrimitives(t *testing.T) {
	for _, s := range []string{"", "a", "node-1", "127.0.0.1:7001", "日本"} {
		ref := fnv.New64a()
		ref.Write([]byte(s))
		if got := fnvString(fnvOffset64, s); got != ref.Sum64() {
			t.Errorf("fnvString(%q) = %#x, want FNV-1a %#x", s, got, ref.Sum64())
		}
	}
	// First output of splitmix64 seeded with 0 (Vigna's reference code).
	if got := mix64(0x9e3779b97f4a7c15); got != 0xe220a8397b1dcdaf {
		t.Errorf("mix64(gamma) = %#x, want splitmix64 %#x", got, uint64(0xe220a8397b1dcdaf))
	}
	// The length prefix keeps the kind/identity boundary unambiguous.
	if keyHash("ab", "c") == keyHash("a", "bc") {
		t.Error(`keyHash("ab", "c") == keyHash("a", "bc")`)
	}
	if keyHash("a/b", "c") == keyHash("a", "b/c") {
		t.Error(`keyHash("a/b", "c") == keyHash("a", "b/c")`)
	}
}

// TaskOwner places a task as Owner does among the task members, for
// every key, including members that do not host the kind.
func TestTaskOwnerMatchesOwnerOfTaskMembers(t *testing.T) {
	members := []Member{{ID: "a", Kinds: []string{"echo", "sleep"}}, {ID: "b", Kinds: []string{"echo"}}, {ID: "c", Kinds: []string{"sleep"}}, {ID: "d"}}
	for i := 0; i < 2000; i++ {
		for _, kind := range []string{"echo", "sleep", "none"} {
			id := fmt.Sprintf("t-%d", i)
			got, gotOK := TaskOwner(members, kind, id)
			want, wantOK := Owner(TaskMembers(members), TaskKind(kind), id)
			if got != want || gotOK != wantOK {
				t.Fatalf("TaskOwner(%s, %s) = %q %v; Owner of the task members = %q %v", kind, id, got, gotOK, want, wantOK)
			}
		}
	}
}
