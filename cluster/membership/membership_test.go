package membership

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/granary-rt/granary/internal/netproxy"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testutil"
)

func TestThreeMembersJoinAndLeave(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	nodes := joinNodes(t, agent, "n1", "n2", "n3")
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]

	for _, n := range nodes {
		if _, ok := n.m.View().Member(n.id); !ok {
			t.Errorf("%s does not see itself right after Join: %v", n.id, n.m.View().IDs())
		}
		if n.m.Fenced() || n.m.Session() == "" {
			t.Errorf("%s after Join: fenced %v, session %q", n.id, n.m.Fenced(), n.m.Session())
		}
	}
	testutil.Eventually(t, settle, allSeeExactly(nodes, "n1", "n2", "n3"))

	// What a member looks like from another node.
	got, ok := n1.m.View().Member("n2")
	if !ok {
		t.Fatal("n2 missing from n1's view")
	}
	want := Member{ID: "n2", Addr: n2.m.cfg.Addr, HTTPAddr: n2.health.addr, Kinds: []string{"counter", "whoami"}, Version: "app v1.2.3 (n2)"}
	if !memberEqual(got, want) {
		t.Errorf("n1 sees n2 as %+v, want %+v", got, want)
	}

	// The session is tied to the agent and both checks, releases its locks
	// and uses the short lock-delay.
	info, _, err := agent.Client().Session().Info(n1.m.Session(), nil)
	if err != nil || info == nil {
		t.Fatalf("session info: %v, %v", info, err)
	}
	if info.Behavior != api.SessionBehaviorRelease || info.LockDelay != time.Second {
		t.Errorf("session behaviour %q lock-delay %v, want release and 1s", info.Behavior, info.LockDelay)
	}
	if !slices.Equal(info.NodeChecks, []string{"serfHealth"}) || len(info.ServiceChecks) != 2 {
		t.Errorf("session checks: node %v service %v", info.NodeChecks, info.ServiceChecks)
	}

	// A subscriber gets the current view at once.
	ch, cancel := n1.m.Watch()
	defer cancel()
	select {
	case v := <-ch:
		if len(v.Members) != 3 || v.Version == 0 {
			t.Errorf("first view from Watch: %+v", v)
		}
	case <-time.After(settle):
		t.Fatal("Watch delivered no current view")
	}

	// A graceful leave drops the member at once, destroys its session, and
	// is idempotent.
	n3Watch, _ := n3.m.Watch()
	session := n3.m.Session()
	began := time.Now()
	if err := n3.m.Leave(testutil.Context(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := n3.m.Leave(testutil.Context(t, 10*time.Second)); err != nil {
		t.Fatalf("second Leave: %v", err)
	}
	testutil.Eventually(t, settle, allSeeExactly([]*testNode{n1, n2}, "n1", "n2"))
	t.Logf("after Leave, the others dropped n3 within %v", time.Since(began).Round(time.Millisecond))
	testutil.Eventually(t, settle, sessionGone(agent, session))
	if !n3.m.Fenced() || n3.m.Session() != "" {
		t.Errorf("after Leave: fenced %v, session %q", n3.m.Fenced(), n3.m.Session())
	}
	for range n3Watch {
		// Drain: Leave closes every Watch channel, so this loop ends.
	}
	if fenced, _, _ := n3.fences(time.Time{}); fenced != 0 {
		t.Errorf("Leave called OnFence %d times; a graceful leave is not a fence", fenced)
	}
	for _, n := range []*testNode{n1, n2} {
		if err := n.m.Leave(testutil.Context(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	assertNoGoroutines(t)
	services, _, err := agent.Client().Health().Service(servicePrefix+testCluster, "", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range services {
		t.Errorf("%s is still registered after Leave", s.Service.ID)
	}
}

// TestFakeDeadMemberDropsOut: a node whose process lives but whose health
// endpoint fails (a wedged actor system) leaves every view and fences
// itself, because Consul invalidates its session; it comes back by itself
// when the endpoint recovers.
func TestFakeDeadMemberDropsOut(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	nodes := joinNodes(t, agent, "n1", "n2", "n3")
	n1, n2 := nodes[0], nodes[1]
	testutil.Eventually(t, settle, allSeeExactly(nodes, "n1", "n2", "n3"))
	views := recordViews(t, n1)
	oldSession := n2.m.Session()

	began := time.Now()
	n2.health.SetStatus(http.StatusInternalServerError)
	dropped := waitFor(t, views, began, settle, "n1 drops the fake-dead n2", without("n2"))
	testutil.Eventually(t, settle, allSeeExactly([]*testNode{n1, nodes[2]}, "n1", "n3"))
	testutil.Eventually(t, settle, func() (bool, string) { return n2.m.Fenced(), "n2 not fenced" })
	_, _, fencedAt := n2.fences(began)
	testutil.Eventually(t, settle, sessionGone(agent, oldSession))
	t.Logf("/healthz 500 -> dropped from n1's view after %v; n2 fenced after %v",
		dropped.Sub(began).Round(time.Millisecond), fencedAt.Sub(began).Round(time.Millisecond))
	// Its lease is renewed all along: the HTTP check alone took it out.
	if age := n2.lastRenewAge(); age > n2.m.cfg.FenceAfter {
		t.Errorf("n2's last renewal is %v old; the lease should still be renewed", age)
	}

	recovered := time.Now()
	n2.health.SetStatus(http.StatusOK)
	back := waitFor(t, views, recovered, settle, "n1 sees n2 again", with("n2"))
	testutil.Eventually(t, settle, allSeeExactly(nodes, "n1", "n2", "n3"))
	testutil.Eventually(t, settle, healthyWithSession(t, agent, n2))
	if s := n2.m.Session(); s == oldSession {
		t.Errorf("n2 kept its invalidated session %s", s)
	}
	fenced, unfenced, _ := n2.fences(time.Time{})
	if fenced != 1 || unfenced != 1 {
		t.Errorf("OnFence %d times, OnUnfence %d times, want 1 and 1", fenced, unfenced)
	}
	t.Logf("/healthz 200 -> back in n1's view after %v", back.Sub(recovered).Round(time.Millisecond))
}

// TestSeveredMemberFencesBeforeOthersDropIt cuts one node off from Consul
// (its lease can no longer be renewed) and checks the order of events the
// design depends on: the node fences itself before the others drop it,
// Consul invalidates its session and releases its locks, and after the
// partition heals it rejoins with a new session. Three rounds, timed.
func TestSeveredMemberFencesBeforeOthersDropIt(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	n1 := joinNode(t, agent, "n1", nodeOptions{})
	n2 := joinNode(t, agent, "n2", nodeOptions{})
	cut := joinNode(t, agent, "cut", nodeOptions{viaProxy: true})
	all := []*testNode{n1, n2, cut}
	testutil.Eventually(t, settle, allSeeExactly(all, "n1", "n2", "cut"))
	views := recordViews(t, n1)
	kv := agent.Client().KV()

	for round := 1; round <= 3; round++ {
		session := cut.m.Session()
		lock := &api.KVPair{Key: "membership-test/lock", Value: []byte("cut"), Session: session}
		// From the second round on, the previous session's lock-delay (1s)
		// may still block the key, even for the same node's new session.
		testutil.Eventually(t, settle, func() (bool, string) {
			acquired, _, err := kv.Acquire(lock, nil)
			if err != nil {
				return false, err.Error()
			}
			return acquired, "lock not acquired (lock-delay)"
		})

		renewAge := cut.lastRenewAge()
		severed := time.Now()
		cut.proxy.Sever()
		dropped := waitFor(t, views, severed, settle, "n1 drops the severed node", without("cut"))
		testutil.Eventually(t, settle, func() (bool, string) { return cut.m.Fenced(), "cut not fenced" })
		_, _, fencedAt := cut.fences(severed)
		if fencedAt.IsZero() {
			t.Fatalf("round %d: OnFence was not called", round)
		}
		if !fencedAt.Before(dropped) {
			t.Errorf("round %d: fenced at +%v, but n1 dropped it already at +%v",
				round, fencedAt.Sub(severed), dropped.Sub(severed))
		}
		if cut.m.Session() != "" {
			t.Errorf("round %d: fenced node still reports session %q", round, cut.m.Session())
		}
		testutil.Eventually(t, settle, sessionGone(agent, session))
		testutil.Eventually(t, settle, func() (bool, string) {
			pair, _, err := kv.Get(lock.Key, nil)
			if err != nil || pair == nil {
				return false, "lock key missing"
			}
			return pair.Session == "", "lock still held by " + pair.Session
		})
		testutil.Eventually(t, settle, allSeeExactly([]*testNode{n1, n2}, "n1", "n2"))

		restored := time.Now()
		cut.proxy.Restore()
		back := waitFor(t, views, restored, settle, "n1 sees the healed node again", with("cut"))
		testutil.Eventually(t, settle, healthyWithSession(t, agent, cut))
		if cut.m.Session() == session {
			t.Errorf("round %d: the node kept its old session after unfencing", round)
		}
		testutil.Eventually(t, settle, allSeeExactly(all, "n1", "n2", "cut"))
		_, unfenced, _ := cut.fences(time.Time{})
		if unfenced != round {
			t.Errorf("round %d: OnUnfence called %d times", round, unfenced)
		}
		t.Logf("round %d: last renewal %v before sever; sever -> fenced %v, -> dropped from n1's view %v (margin %v); restore -> back in view %v",
			round, renewAge.Round(time.Millisecond), fencedAt.Sub(severed).Round(time.Millisecond),
			dropped.Sub(severed).Round(time.Millisecond), dropped.Sub(fencedAt).Round(time.Millisecond),
			back.Sub(restored).Round(time.Millisecond))
	}
}

// TestKilledMemberDropsOut simulates kill -9: the node's health endpoint
// refuses connections and its lease stops, both at once. Consul's HTTP
// check notices the refused connection at its next run, usually before the
// TTL lapses.
func TestKilledMemberDropsOut(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	n1 := joinNode(t, agent, "n1", nodeOptions{})
	victim := joinNode(t, agent, "victim", nodeOptions{viaProxy: true})
	testutil.Eventually(t, settle, allSeeExactly([]*testNode{n1, victim}, "n1", "victim"))
	views := recordViews(t, n1)

	for round := 1; round <= 3; round++ {
		killed := time.Now()
		victim.proxy.Sever()
		victim.health.Down()
		dropped := waitFor(t, views, killed, settle, "n1 drops the killed node", without("victim"))
		t.Logf("round %d: kill -> dropped from n1's view after %v", round, dropped.Sub(killed).Round(time.Millisecond))

		victim.health.Up()
		victim.proxy.Restore()
		testutil.Eventually(t, settle, allSeeExactly([]*testNode{n1, victim}, "n1", "victim"))
		testutil.Eventually(t, settle, healthyWithSession(t, agent, victim))
	}
}

// TestConsulServerRestart restarts a disk-backed Consul server under the
// members: nothing panics, and membership recovers by itself.
func TestConsulServerRestart(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{Mode: testconsul.Server})
	nodes := joinNodes(t, agent, "n1", "n2", "n3")
	testutil.Eventually(t, settle, allSeeExactly(nodes, "n1", "n2", "n3"))
	sessions := map[string]string{}
	for _, n := range nodes {
		sessions[n.id] = n.m.Session()
	}

	began := time.Now()
	agent.Restart(t)
	restarted := time.Now()
	testutil.Eventually(t, 60*time.Second, allSeeExactly(nodes, "n1", "n2", "n3"))
	testutil.Eventually(t, 60*time.Second, healthyWithSession(t, agent, nodes...))
	for _, n := range nodes {
		fenced, unfenced, _ := n.fences(time.Time{})
		t.Logf("%s: session kept %v, fenced %d / unfenced %d times", n.id, n.m.Session() == sessions[n.id], fenced, unfenced)
	}
	t.Logf("restart took %v; members healthy with sessions %v after the agent was ready",
		restarted.Sub(began).Round(time.Millisecond), time.Since(restarted).Round(time.Millisecond))
}

// TestConsulDevRestart restarts a dev agent, which loses all state: every
// member must notice its registration is gone, register again and get a new
// session, and every view must show all members again.
func TestConsulDevRestart(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	nodes := joinNodes(t, agent, "n1", "n2", "n3")
	testutil.Eventually(t, settle, allSeeExactly(nodes, "n1", "n2", "n3"))

	agent.Restart(t)
	restarted := time.Now()
	testutil.Eventually(t, 60*time.Second, allSeeExactly(nodes, "n1", "n2", "n3"))
	testutil.Eventually(t, 60*time.Second, healthyWithSession(t, agent, nodes...))
	t.Logf("after a dev agent restart (state lost), members registered again and healthy with new sessions in %v",
		time.Since(restarted).Round(time.Millisecond))
	for _, n := range nodes {
		fenced, unfenced, _ := n.fences(time.Time{})
		if fenced == 0 || fenced != unfenced {
			t.Errorf("%s: OnFence %d times, OnUnfence %d times; losing the session must fence, and recovery unfence", n.id, fenced, unfenced)
		}
	}
}

// TestJoinWaitsForConsul: Join keeps trying while Consul is unreachable and
// succeeds once it answers.
func TestJoinWaitsForConsul(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	p, err := netproxy.New("127.0.0.1:0", agent.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	p.Sever()

	health := startHealth(t)
	cfg := testConfig(t, "late", p.Addr(), health.addr)
	type result struct {
		m   *Membership
		err error
	}
	done := make(chan result, 1)
	began := time.Now()
	go func() {
		m, err := Join(testutil.Context(t, joinTimeout), cfg)
		done <- result{m, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("Join returned while Consul was unreachable: %v", r.err)
	case <-time.After(time.Second):
	}
	p.Restore()
	r := <-done
	if r.err != nil {
		t.Fatalf("Join after Consul came back: %v", r.err)
	}
	t.Cleanup(func() { r.m.Leave(context.Background()) })
	t.Logf("Join returned %v after starting, Consul unreachable for the first second", time.Since(began).Round(time.Millisecond))
	if r.m.Fenced() || r.m.Session() == "" {
		t.Errorf("after Join: fenced %v session %q", r.m.Fenced(), r.m.Session())
	}
}

// TestJoinGivesUp: with Consul unreachable for good, Join returns
// ErrUnavailable when its context ends, and leaves nothing running.
func TestJoinGivesUp(t *testing.T) {
	// A port nobody listens on: connections are refused.
	p, err := netproxy.New("127.0.0.1:0", "127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	p.Sever()
	health := startHealth(t)
	cfg := testConfig(t, "lonely", p.Addr(), health.addr)

	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	m, err := Join(ctx, cfg)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Join = %v, %v; want ErrUnavailable wrapping the deadline", m, err)
	}
	t.Logf("Join error: %v", err)
	assertNoGoroutines(t)
}

// TestJoinUnhealthyNodeGivesUp: Consul answers, but the node's /healthz
// fails, so it never gets a session; Join must give up at its deadline and
// deregister what it registered.
func TestJoinUnhealthyNodeGivesUp(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	health := startHealth(t)
	health.SetStatus(http.StatusServiceUnavailable)
	cfg := testConfig(t, "sick", agent.HTTPAddr(), health.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := Join(ctx, cfg); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Join = %v, want ErrUnavailable", err)
	}
	services, err := agent.Client().Agent().Services()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := services["sick"]; ok {
		t.Error("a failed Join left its service registered")
	}
	assertNoGoroutines(t)
}

func TestJoinRejectsInvalidConfig(t *testing.T) {
	cfg := DefaultConfig()
	if _, err := Join(context.Background(), cfg); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Join with an empty identity = %v, want ErrInvalidConfig", err)
	}
}
