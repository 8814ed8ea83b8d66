package app

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/cluster/membership"
	"github.com/granary-rt/granary/internal/netproxy"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testnode"
	"github.com/granary-rt/granary/internal/testutil"
	consulapi "github.com/hashicorp/consul/api"
)

type who struct {
	Member     string `json:"member"`
	Activation string `json:"activation"`
}

func whoami(ctx context.Context, c *client.Client, id string) (who, error) {
	r, err := c.CallRaw(ctx, "whoami", id, nil)
	if err != nil {
		return who{}, err
	}
	var w who
	if err := json.Unmarshal(r.Result, &w); err != nil {
		return who{}, err
	}
	if w.Member != r.Member || w.Activation != r.ActivationID {
		return who{}, fmt.Errorf("reply %s does not match %s/%s", r.Result, r.Member, r.ActivationID)
	}
	return w, nil
}

// startCluster starts a Consul agent and n granary nodes, and waits until
// every node sees all of them.
func startCluster(t *testing.T, n int, consulAddr string, extra map[int][]string) []*testnode.Node {
	t.Helper()
	var nodes []*testnode.Node
	for i := 0; i < n; i++ {
		nodes = append(nodes, testnode.ClusterNode(t, "it", consulAddr, fmt.Sprintf("n%d", i+1), extra[i]...))
	}
	waitMembers(t, nodes, n)
	return nodes
}

// partitionableCluster starts Consul and three nodes, the third reaching
// Consul through a proxy the test can sever.
func partitionableCluster(t *testing.T) (n1, n2, cut *testnode.Node, proxy *netproxy.Proxy) {
	t.Helper()
	agent := testconsul.Start(t, testconsul.Options{})
	proxy, err := netproxy.New("127.0.0.1:0", agent.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Close() })
	n1 = testnode.ClusterNode(t, "it", agent.HTTPAddr(), "n1")
	n2 = testnode.ClusterNode(t, "it", agent.HTTPAddr(), "n2")
	cut = testnode.ClusterNode(t, "it", proxy.Addr(), "n3")
	waitMembers(t, []*testnode.Node{n1, n2, cut}, 3)
	return n1, n2, cut, proxy
}

// identitiesOn calls whoami through c for identities prefix0, prefix1, …
// until want of them are activated on member, and returns those.
func identitiesOn(t *testing.T, ctx context.Context, c *client.Client, member, prefix string, want int) []string {
	t.Helper()
	var on []string
	for i := 0; len(on) < want && i < 500; i++ {
		id := fmt.Sprintf("%s%d", prefix, i)
		w, err := whoami(ctx, c, id)
		if err != nil {
			t.Fatal(err)
		}
		if w.Member == member {
			on = append(on, id)
		}
	}
	if len(on) < want {
		t.Fatalf("only %d identities landed on %s", len(on), member)
	}
	return on
}

func waitMembers(t *testing.T, nodes []*testnode.Node, want int) {
	t.Helper()
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		for _, nd := range nodes {
			ms, err := nd.Client().Members(context.Background())
			if err != nil || len(ms) != want {
				return false, fmt.Sprintf("%s sees %d members (%v), want %d", nd.ID, len(ms), err, want)
			}
		}
		return true, ""
	})
}

