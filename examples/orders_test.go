package examples_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testnode"
	"github.com/granary-rt/granary/internal/testutil"
)

// TestOrdersApplication builds examples/orders as its own module (the way
// a team outside this repository builds its Granary application: its own
// go.mod and go.sum, exported packages only) and runs it as a two-node
// cluster on a real Consul agent. It talks to it only through the HTTP API,
// with payloads written by hand, as a client in another language would:
// the application's custom task kinds complete, retry transient failures
// and fail for good on a permanent one; its cart grain keeps state; a
// checkout job runs its three stages to completion; a ship task survives
// kill -9 of the node running it. The binary also refuses an unknown
// --kinds before it starts anything.
func TestOrdersApplication(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the orders application, starts Consul and two nodes")
	}
	agent := testconsul.Start(t, testconsul.Options{}) // fails, saying how to get Consul, without one
	bin := testnode.Build(t, "examples/orders", "orders-test")

	t.Run("unknown kind refused", func(t *testing.T) { testUnknownKindRefused(t, bin, agent) })

	a := testnode.ClusterNodeOf(t, bin, "shop", agent.HTTPAddr(), "shop-a")
	b := testnode.ClusterNodeOf(t, bin, "shop", agent.HTTPAddr(), "shop-b")
	c, err := client.New(client.Config{Addrs: []string{a.HTTP, b.HTTP}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testutil.Context(t, 3*time.Minute)

	t.Run("tasks", func(t *testing.T) { testTasks(t, ctx, c) })
	t.Run("cart grain", func(t *testing.T) { testCart(t, ctx, a.Client(), b.Client()) })
	t.Run("checkout job", func(t *testing.T) {
		checkout(t, ctx, c, "order-1", nil)
		job, err := c.Job(ctx, "order-1")
		if err != nil {
			t.Fatal(err)
		}
		if job.State != api.StateCompleted || job.Strategy != "rest_for_one" || job.Counts[api.StateCompleted] != 3 {
			t.Fatalf("job order-1 is %s (%s) with %v; want completed (rest_for_one) with 3 completed tasks", job.State, job.Strategy, job.Counts)
		}
	})
	t.Run("declined checkout fails the job", func(t *testing.T) { testDeclinedCheckout(t, ctx, c) })
	t.Run("ship survives kill -9 of its node", func(t *testing.T) {
		nodes := map[string]*testnode.Node{a.ID: a, b.ID: b}
		// Carts on both nodes: the ones on the node killed below must keep
		// their items (durable grain state), read from the survivor.
		carts := map[string]string{}
		for i := range 8 {
			id := fmt.Sprintf("k%d", i)
			reply, err := c.CallRaw(ctx, "cart", id, []byte(`{"op":"add","sku":"pear","qty":2}`))
			if err != nil {
				t.Fatal(err)
			}
			carts[id] = reply.Member
		}
		defer func() {
			for id, member := range carts {
				var v cartView
				reply, err := c.CallRaw(ctx, "cart", id, []byte(`{"op":"list"}`))
				if err == nil {
					err = json.Unmarshal(reply.Result, &v)
				}
				if err != nil || fmt.Sprint(v.Items) != "[{pear 2}]" {
					t.Errorf("cart %s (was on %s) after the kill: %+v, %v; want its 2 pears", id, member, v, err)
				}
			}
		}()
		var victimID string
		checkout(t, ctx, c, "order-3", func(ship *api.Status) {
			victim := nodes[ship.Owner]
			victimID = victim.ID
			delete(nodes, ship.Owner)
			// Wait until packing has begun, so the kill interrupts real
			// work. Only the owner knows the live progress, and progress is
			// not a stored change that would wake a Watch, so this polls the
			// owner.
			testutil.Eventually(t, 10*time.Second, func() (bool, string) {
				st, err := victim.Client().Get(ctx, ship.ID)
				if err != nil {
					return false, err.Error()
				}
				ship = st
				return st.State == api.StateRunning && st.Progress >= 0.25, fmt.Sprintf("%s is %s on %s, progress %.2f", st.ID, st.State, st.Owner, st.Progress)
			})
			t.Logf("killing %s (pid %d) while it ships: %.0f%% %s", victim.ID, victim.PID(), ship.Progress*100, ship.ProgressNote)
			victim.Kill()
		})
		var survivor *testnode.Node
		for _, n := range nodes {
			survivor = n
		}
		st, err := survivor.Client().Get(ctx, "order-3-ship")
		if err != nil {
			t.Fatal(err)
		}
		if st.Owner != survivor.ID || st.Attempts != 2 || len(st.Errors) != 1 || st.Errors[0].Cause != "member_lost" || st.Errors[0].Member != victimID {
			t.Fatalf("order-3-ship ended on %s after %d attempts with errors %+v; want it rerun on %s after its first attempt was lost with its member",
				st.Owner, st.Attempts, st.Errors, survivor.ID)
		}
		if commits := finishedLogs(survivor, "order-3-ship"); commits != 1 {
			t.Fatalf("%s logged %d commits of order-3-ship, want exactly 1", survivor.ID, commits)
		}
		job, err := survivor.Client().Job(ctx, "order-3")
		if err != nil || job.State != api.StateCompleted {
			t.Fatalf("job order-3 after the failover: %+v, %v; want completed", job, err)
		}
	})
}

// testUnknownKindRefused: `orders node --kinds nosuchkind` is a usage error
// (exit 2) naming the kind and the application's kinds, and the node never
// registered with Consul.
func testUnknownKindRefused(t *testing.T, bin string, agent *testconsul.Agent) {
	ctx := testutil.Context(t, 30*time.Second)
	cmd := exec.CommandContext(ctx, bin, "node", "--cluster", "refused", "--consul", agent.HTTPAddr(),
		"--bind", testnode.FreeAddr(t), "--http", testnode.FreeAddr(t), "--kinds", "reserve,nosuchkind")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("orders node --kinds nosuchkind: %v, want exit code 2\n%s", err, out)
	}
	for _, want := range []string{`"nosuchkind"`, "cart", "charge", "reserve", "ship"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the refusal does not say %q:\n%s", want, out)
		}
	}
	services, _, err := agent.Client().Catalog().Services(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := services["granary-refused"]; ok {
		t.Errorf("the refused node registered in Consul: services %v", services)
	}
}

