package membership

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
)

// What a member is.
//
// A registration of the service "granary-"+Cluster proves nothing: any
// token with service:write on it (or any caller of an agent without ACLs)
// can register one, with no checks, so that Consul lists it as passing,
// and point its http_addr anywhere. Members would then send it their
// calls, their write token and their grains. So a member is a node that
//
//   - holds its member key, granary/<cluster>/members/<node id>, acquired
//     under its session: the key's Session is set by Consul and only a
//     token with key write on the cluster's prefix and session write can
//     set it, and Consul clears it the moment the session dies (a check
//     it is tied to went critical, the agent died, the node left); and
//   - has a registration whose every check passes, among them the lease
//     (TTL) and health (HTTP) checks this package registers, carrying the
//     instance id its key records.
//
// A member's addresses, kinds and version are read from its key, never
// from the registration, which anyone with service:write could copy onto
// another agent. A registration that fails these tests is left out of
// every view and of Discover, and logged once at warn with its address.

// maxRecordBytes bounds a member key's value read back from Consul: a
// record is a few hundred bytes (kinds fit in 512), anything far larger
// is not one of ours and is not decoded.
const maxRecordBytes = 16 << 10

// MaxRemotingBytes bounds Config.Remoting.
const MaxRemotingBytes = 128

// memberKeyPrefix is where members hold their member keys.
func memberKeyPrefix(cluster string) string { return "granary/" + cluster + "/members/" }

// memberRecord is the value of a member key: what other members and
// clients believe about the member.
type memberRecord struct {
	Instance string   `json:"instance"`
	Addr     string   `json:"addr"`
	HTTPAddr string   `json:"http_addr"`
	Kinds    []string `json:"kinds"`
	Version  string   `json:"version,omitempty"`
	Remoting string   `json:"remoting,omitempty"`
	// Draining: the member is leaving gracefully (Drain).
	Draining bool `json:"draining,omitempty"`
}

// record is this node's member record.
func (m *Membership) record() []byte {
	b, _ := json.Marshal(memberRecord{Instance: m.instance, Addr: m.cfg.Addr, HTTPAddr: m.cfg.HTTPAddr,
		Kinds: m.cfg.Kinds, Version: m.cfg.Version, Remoting: m.cfg.Remoting, Draining: m.isDraining()})
	return b
}

// RemotingMTLS is the Config.Remoting of a node whose remoting is mutual
// TLS with the cluster CA in caPEM (its PEM file's contents): a digest of
// the CA certificates, the same for every member given the same file, and
// different for another CA. It is not a secret.
func RemotingMTLS(caPEM []byte) string {
	var ders [][]byte
	for rest := caPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			ders = append(ders, b.Bytes)
		}
	}
	slices.SortFunc(ders, func(a, b []byte) int { return strings.Compare(string(a), string(b)) })
	h := sha256.New()
	for _, d := range ders {
		h.Write(d)
	}
	return "mtls:" + hex.EncodeToString(h.Sum(nil))[:32]
}

// describeRemoting names a Config.Remoting value for error messages.
func describeRemoting(r string) string {
	if r == "" {
		return "plaintext (no --cluster-ca)"
	}
	return "mutual TLS with cluster CA " + strings.TrimPrefix(r, "mtls:")
}

// ignored is a registration of the cluster's service that is not a member.
type ignored struct {
	id, instance, httpAddr, addr string
	// pending: it has our checks but no member key; a member that is
	// joining is in this state for a moment.
	pending bool
	reason  string
}

// key identifies an ignored registration for "log once".
func (i ignored) key() string {
	return i.id + "\x00" + i.instance + "\x00" + i.addr + "\x00" + i.httpAddr
}

// heldRecords decodes the member keys in pairs that a live session holds.
func heldRecords(prefix string, pairs api.KVPairs) map[string]memberRecord {
	out := make(map[string]memberRecord, len(pairs))
	for _, p := range pairs {
		if p == nil || p.Session == "" || len(p.Value) > maxRecordBytes || !strings.HasPrefix(p.Key, prefix) {
			continue
		}
		var r memberRecord
		if json.Unmarshal(p.Value, &r) != nil || r.Instance == "" {
			continue
		}
		out[strings.TrimPrefix(p.Key, prefix)] = r
	}
	return out
}