// TestClusterFailover: three nodes; identities spread over them; kill -9 of
// one: every identity it hosted answers again from a survivor (new
// activation), within the failover target; the others keep their
// activations; the killed node restarts, rejoins and takes new activations.
func TestClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Consul and granary processes")
	}
	agent := testconsul.Start(t, testconsul.Options{})
	nodes := startCluster(t, 3, agent.HTTPAddr(), nil)
	ctx := testutil.Context(t, 3*time.Minute)
	const ids = 90
	before := map[string]who{}
	byMember := map[string]int{}
	for i := 0; i < ids; i++ {
		id := fmt.Sprintf("id-%d", i)
		w, err := whoami(ctx, nodes[i%3].Client(), id)
		if err != nil {
			t.Fatal(err)
		}
		before[id] = w
		byMember[w.Member]++
	}
	if len(byMember) != 3 {
		t.Fatalf("identities on %v; want all three members", byMember)
	}
	victim := nodes[2]
	killed := time.Now()
	victim.Kill()
	survivor := nodes[0].Client()
	var mu sync.Mutex
	var worst time.Duration
	var wg sync.WaitGroup
	for id, b := range before {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := whoami(ctx, survivor, id)
			if err != nil {
				t.Errorf("%s: %v", id, err)
				return
			}
			took := time.Since(killed)
			switch {
			case b.Member == victim.ID:
				if w.Member == victim.ID {
					t.Errorf("%s answered from the killed member", id)
				}
				mu.Lock()
				worst = max(worst, took)
				mu.Unlock()
			case w.Activation != b.Activation:
				t.Errorf("%s moved from %+v to %+v although its member lives", id, b, w)
			}
		}()
	}
	wg.Wait()
	t.Logf("kill -9 to every identity of the killed member answering from a survivor: %s (%d identities)", worst, byMember[victim.ID])
	if worst > 10*time.Second {
		t.Errorf("failover took %s", worst)
	}
	waitMembers(t, nodes[:2], 2)

	victim.Start()
	waitMembers(t, nodes, 3)
	fresh := map[string]int{}
	for i := 0; i < 60; i++ {
		w, err := whoami(ctx, survivor, fmt.Sprintf("fresh-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		fresh[w.Member]++
	}
	if fresh[victim.ID] == 0 {
		t.Fatalf("new activations %v; the restarted member took none", fresh)
	}
}

// TestPartitionedNodeFences cuts one node off from Consul: it fences itself
// and refuses its identities, the others take them over, and no identity is
// ever answered by two activations at once. Restored, it rejoins.
func TestPartitionedNodeFences(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Consul and granary processes")
	}
	n1, n2, cut, proxy := partitionableCluster(t)
	nodes := []*testnode.Node{n1, n2, cut}
	ctx := testutil.Context(t, 3*time.Minute)
	mine := identitiesOn(t, ctx, n1.Client(), cut.ID, "p-", 10)

	proxy.Sever()
	// Watch every identity from both sides until each answers from a
	// survivor. At no moment may the cut-off node and a survivor both answer
	// for the same identity with different activations after the survivor
	// took over.
	direct, err := client.New(client.Config{Addr: cut.HTTP, RetryFor: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	taken := map[string]who{}
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		for _, id := range mine {
			if _, ok := taken[id]; ok {
				continue
			}
			short, cancel := context.WithTimeout(ctx, 2*time.Second)
			w, err := whoami(short, n1.Client(), id)
			cancel()
			if err == nil && w.Member != cut.ID {
				taken[id] = w
			}
		}
		for id, w := range taken {
			short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			old, err := whoami(short, direct, id)
			cancel()
			if err == nil && old.Member == cut.ID {
				t.Errorf("%s answered from the cut-off node (%s) after %s took it over (%s)", id, old.Activation, w.Member, w.Activation)
			}
		}
		return len(taken) == len(mine), fmt.Sprintf("%d of %d identities taken over", len(taken), len(mine))
	})
	if len(cut.LogEntries(0, "self-fenced: lease or session with Consul lost; stopping every grain and task")) == 0 {
		t.Error("the cut-off node did not log that it fenced itself")
	}
	proxy.Restore()
	waitMembers(t, nodes, 3)
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		w, err := whoami(ctx, direct, "after-restore")
		return err == nil, fmt.Sprintf("the restored node does not serve calls: %+v %v", w, err)
	})
}

// TestConsulRestartDuringTraffic restarts a disk-backed Consul server under
// load: no node exits, calls keep working once Consul is back, and the
// membership recovers by itself.
func TestConsulRestartDuringTraffic(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Consul and granary processes")
	}
	agent := testconsul.Start(t, testconsul.Options{Mode: testconsul.Server})
	nodes := startCluster(t, 3, agent.HTTPAddr(), nil)
	ctx := testutil.Context(t, 3*time.Minute)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var calls, failures int
	var mu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			short, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := whoami(short, nodes[i%3].Client(), fmt.Sprintf("r-%d", i%50))
			cancel()
			mu.Lock()
			calls++
			if err != nil {
				failures++
			}
			mu.Unlock()
		}
	}()
	agent.Restart(t)
	waitMembers(t, nodes, 3)
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		for i := 0; i < 30; i++ {
			if _, err := whoami(ctx, nodes[i%3].Client(), fmt.Sprintf("after-%d", i)); err != nil {
				return false, err.Error()
			}
		}
		return true, ""
	})
	close(stop)
	wg.Wait()
	for _, nd := range nodes {
		if _, err := nd.Client().Health(ctx); err != nil {
			t.Errorf("%s is down after the Consul restart: %v", nd.ID, err)
		}
	}
	t.Logf("%d calls during the restart, %d failed while Consul was away", calls, failures)
}

