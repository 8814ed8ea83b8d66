package node

import (
	"slices"

	"github.com/granary-rt/granary/cluster/membership"
	"github.com/granary-rt/granary/cluster/placement"
)

// fenced reports self-fencing; a member that has not joined yet counts as
// fenced: it may not act for the cluster before it is part of it.
func (n *Node) fenced() bool {
	m := n.mem.Load()
	return m == nil || m.Fenced()
}

func (n *Node) session() string {
	if m := n.mem.Load(); m != nil {
		return m.Session()
	}
	return ""
}

func (n *Node) view() membership.View {
	if m := n.mem.Load(); m != nil {
		return m.View()
	}
	return membership.View{}
}

// taskOwner places a new task among the live members hosting its kind; ""
// (none known yet) keeps it with this member.
func (n *Node) taskOwner(kind, id string) string {
	if ms := n.placed.Load(); ms != nil {
		owner, _ := placement.TaskOwner(*ms, kind, id)
		return owner
	}
	return ""
}

// hostedOf keeps the kinds of all that this node hosts; never nil, which
// grains.Config.Kinds would read as "all".
func (n *Node) hostedOf(all []string) []string {
	out := []string{}
	for _, k := range all {
		if slices.Contains(n.hosted, k) {
			out = append(out, k)
		}
	}
	return out
}