// testTasks submits the application's task kinds one by one.
func testTasks(t *testing.T, ctx context.Context, c *client.Client) {
	reserve := submitWait(t, ctx, c, "reserve-1", "reserve", `{"order":"o-1","items":[{"sku":"apple","qty":2}]}`)
	if reserve.State != api.StateCompleted || !strings.Contains(string(reserve.Result), `"reservation":"res-`) {
		t.Errorf("reserve: %s %s %s; want completed with a reservation", reserve.State, reserve.Result, reserve.Error)
	}
	out := submitWait(t, ctx, c, "reserve-2", "reserve", `{"order":"o-2","items":[{"sku":"kiwi","qty":9}]}`)
	if out.State != api.StateFailed || out.Attempts != 1 || !strings.Contains(out.Error, "out of stock") {
		t.Errorf("reserving more than the stock: %s after %d attempts (%s); want failed at once, out of stock", out.State, out.Attempts, out.Error)
	}

	// The simulated gateway times out on the attempts gatewayHiccup names:
	// a charge retries them and completes.
	retried := 0
	for i := range 6 {
		id := fmt.Sprintf("charge-%d", i)
		st := submitWait(t, ctx, c, id, "charge", `{"order":"o-1","card":"4242 4242 4242 4242","amount_cents":100}`)
		want := 1
		for want <= 2 && gatewayHiccup(id, want) {
			want++
		}
		if st.State != api.StateCompleted || st.Attempts != want || len(st.Errors) != want-1 {
			t.Errorf("%s: %s after %d attempts with %d errors (%s); want completed after %d", id, st.State, st.Attempts, len(st.Errors), st.Error, want)
		}
		for _, e := range st.Errors {
			if !strings.Contains(e.Message, "payment gateway timed out") {
				t.Errorf("%s: attempt %d failed with %q; want the gateway's time-out", id, e.Attempt, e.Message)
			}
		}
		if want > 1 {
			retried++
		}
	}
	if retried == 0 {
		t.Error("no charge met a gateway time-out: the retries were not exercised")
	}

	// An invalid card is a permanent error: failed at once, with its cause.
	declined := submitWait(t, ctx, c, "charge-bad", "charge", `{"order":"o-1","card":"4242424242424241","amount_cents":100}`)
	if declined.State != api.StateFailed || declined.Attempts != 1 || !strings.Contains(declined.Error, "card ****4241 declined: invalid card number") {
		t.Errorf("a charge on an invalid card: %s after %d attempts (%s); want failed after 1 with the decline as its cause", declined.State, declined.Attempts, declined.Error)
	}

	// A payload the kind refuses is not stored.
	_, err := c.Submit(ctx, api.SubmitRequest{ID: "ship-bad", Kind: "ship", Payload: json.RawMessage(`{"order":"o-1","items":[{"sku":"durian","qty":1}],"address":"here"}`)})
	if !errors.Is(err, api.ErrInvalidArgument) || !strings.Contains(err.Error(), `no product "durian"`) {
		t.Errorf("submitting a ship of an unknown product: %v; want invalid argument naming it", err)
	}
	if _, err := c.Get(ctx, "ship-bad"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("the refused task was stored: %v", err)
	}
}

