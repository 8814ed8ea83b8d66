package placement

// Table answers placement lookups against one fixed view of the members.
// It precomputes each member's hash seed and the list of hosts per kind, so
// a lookup hashes the key once and does one multiply-xor round per host,
// without allocating. It gives exactly the answers of Owner and Ranked for
// the members it was built from.
//
// A Table is immutable and safe for concurrent use; build a new one when
// membership changes.
type Table struct {
	hosts map[string][]tableEntry
}

type tableEntry struct {
	id   string
	seed uint64
}

// NewTable builds a Table for members. It keeps no reference to members.
func NewTable(members []Member) *Table {
	t := &Table{hosts: make(map[string][]tableEntry)}
	// An ID listed twice, or a kind listed twice, must not become two
	// entries: Owner would not notice, but Ranked would repeat the ID.
	type hosting struct{ kind, id string }
	seen := make(map[hosting]bool)
	for _, m := range members {
		seed := memberSeed(m.ID)
		for _, kind := range m.Kinds {
			if h := (hosting{kind, m.ID}); !seen[h] {
				seen[h] = true
				t.hosts[kind] = append(t.hosts[kind], tableEntry{id: m.ID, seed: seed})
			}
		}
	}
	return t
}

// Owner is Owner(members, kind, identity) for the table's members.
func (t *Table) Owner(kind, identity string) (id string, ok bool) {
	entries := t.hosts[kind]
	if len(entries) == 0 {
		return "", false
	}
	key := keyHash(kind, identity)
	id, best := entries[0].id, score(entries[0].seed, key)
	for _, e := range entries[1:] {
		if s := score(e.seed, key); beats(s, e.id, best, id) {
			id, best = e.id, s
		}
	}
	return id, true
}

// Ranked is Ranked(members, kind, identity) for the table's members.
func (t *Table) Ranked(kind, identity string) []string {
	entries := t.hosts[kind]
	key := keyHash(kind, identity)
	cands := make([]candidate, len(entries))
	for i, e := range entries {
		cands[i] = candidate{id: e.id, score: score(e.seed, key)}
	}
	return rankCandidates(cands)
}
