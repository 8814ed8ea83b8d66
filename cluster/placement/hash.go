package placement

// The hash is spelled out here rather than taken from hash/maphash (seeded
// per process) or hash/fnv (fine, but an interface call per byte slice):
// every process of every version must compute the same owner, so the bytes
// hashed and the arithmetic applied are part of the placement contract.
// Changing anything in this file moves grains; the golden test in
// placement_test.go fails when it changes.

const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211

	// Domain tags keep a member hash and a key hash apart even when a member
	// ID happens to equal a kind/identity encoding.
	memberDomain = 'm'
	keyDomain    = 'k'
)

// fnvByte folds one byte into an FNV-1a state.
func fnvByte(h uint64, b byte) uint64 {
	return (h ^ uint64(b)) * fnvPrime64
}

// fnvString folds s into an FNV-1a state.
func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime64
	}
	return h
}

// fnvLen folds n as 8 little-endian bytes, so that a length prefix makes
// ("ab","c") and ("a","bc") hash differently without reserving a separator
// character that kinds or identities might contain.
func fnvLen(h uint64, n int) uint64 {
	u := uint64(n)
	for i := 0; i < 8; i++ {
		h = fnvByte(h, byte(u))
		u >>= 8
	}
	return h
}

// mix64 is the splitmix64 finalizer (Stafford's variant 13). FNV-1a alone
// leaves inputs that differ in their last byte ("node-1", "node-2") with
// hashes that differ mostly in their low bits; the finalizer is a bijection
// whose every output bit depends on every input bit, which is what makes
// such near-identical member IDs receive even shares.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// memberSeed is the per-member half of the score; a Table computes it once.
func memberSeed(id string) uint64 {
	h := fnvByte(fnvOffset64, memberDomain)
	h = fnvLen(h, len(id))
	h = fnvString(h, id)
	return mix64(h)
}

// keyHash is the per-lookup half of the score, computed once per lookup
// whatever the number of members. The kind is length-prefixed; the identity
// runs to the end, so the encoding is unambiguous.
func keyHash(kind, identity string) uint64 {
	h := fnvByte(fnvOffset64, keyDomain)
	h = fnvLen(h, len(kind))
	h = fnvString(h, kind)
	h = fnvString(h, identity)
	return mix64(h)
}

// score is the rendezvous weight of a member for a key. Both inputs are
// already well mixed; mixing their combination again makes each member's
// weight for a key an independent-looking draw, so every member is equally
// likely to rank first and, when one is removed, its keys fall to the
// others uniformly.
func score(seed, key uint64) uint64 {
	return mix64(seed ^ key)
}

// beats reports whether a candidate (score s, id) outranks the current best.
// Equal scores need equal seeds (a 64-bit collision); the ID breaks the tie
// so that the answer still never depends on the order of the member list.
func beats(s uint64, id string, bestScore uint64, bestID string) bool {
	if s != bestScore {
		return s > bestScore
	}
	return id < bestID
}