// gatewayHiccup is the rule documented on shop.GatewayHiccup, which this
// module cannot import: about half of first and second attempts time out,
// picked by FNV-1a of "task#attempt", and never a third.
func gatewayHiccup(taskID string, attempt int) bool {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s#%d", taskID, attempt)
	return attempt <= 2 && h.Sum64()%2 == 0
}

type cartView struct {
	Cart  string `json:"cart"`
	Items []struct {
		SKU string `json:"sku"`
		Qty int    `json:"qty"`
	} `json:"items"`
	TotalCents int64  `json:"total_cents"`
	Member     string `json:"member"`
}

// testCart calls one cart through both nodes: one activation holds its
// state wherever the call comes in.
func testCart(t *testing.T, ctx context.Context, viaA, viaB *client.Client) {
	call := func(c *client.Client, req string) (cartView, error) {
		var v cartView
		reply, err := c.CallRaw(ctx, "cart", "alice", []byte(req))
		if err == nil {
			err = json.Unmarshal(reply.Result, &v)
		}
		return v, err
	}
	for _, req := range []string{`{"op":"add","sku":"apple","qty":2}`, `{"op":"add","sku":"pear","qty":1}`} {
		if _, err := call(viaA, req); err != nil {
			t.Fatalf("cart %s: %v", req, err)
		}
	}
	v, err := call(viaB, `{"op":"add","sku":"apple","qty":1}`)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(v.Items); got != "[{apple 3} {pear 1}]" || v.TotalCents != 220 || v.Cart != "alice" {
		t.Fatalf("cart after adds through both nodes: %+v; want 3 apple and 1 pear, $2.20", v)
	}
	if _, err := call(viaB, `{"op":"add","sku":"durian","qty":1}`); !errors.Is(err, api.ErrHandler) || !strings.Contains(err.Error(), `no product "durian"`) {
		t.Fatalf("adding an unknown product: %v; want the grain's error", err)
	}
	if _, err := call(viaA, `{"op":"add","sku":"apple","qty":1,"colour":"red"}`); !errors.Is(err, api.ErrInvalidArgument) {
		t.Fatalf("a request with an unknown field: %v; want invalid argument", err)
	}
	if v, err = call(viaA, `{"op":"clear"}`); err != nil || len(v.Items) != 0 {
		t.Fatalf("cart after clear: %+v, %v; want empty", v, err)
	}
}

