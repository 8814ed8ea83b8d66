package consuldir_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/consuldir"
	"github.com/granary-rt/granary/cluster/grains"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testutil"
)

// The directory is what the grain host wants of one.
var (
	_ grains.Directory = (*consuldir.Directory)(nil)
	_ grains.Watcher   = (*consuldir.Directory)(nil)
)

func TestOneHolderPerIdentity(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	c := agent.Client()
	ctx := testutil.Context(t, 30*time.Second)
	const members = 5
	sessions := make([]string, members)
	dirs := make([]*consuldir.Directory, members)
	names := []string{"m0", "m1", "m2", "m3", "m4"}
	for i := range dirs {
		s := testconsul.Session(t, c)
		sessions[i] = s
		dirs[i] = consuldir.New(c, "test", func() string { return s })
	}
	var wg sync.WaitGroup
	holders := make([]string, members)
	for i := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := dirs[i].Claim(ctx, "counter", "alice/x", names[i])
			if err != nil {
				t.Errorf("Claim by %s: %v", names[i], err)
			}
			holders[i] = h
		}()
	}
	wg.Wait()
	for _, h := range holders {
		if h != holders[0] || h == "" {
			t.Fatalf("claims saw holders %v; want one holder for all", holders)
		}
	}
	// Claiming again is idempotent for the holder.
	winner := -1
	for i, n := range names {
		if n == holders[0] {
			winner = i
		}
	}
	if h, err := dirs[winner].Claim(ctx, "counter", "alice/x", names[winner]); err != nil || h != names[winner] {
		t.Fatalf("holder re-claims: %s, %v", h, err)
	}
	// The holder's session ends (the member died): the key goes with it and
	// another member claims the identity.
	if _, err := c.Session().Destroy(sessions[winner], nil); err != nil {
		t.Fatal(err)
	}
	other := (winner + 1) % members
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		h, err := dirs[other].Claim(ctx, "counter", "alice/x", names[other])
		return err == nil && h == names[other], "claim after the holder's session ended: " + h
	})
	// Release deletes the key only for its holder.
	if err := dirs[winner].Release(ctx, "counter", "alice/x", names[winner]); err != nil {
		t.Fatal(err)
	}
	if h, _ := dirs[(other+1)%members].Claim(ctx, "counter", "alice/x", "x"); h != names[other] {
		t.Fatalf("a stale release freed the key: holder now %s", h)
	}
	if err := dirs[other].Release(ctx, "counter", "alice/x", names[other]); err != nil {
		t.Fatal(err)
	}
	if pair, _, _ := c.KV().Get(dirs[0].Key("counter", "alice/x"), nil); pair != nil {
		t.Fatalf("released key still stored: %+v", pair)
	}
}

func TestNoSessionNoClaim(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	d := consuldir.New(agent.Client(), "test", func() string { return "" })
	if _, err := d.Claim(context.Background(), "k", "i", "m"); !errors.Is(err, consuldir.ErrNoSession) {
		t.Fatalf("Claim without a session: %v, want ErrNoSession", err)
	}
}
