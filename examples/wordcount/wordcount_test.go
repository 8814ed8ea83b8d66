package wordcount_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/examples/wordcount"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testnode"
	"github.com/granary-rt/granary/internal/testutil"
)

func TestExpectedCountsEveryShard(t *testing.T) {
	in := wordcount.JobIn{Shards: 3, WordsPerShard: 10, Seed: 1}
	got := wordcount.Expected(in)
	sum := 0
	for _, n := range got.Counts {
		sum += n
	}
	if got.Words != 30 || sum != 30 {
		t.Fatalf("%d words, counts summing to %d; want 30 and 30", got.Words, sum)
	}
	if wordcount.ShardText(1, 2, 10) != wordcount.ShardText(1, 2, 10) || wordcount.ShardText(1, 2, 10) == wordcount.ShardText(1, 1, 10) {
		t.Fatal("a shard's text must depend on its seed and number only")
	}
	if err := (wordcount.JobIn{Shards: actors.MaxChildren + 1, WordsPerShard: 1}).Validate(); err == nil {
		t.Fatal("more shards than a parent may have children passed the check")
	}
}

// TestMapReduceSurvivesKillOfParentsMember is issue 21's kill test of
// child tasks: three granary processes on a real Consul; a map-reduce of
// 50 shards, each a child task; once some shards have completed, the
// member running the parent is killed with SIGKILL. A survivor runs the
// parent again: it spawns the same 50 children (found, not started
// again), awaits those left and sums to the right total; there are
// exactly 50 children, each completed with its own shard's count.
func TestMapReduceSurvivesKillOfParentsMember(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts Consul and granary processes")
	}
	agent := testconsul.Start(t, testconsul.Options{})
	var nodes []*testnode.Node
	for i := range 3 {
		nodes = append(nodes, testnode.ClusterNode(t, "wc", agent.HTTPAddr(), fmt.Sprintf("w%d", i+1)))
	}
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		for _, n := range nodes {
			if ms, err := n.Client().Members(context.Background()); err != nil || len(ms) != 3 {
				return false, fmt.Sprintf("%s sees %d members (%v)", n.ID, len(ms), err)
			}
		}
		return true, ""
	})
	ctx := testutil.Context(t, 3*time.Minute)
	in := wordcount.JobIn{Shards: 50, WordsPerShard: 500, Seed: 21, ShardMS: 5000}
	payload, _ := json.Marshal(in)
	const id = "wc-k9"
	if _, err := nodes[0].Client().Submit(ctx, api.SubmitRequest{ID: id, Kind: "wordcount-mapreduce", Payload: payload}); err != nil {
		t.Fatal(err)
	}
	children := client.ListOptions{JobID: actors.ChildJobID(id), Limit: 1000}
	// Mid-way: some shards completed, the parent awaiting the others.
	testutil.Eventually(t, time.Minute, func() (bool, string) {
		page, err := nodes[0].Client().ListPage(ctx, children)
		if err != nil {
			return false, err.Error()
		}
		done := 0
		for _, st := range page.Tasks {
			if st.State == api.StateCompleted {
				done++
			}
		}
		return len(page.Tasks) == 50 && done >= 3 && done < 40, fmt.Sprintf("%d children, %d completed", len(page.Tasks), done)
	})
	parent, err := nodes[0].Client().Get(ctx, id)
	if err != nil || parent.State != api.StateRunning {
		t.Fatalf("parent %+v, %v; want running", parent, err)
	}
	var survivors []string
	for _, n := range nodes {
		if n.ID == parent.Owner {
			n.Kill()
			t.Logf("killed %s, the parent's member, mid-way", n.ID)
		} else {
			survivors = append(survivors, n.HTTP)
		}
	}
	if len(survivors) != 2 {
		t.Fatalf("the parent's owner %q is not a node of the cluster", parent.Owner)
	}
	c, err := client.New(client.Config{Addrs: survivors})
	if err != nil {
		t.Fatal(err)
	}
	final, err := c.Wait(ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got wordcount.Counts
	if err := json.Unmarshal(final.Result, &got); final.State != api.StateCompleted || err != nil {
		t.Fatalf("parent %s (%s), result %s (%v); want completed", final.State, final.Error, final.Result, err)
	}
	want := wordcount.Expected(in)
	if got.Words != want.Words || !maps.Equal(got.Counts, want.Counts) {
		t.Fatalf("parent counted %d words %v; want %d words %v", got.Words, got.Counts, want.Words, want.Counts)
	}
	if final.Attempts < 2 {
		t.Fatalf("parent ran %d attempt(s); the kill should have cost it one", final.Attempts)
	}
	all, err := c.ListAll(ctx, children)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 50 {
		t.Fatalf("%d children; want exactly 50 (a retried parent must find its children, not add new ones)", len(all))
	}
	for _, st := range all {
		var shard int
		if _, err := fmt.Sscanf(st.ID, id+":shard-%d", &shard); err != nil {
			t.Fatalf("child id %q is not %s:shard-<i>", st.ID, id)
		}
		var res wordcount.Counts
		_ = json.Unmarshal(st.Result, &res)
		if st.State != api.StateCompleted || res.Words != in.WordsPerShard || !maps.Equal(res.Counts, wordcount.CountText(wordcount.ShardText(in.Seed, shard, in.WordsPerShard)).Counts) {
			t.Fatalf("child %s: %s (%s), result %s; want completed with its shard's count", st.ID, st.State, st.Error, st.Result)
		}
	}
	t.Logf("parent completed after %d attempts on %s; 50 children, each committed once", final.Attempts, final.Owner)
}
