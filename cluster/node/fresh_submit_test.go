package node_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/internal/testcluster"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testutil"
)

// TestFreshSubmitIsOneConsulRoundTrip: through the Go client, a submit of a
// short task whose id the client made costs the cluster one Consul
// transaction (the write of the finished task, whose check-not-exists
// guards the id); one whose id the caller gave costs two (the existence
// check first). The client does not route, so about half the submits
// reach the member that does not own them and cross to the owner over
// remoting, the hint with them. Counted by the members'
// granary_consul_requests_total, so the background traffic (lease
// renewals, watches) is not in it; the margin absorbs a stray transaction.
func TestFreshSubmitIsOneConsulRoundTrip(t *testing.T) {
	const n = 20
	agent := testconsul.Start(t, testconsul.Options{})
	nodes := testcluster.Start(t, agent.HTTPAddr(), appKinds(t), 2, nil)
	c, err := client.New(client.Config{Addr: nodes[0].HTTPAddr()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testutil.Context(t, time.Minute)
	txns := func() float64 {
		sum := 0.0
		for _, nd := range nodes {
			_, mfs := scrape(t, nd.HTTPAddr(), "")
			v, _ := value(mfs, "granary_consul_requests_total", map[string]string{"endpoint": "/v1/txn"})
			sum += v
		}
		return sum
	}
	submitAll := func(id func(i int) string) float64 {
		t.Helper()
		before := txns()
		for i := range n {
			st, err := c.Submit(ctx, api.SubmitRequest{ID: id(i), Kind: "resize", Payload: json.RawMessage(`{"tiles":1}`)})
			if err != nil {
				t.Fatal(err)
			}
			if st.State != api.StateCompleted {
				t.Fatalf("submit answered %s; want the short task stored completed", st.State)
			}
		}
		return (txns() - before) / n
	}
	// A round first: the kind's first tasks and the store's first writes
	// (counter shards, the hour's index) are not what is measured.
	submitAll(func(i int) string { return fmt.Sprintf("warm-%d", i) })
	fresh := submitAll(func(int) string { return "" })
	given := submitAll(func(i int) string { return fmt.Sprintf("given-%d", i) })
	t.Logf("Consul transactions per submit: %.2f with an id the client made, %.2f with the caller's", fresh, given)
	if fresh > 1.2 {
		t.Errorf("%.2f Consul transactions per submit with an id the client made; want 1 (the write)", fresh)
	}
	if given < 1.8 {
		t.Errorf("%.2f Consul transactions per submit with the caller's id; want 2 (the existence check, the write)", given)
	}
}