// TestRolesHostOnlyTheirKinds: a node hosting only whoami never receives a
// counter activation, and the other way round.
func TestRolesHostOnlyTheirKinds(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Consul and granary processes")
	}
	agent := testconsul.Start(t, testconsul.Options{})
	nodes := startCluster(t, 2, agent.HTTPAddr(), map[int][]string{0: {"--kinds", "whoami"}, 1: {"--kinds", "counter"}})
	ctx := testutil.Context(t, time.Minute)
	for i := 0; i < 20; i++ {
		r, err := nodes[0].Client().CallRaw(ctx, "counter", fmt.Sprintf("k%d", i), []byte(`{"op":"get"}`))
		if err != nil || r.Member != "n2" {
			t.Fatalf("counter call: %+v, %v; want it on n2", r, err)
		}
		w, err := whoami(ctx, nodes[1].Client(), fmt.Sprintf("k%d", i))
		if err != nil || w.Member != "n1" {
			t.Fatalf("whoami call: %+v, %v; want it on n1", w, err)
		}
	}
	ms, err := nodes[0].Client().Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].ID < ms[j].ID })
	if len(ms) != 2 || strings.Join(ms[0].Kinds, ",") != "whoami" || strings.Join(ms[1].Kinds, ",") != "counter" {
		t.Fatalf("members %+v", ms)
	}
}

type leaderReply struct {
	Member     string `json:"member"`
	Activation string `json:"activation"`
}

func leaderVia(ctx context.Context, c *client.Client) (leaderReply, error) {
	r, err := c.CallRaw(ctx, "leader", "x", nil)
	if err != nil {
		return leaderReply{}, err
	}
	var l leaderReply
	err = json.Unmarshal(r.Result, &l)
	return l, err
}

// TestSingletonTakeover kills the holder of the leader singleton: a standby
// takes over by itself, and at no time do two members answer as leader.
func TestSingletonTakeover(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Consul and granary processes")
	}
	agent := testconsul.Start(t, testconsul.Options{})
	nodes := startCluster(t, 3, agent.HTTPAddr(), nil)
	ctx := testutil.Context(t, 2*time.Minute)
	var first leaderReply
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		seen := map[leaderReply]bool{}
		for _, nd := range nodes {
			l, err := leaderVia(ctx, nd.Client())
			if err != nil {
				return false, err.Error()
			}
			seen[l] = true
			first = l
		}
		return len(seen) == 1, fmt.Sprintf("members name %d different leaders", len(seen))
	})
	var holder *testnode.Node
	var rest []*testnode.Node
	for _, nd := range nodes {
		if nd.ID == first.Member {
			holder = nd
		} else {
			rest = append(rest, nd)
		}
	}
	killed := time.Now()
	holder.Kill()
	// A standby activates the singleton by itself: watch the survivors'
	// activation counts, without calling the grain.
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		total := 0
		for _, nd := range rest {
			h, err := nd.Client().Health(ctx)
			if err != nil {
				return false, err.Error()
			}
			total += h.Activations
		}
		return total == 1, fmt.Sprintf("%d activations on the survivors, want the leader's", total)
	})
	var second leaderReply
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		short, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		l, err := leaderVia(short, rest[0].Client())
		if err != nil || l.Member == first.Member {
			return false, fmt.Sprintf("leader %+v, %v", l, err)
		}
		second = l
		return true, ""
	})
	t.Logf("singleton takeover after kill -9 of the holder: %s", time.Since(killed).Round(time.Millisecond))
	for _, nd := range rest {
		l, err := leaderVia(ctx, nd.Client())
		if err != nil || l != second {
			t.Fatalf("%s names leader %+v (%v), %s names %+v: two leaders", nd.ID, l, err, rest[0].ID, second)
		}
	}
}

// TestClientDiscoversThroughConsul: a Go client given only the cluster name
// finds a node through Consul, and moves to another when that node dies.
func TestClientDiscoversThroughConsul(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Consul and granary processes")
	}
	agent := testconsul.Start(t, testconsul.Options{})
	nodes := startCluster(t, 2, agent.HTTPAddr(), nil)
	cc := consulapi.DefaultConfig()
	cc.Address = agent.HTTPAddr()
	consul, err := consulapi.NewClient(cc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{Discover: membership.DiscoverHTTP(consul, "it")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testutil.Context(t, time.Minute)
	if _, err := whoami(ctx, c, "d1"); err != nil {
		t.Fatal(err)
	}
	using := c.Addr()
	for _, nd := range nodes {
		if "http://"+nd.HTTP == using {
			nd.Kill()
		}
	}
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		_, err := whoami(ctx, c, "d2")
		return err == nil && c.Addr() != using, fmt.Sprintf("client at %s: %v", c.Addr(), err)
	})
}
