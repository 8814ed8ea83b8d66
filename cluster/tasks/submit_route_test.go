package tasks

import (
	"fmt"
	"testing"

	"github.com/granary-rt/granary/cluster/api"
)

func TestRouteSubmit(t *testing.T) {
	cases := []struct {
		owner         string
		fenced, peers bool
		want          submitRoute
	}{
		{owner: "n1", peers: true, want: submitOwned},
		{owner: "n1", want: submitOwned},
		{owner: "n1", fenced: true, peers: true, want: submitPending},
		{owner: "n2", peers: true, want: submitHandOff},
		{owner: "n2", fenced: true, peers: true, want: submitHandOff},
		{owner: "n2", want: submitPending},
	}
	for _, c := range cases {
		if got := routeSubmit(c.owner, "n1", c.fenced, c.peers); got != c.want {
			t.Errorf("owner %s fenced %v peers %v: route %d, want %d", c.owner, c.fenced, c.peers, got, c.want)
		}
	}
}

func TestHandOffFinal(t *testing.T) {
	for _, c := range []struct {
		err   error
		final bool
	}{
		{nil, true},
		{fmt.Errorf("%w: other payload", api.ErrAlreadyExists), true},
		{fmt.Errorf("%w: unknown kind", api.ErrInvalidArgument), true},
		{fmt.Errorf("%w: n2 is fenced", api.ErrUnavailable), false},
		{ErrOwnerUnreachable, false},
		{fmt.Errorf("%w: not the owner", api.ErrFailedPrecondition), false},
	} {
		if got := handOffFinal(c.err); got != c.final {
			t.Errorf("%v: final %v, want %v", c.err, got, c.final)
		}
	}
}
