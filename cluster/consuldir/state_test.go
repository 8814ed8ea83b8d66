package consuldir_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/consuldir"
	"github.com/granary-rt/granary/cluster/grains/statetest"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testutil"
)

// TestStateConformance: grain state on Consul KV, each write fenced by
// the member's claim (a session check in the same transaction).
func TestStateConformance(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	c := agent.Client()
	var n atomic.Int64
	statetest.Run(t, func(t *testing.T) statetest.Store {
		sess := session(t, c)
		dir := consuldir.New(c, fmt.Sprintf("state%d", n.Add(1)), func() string { return sess })
		return statetest.Store{
			StateStore: dir,
			Claim: func(t *testing.T, kind, identity string) {
				if h, err := dir.Claim(testutil.Context(t, 10*time.Second), kind, identity, "m1"); err != nil || h != "m1" {
					t.Fatalf("claim %s/%s: holder %q, %v", kind, identity, h, err)
				}
			},
			Lose: func(t *testing.T, kind, identity string) {
				// The member's session ends (Consul declared it dead): its
				// claims go with it (behaviour delete).
				if _, err := c.Session().Destroy(sess, nil); err != nil {
					t.Fatal(err)
				}
			},
		}
	})
}
