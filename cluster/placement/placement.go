package placement

import "slices"

// Member is one cluster member as placement sees it.
type Member struct {
	// ID names the member and is the only thing hashed for it, so it must
	// be the same string on every node (typically the node ID or its
	// node-to-node address).
	ID string
	// Kinds lists the grain kinds the member hosts. Empty means it hosts
	// none: a member must opt in to a kind before grains land on it.
	Kinds []string
}

// Hosts reports whether m hosts kind.
func Hosts(m Member, kind string) bool {
	for _, k := range m.Kinds {
		if k == kind {
			return true
		}
	}
	return false
}

// Owner picks the member that hosts (kind, identity) by rendezvous (highest
// random weight) hashing among the members that host kind. ok is false when
// no member hosts the kind.
//
// The answer depends only on the set of member IDs hosting kind, never on
// the order of members; listing the same ID twice is harmless.
func Owner(members []Member, kind, identity string) (id string, ok bool) {
	return owner(members, kind, keyHash(kind, identity))
}

// TaskKind is the placement kind of task kind: tasks place under their own
// kinds, so a task kind and a grain kind of the same name do not mix.
func TaskKind(kind string) string { return "task:" + kind }

// TaskMembers turns members, with the kinds they host, into members of
// the task kinds (TaskKind) they host.
func TaskMembers(members []Member) []Member {
	out := make([]Member, 0, len(members))
	for _, m := range members {
		kinds := make([]string, 0, len(m.Kinds))
		for _, k := range m.Kinds {
			kinds = append(kinds, TaskKind(k))
		}
		out = append(out, Member{ID: m.ID, Kinds: kinds})
	}
	return out
}

// TaskOwner picks the member that owns a new task of kind with id among
// members listed with the kinds they host: Owner(TaskMembers(members),
// TaskKind(kind), id), without building the task members. Nodes place
// submitted tasks with it, and clients that send each submit straight to
// its owner.
func TaskOwner(members []Member, kind, id string) (string, bool) {
	return owner(members, kind, keyHash(TaskKind(kind), id))
}

// owner is the member hosting kind with the highest score for key.
func owner(members []Member, kind string, key uint64) (id string, ok bool) {
	var best uint64
	for _, m := range members {
		if !Hosts(m, kind) {
			continue
		}
		s := score(memberSeed(m.ID), key)
		if !ok || beats(s, m.ID, best, id) {
			id, best, ok = m.ID, s, true
		}
	}
	return id, ok
}

// Ranked returns the IDs of the members hosting kind, ordered by preference
// for (kind, identity): the owner first, then the member that would own it
// if the owner were gone, and so on. Each ID appears once. It is empty when
// no member hosts the kind.
//
// Because weights do not depend on which other members exist, removing the
// first entry from the member list makes the second entry the owner.
func Ranked(members []Member, kind, identity string) []string {
	key := keyHash(kind, identity)
	cands := make([]candidate, 0, len(members))
	for _, m := range members {
		if Hosts(m, kind) {
			cands = append(cands, candidate{id: m.ID, score: score(memberSeed(m.ID), key)})
		}
	}
	return rankCandidates(cands)
}

type candidate struct {
	id    string
	score uint64
}

// rankCandidates sorts by preference and drops repeated IDs.
func rankCandidates(cands []candidate) []string {
	slices.SortFunc(cands, func(a, b candidate) int {
		switch {
		case a.id == b.id && a.score == b.score:
			return 0
		case beats(a.score, a.id, b.score, b.id):
			return -1
		default:
			return 1
		}
	})
	out := make([]string, 0, len(cands))
	for i, c := range cands {
		// Repeats share a score, so they sort next to each other.
		if i > 0 && c.id == cands[i-1].id {
			continue
		}
		out = append(out, c.id)
	}
	return out
}