// checkout runs an order's three stages as one rest_for_one job, each
// stage submitted once the one before completed, as the shopper does.
// whileShipping, if set, is called once with ship's status when it runs.
func checkout(t *testing.T, ctx context.Context, c *client.Client, order string, whileShipping func(*api.Status)) {
	t.Helper()
	items := `[{"sku":"apple","qty":3},{"sku":"plum","qty":3}]` // 6 units: 6s of packing
	stages := []struct{ kind, payload string }{
		{"reserve", `{"order":"` + order + `","items":` + items + `}`},
		{"charge", `{"order":"` + order + `","card":"4242424242424242","amount_cents":270}`},
		{"ship", `{"order":"` + order + `","items":` + items + `,"address":"1 Orchard Lane"}`},
	}
	for i, s := range stages {
		req := api.SubmitRequest{ID: order + "-" + s.kind, Kind: s.kind, Payload: json.RawMessage(s.payload),
			JobID: order, JobStrategy: "rest_for_one", JobStage: i, JobMaxRestarts: 1, JobRestartPeriod: api.Ptr(api.Duration(10 * time.Minute))}
		st, err := c.Submit(ctx, req)
		if err != nil {
			t.Fatalf("submitting %s: %v", req.ID, err)
		}
		if s.kind == "ship" && whileShipping != nil {
			for st.State != api.StateRunning || st.Owner == "" {
				if st.Terminal() {
					t.Fatalf("%s ended %s before it could be interrupted", st.ID, st.State)
				}
				if st, err = c.Watch(ctx, st.ID, st.Revision, 5*time.Second); err != nil {
					t.Fatal(err)
				}
			}
			whileShipping(st)
		}
		if st, err = c.WaitFrom(ctx, st, nil); err != nil {
			t.Fatalf("waiting for %s: %v", req.ID, err)
		}
		if st.State != api.StateCompleted {
			t.Fatalf("%s ended %s: %s", st.ID, st.State, st.Error)
		}
	}
}

// testDeclinedCheckout: the charge fails for good, which fails the job with
// that cause; the reservation stands and the job takes no ship.
func testDeclinedCheckout(t *testing.T, ctx context.Context, c *client.Client) {
	job := func(i int, kind, payload string) api.SubmitRequest {
		return api.SubmitRequest{ID: "order-2-" + kind, Kind: kind, Payload: json.RawMessage(payload),
			JobID: "order-2", JobStrategy: "rest_for_one", JobStage: i, JobMaxRestarts: 1, JobRestartPeriod: api.Ptr(api.Duration(10 * time.Minute))}
	}
	for i, s := range []api.SubmitRequest{
		job(0, "reserve", `{"order":"order-2","items":[{"sku":"fig","qty":1}]}`),
		job(1, "charge", `{"order":"order-2","card":"1234","amount_cents":120}`),
	} {
		st, err := c.SubmitAndWait(ctx, s, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{api.StateCompleted, api.StateFailed}[i]; st.State != want {
			t.Fatalf("%s ended %s (%s), want %s", st.ID, st.State, st.Error, want)
		}
	}
	j, err := c.Job(ctx, "order-2")
	if err != nil {
		t.Fatal(err)
	}
	if j.State != api.StateFailed || !strings.Contains(j.Error, "order-2-charge") || !strings.Contains(j.Error, "declined: invalid card number") {
		t.Fatalf("job order-2 is %s: %q; want failed, naming the charge and the decline", j.State, j.Error)
	}
	_, err = c.Submit(ctx, job(2, "ship", `{"order":"order-2","items":[{"sku":"fig","qty":1}],"address":"here"}`))
	if !errors.Is(err, api.ErrFailedPrecondition) {
		t.Fatalf("submitting ship to the failed job: %v; want failed precondition", err)
	}
}

// submitWait submits a task and waits for its end.
func submitWait(t *testing.T, ctx context.Context, c *client.Client, id, kind, payload string) *api.Status {
	t.Helper()
	st, err := c.SubmitAndWait(ctx, api.SubmitRequest{ID: id, Kind: kind, Payload: json.RawMessage(payload)}, nil)
	if err != nil {
		t.Fatalf("%s (%s): %v", id, kind, err)
	}
	return st
}

// finishedLogs counts the node's commits of a task.
func finishedLogs(n *testnode.Node, id string) int {
	count := 0
	for _, e := range n.LogEntries(0, "task finished") {
		if e["task"] == id {
			count++
		}
	}
	return count
}
