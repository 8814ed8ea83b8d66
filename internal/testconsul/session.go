package testconsul

import (
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// sessionWait is how long Session retries: an agent that has just become
// ready may not have registered its own node yet, and Consul refuses a
// session on a node it does not know ("Missing node registration") until
// its anti-entropy sync, within a second or two.
const sessionWait = 10 * time.Second

// Session creates a session on c the way a member's is made for claims
// (behaviour delete: its keys go with it), with a 1 ms lock-delay so a
// test can claim again at once after destroying it, and a 10 s TTL that
// nothing renews: a test that needs it longer renews it itself. It
// retries for up to sessionWait, then fails t with the last error.
func Session(t testing.TB, c *api.Client) string {
	t.Helper()
	deadline := time.Now().Add(sessionWait)
	for {
		id, _, err := c.Session().Create(&api.SessionEntry{Behavior: api.SessionBehaviorDelete, LockDelay: time.Millisecond, TTL: "10s"}, nil)
		if err == nil {
			return id
		}
		if time.Now().After(deadline) {
			t.Fatalf("testconsul: creating a session for %v: %v", sessionWait, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
