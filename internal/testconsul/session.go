package testconsul

import (
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// Session creates a session on c the way a member's is made for claims
// (behaviour delete: its keys go with it), with a 1 ms lock-delay so a
// test can claim again at once after destroying it, and a 10 s TTL that
// nothing renews: a test that needs it longer renews it itself.
func Session(t testing.TB, c *api.Client) string {
	t.Helper()
	id, _, err := c.Session().Create(&api.SessionEntry{Behavior: api.SessionBehaviorDelete, LockDelay: time.Millisecond, TTL: "10s"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
