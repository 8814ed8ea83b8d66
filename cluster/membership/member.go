package membership

import (
	"cmp"
	"slices"
	"strings"
)

// HealthPath is the path Consul's HTTP check polls on every member's
// HTTPAddr. The handler behind it should do a real round trip through the
// actor system, so a node whose actors are wedged fails the check while its
// process lives; any 2xx answer counts as healthy.
const HealthPath = "/healthz"

// Names used in Consul.
const (
	servicePrefix = "granary-"
	// metaHTTPAddr and metaKinds are service meta keys (Consul allows
	// letters, digits, '_' and '-').
	metaHTTPAddr = "http_addr"
	metaKinds    = "kinds"
	metaVersion  = "version"
	// kindSeparator joins kinds in the metaKinds value.
	kindSeparator = ","
	// serfHealthCheck is the agent's own liveness check: a session tied to
	// it dies with the machine or the agent, not only with the node.
	serfHealthCheck = "serfHealth"
)

// Member is one healthy node of the cluster: one that holds its member
// key under a live session and whose registration passes every check
// (see rosterOf). Its fields come from its member key.
type Member struct {
	ID       string   // node id
	Addr     string   // node-to-node host:port (granary node --bind)
	HTTPAddr string   // HTTP API host:port
	Kinds    []string // kinds this member hosts, sorted
	Version  string   // what the member is built from (Config.Version); "" from members older than it
	Remoting string   // what its remoting asks of peers (Config.Remoting): "" plaintext, "mtls:..." a cluster CA
	// Draining: the member is leaving gracefully (Membership.Drain). It
	// still owns its work and finishes it; no new work is placed on it.
	Draining bool
}

// MaxVersionBytes bounds Config.Version: Consul keeps service metadata
// values to 512 bytes.
const MaxVersionBytes = 256

// Hosts reports whether m hosts kind.
func (m Member) Hosts(kind string) bool {
	_, found := slices.BinarySearch(m.Kinds, kind)
	return found
}

// View is the set of healthy members at one moment, as Consul reports it:
// members that hold their member key under a live session and whose every
// check (lease TTL, /healthz, the agent's serfHealth) passes, and whose
// remoting matches this node's.
type View struct {
	// Version grows by one with every change the watcher observes. It is a
	// local counter, not Consul's index, because Consul's index goes back
	// to small numbers when a dev agent restarts.
	Version uint64
	// Members are sorted by ID.
	Members []Member
}

// Member returns the member with the given id.
func (v View) Member(id string) (Member, bool) {
	i, found := slices.BinarySearchFunc(v.Members, id, func(m Member, id string) int { return cmp.Compare(m.ID, id) })
	if !found {
		return Member{}, false
	}
	return v.Members[i], true
}

// IDs lists the members' ids in order.
func (v View) IDs() []string {
	ids := make([]string, len(v.Members))
	for i, m := range v.Members {
		ids[i] = m.ID
	}
	return ids
}

// clone returns a deep copy, so callers can keep or modify what they get.
func (v View) clone() View {
	out := View{Version: v.Version, Members: make([]Member, len(v.Members))}
	for i, m := range v.Members {
		m.Kinds = slices.Clone(m.Kinds)
		out.Members[i] = m
	}
	return out
}

func memberEqual(a, b Member) bool {
	return a.ID == b.ID && a.Addr == b.Addr && a.HTTPAddr == b.HTTPAddr && a.Version == b.Version && a.Remoting == b.Remoting && a.Draining == b.Draining && slices.Equal(a.Kinds, b.Kinds)
}

// parseKinds splits the metaKinds value into sorted kinds.
func parseKinds(v string) []string {
	if v == "" {
		return []string{}
	}
	kinds := strings.Split(v, kindSeparator)
	slices.Sort(kinds)
	return slices.Compact(kinds)
}

// viewDiff names the members that appeared, left, or changed their
// addresses or kinds between two sorted member lists.
func viewDiff(before, after []Member) (joined, left, changed []string) {
	i, j := 0, 0
	for i < len(before) || j < len(after) {
		switch {
		case j == len(after) || (i < len(before) && before[i].ID < after[j].ID):
			left = append(left, before[i].ID)
			i++
		case i == len(before) || after[j].ID < before[i].ID:
			joined = append(joined, after[j].ID)
			j++
		default:
			if !memberEqual(before[i], after[j]) {
				changed = append(changed, after[j].ID)
			}
			i++
			j++
		}
	}
	return joined, left, changed
}