// hasOurChecks reports whether e carries the lease and health checks that
// Join registers for its service id.
func hasOurChecks(e *api.ServiceEntry, cluster string) bool {
	prefix := "granary:" + cluster + ":" + e.Service.ID
	var lease, health bool
	for _, c := range e.Checks {
		if c == nil || c.ServiceID != e.Service.ID {
			continue
		}
		lease = lease || c.CheckID == prefix+":lease"
		health = health || c.CheckID == prefix+":health"
	}
	return lease && health
}

// rosterOf is the pure core of every view and of Discover: the members
// among entries (the passing registrations of the cluster's service) and
// pairs (the keys under memberKeyPrefix), sorted by ID, and the
// registrations that are not members, with the reason.
func rosterOf(cluster string, entries []*api.ServiceEntry, pairs api.KVPairs) (members []Member, out []ignored) {
	records := heldRecords(memberKeyPrefix(cluster), pairs)
	for _, e := range entries {
		if e == nil || e.Service == nil {
			continue
		}
		s := e.Service
		ig := ignored{id: s.ID, instance: s.Meta[metaInstance], httpAddr: s.Meta[metaHTTPAddr], addr: fmt.Sprintf("%s:%d", s.Address, s.Port)}
		rec, held := records[s.ID]
		switch {
		case !hasOurChecks(e, cluster):
			ig.reason = "registered without granary's lease and health checks"
		case !held || rec.Instance != ig.instance:
			ig.pending, ig.reason = true, "holds no member key under a live session"
		default:
			members = append(members, Member{ID: s.ID, Addr: rec.Addr, HTTPAddr: rec.HTTPAddr,
				Kinds: parseKinds(strings.Join(rec.Kinds, kindSeparator)), Version: rec.Version, Remoting: rec.Remoting, Draining: rec.Draining})
			continue
		}
		out = append(out, ig)
	}
	// Two registrations can match one key only if they carry the same
	// instance id; the member is the key's either way.
	slices.SortFunc(members, func(a, b Member) int { return cmp.Compare(a.ID, b.ID) })
	members = slices.CompactFunc(members, func(a, b Member) bool { return a.ID == b.ID })
	return members, out
}

// pendingGrace is how long a registration with our checks may go without
// a member key before it is logged: a member that is joining acquires its
// key within a second of its checks passing, and one whose session just
// died is reaped with its registration.
const pendingGrace = 10 * time.Second

// rosterState holds the latest answers of the two watchers and what was
// logged about registrations that are not members.
type rosterState struct {
	mu          sync.Mutex
	entries     []*api.ServiceEntry
	pairs       api.KVPairs
	haveEntries bool
	havePairs   bool
	firstSeen   map[string]time.Time // pending registrations, when first seen
	warned      map[string]bool      // ignored registrations already logged
}

func newRosterState() *rosterState {
	return &rosterState{firstSeen: map[string]time.Time{}, warned: map[string]bool{}}
}

func (r *rosterState) setEntries(e []*api.ServiceEntry) {
	r.mu.Lock()
	r.entries, r.haveEntries = e, true
	r.mu.Unlock()
}

func (r *rosterState) setPairs(p api.KVPairs) {
	r.mu.Lock()
	r.pairs, r.havePairs = p, true
	r.mu.Unlock()
}

// members is rosterOf over the latest answers; ok is false until both
// watchers have answered once.
func (r *rosterState) members(cluster string, now time.Time) ([]Member, []ignored, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.haveEntries || !r.havePairs {
		return nil, nil, false
	}
	members, out := rosterOf(cluster, r.entries, r.pairs)
	seen := make(map[string]bool, len(out))
	for _, ig := range out {
		if ig.pending {
			seen[ig.key()] = true
			if _, ok := r.firstSeen[ig.key()]; !ok {
				r.firstSeen[ig.key()] = now
			}
		}
	}
	for k := range r.firstSeen {
		if !seen[k] {
			delete(r.firstSeen, k)
		}
	}
	return members, out, true
}

// toWarn returns the ignored registrations to log now: each once while it
// stays registered, a pending one only after pendingGrace.
func (r *rosterState) toWarn(out []ignored, now time.Time) []ignored {
	r.mu.Lock()
	defer r.mu.Unlock()
	var warn []ignored
	current := make(map[string]bool, len(out))
	for _, ig := range out {
		k := ig.key()
		current[k] = true
		if r.warned[k] {
			continue
		}
		if first, ok := r.firstSeen[k]; ig.pending && (!ok || now.Sub(first) < pendingGrace) {
			continue
		}
		r.warned[k] = true
		warn = append(warn, ig)
	}
	for k := range r.warned {
		if !current[k] {
			delete(r.warned, k)
		}
	}
	return warn
}
