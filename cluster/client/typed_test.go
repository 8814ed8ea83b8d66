package client_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/cluster/node"
	"github.com/granary-rt/granary/internal/testutil"
)

// TestTypedSubmitAndPayloadAndRetry: a typed submit decodes its result; the
// status carries the payload (full on a read, elided with its size in a
// listing when large); a cancelled task is sent round again through the
// API, counted, and a dry run by kind counts without retrying.
func TestTypedSubmitAndPayloadAndRetry(t *testing.T) {
	c, _ := start(t)
	ctx := testutil.Context(t, 30*time.Second)
	task, err := client.SubmitTyped[sleepIn, int](ctx, c, api.SubmitRequest{Kind: "sleep"}, sleepIn{MS: 1})
	if err != nil {
		t.Fatal(err)
	}
	n, st, err := task.Wait(ctx)
	if err != nil || n != 1 || st.State != api.StateCompleted {
		t.Fatalf("typed wait: %d, %+v, %v", n, st, err)
	}
	if got, err := c.Get(ctx, task.ID()); err != nil || string(got.Payload) != `{"ms":1}` || got.PayloadBytes != 8 {
		t.Fatalf("status payload %s (%d bytes), %v", got.Payload, got.PayloadBytes, err)
	}

	// A large payload: whole on a read, elided in a listing.
	big := fmt.Sprintf(`{"ms":600000,"pad":%q}`, strings.Repeat("p", 2*api.ListResultBytes))
	long, err := c.Submit(ctx, api.SubmitRequest{ID: "long", Kind: "echo", Payload: []byte(big)})
	if err != nil || string(long.Payload) != big {
		t.Fatalf("submit answered payload of %d bytes, %v", len(long.Payload), err)
	}
	page, err := c.ListPage(ctx, client.ListOptions{Kind: "echo"})
	if err != nil || len(page.Tasks) != 1 || !page.Tasks[0].PayloadElided || page.Tasks[0].PayloadBytes != len(big) || page.Tasks[0].Payload != nil {
		t.Fatalf("listing: %+v, %v", page, err)
	}

	// A cancelled task, sent round again.
	sleeper, err := c.Submit(ctx, api.SubmitRequest{ID: "sleeper", Kind: "sleep", Payload: []byte(`{"ms":600000}`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Cancel(ctx, sleeper.ID); err != nil {
		t.Fatal(err)
	}
	_, st, err = client.WaitTyped[int](ctx, c, sleeper.ID)
	if !errors.Is(err, client.ErrTaskNotCompleted) || st.State != api.StateCancelled {
		t.Fatalf("WaitTyped of a cancelled task: %+v, %v", st, err)
	}
	dry, err := c.RetryMany(ctx, api.RetryManyRequest{Kind: "sleep", DryRun: true})
	if err != nil || dry.Count != 1 || dry.IDs[0] != "sleeper" {
		t.Fatalf("dry run: %+v, %v", dry, err)
	}
	if st, err := c.Get(ctx, "sleeper"); err != nil || st.State != api.StateCancelled {
		t.Fatalf("a dry run changed the task: %+v, %v", st, err)
	}
	again, err := c.Retry(ctx, "sleeper", "by the test")
	if err != nil || again.Retries != 1 || again.RetriedAt == nil || again.Terminal() {
		t.Fatalf("retry: %+v, %v", again, err)
	}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		st, err := c.Get(ctx, "sleeper")
		return err == nil && st.State == api.StateRunning && st.Attempts == 2, fmt.Sprintf("%+v, %v", st, err)
	})
	if _, err := c.Retry(ctx, "sleeper", ""); !errors.Is(err, api.ErrFailedPrecondition) {
		t.Fatalf("retry of a running task: %v, want ErrFailedPrecondition", err)
	}
}

// ExampleSubmitTyped submits a typed task and waits for its typed result:
// nothing is marshalled by hand.
func ExampleSubmitTyped() {
	type sumIn struct{ Numbers []int }
	type sumOut struct{ Total int }
	reg := actors.NewRegistry()
	if err := reg.RegisterTask(actors.MustTask("sum", func(_ actors.TaskContext, in sumIn) (sumOut, error) {
		var out sumOut
		for _, n := range in.Numbers {
			out.Total += n
		}
		return out, nil
	})); err != nil {
		panic(err)
	}
	dir, _ := os.MkdirTemp("", "granary-example-")
	defer os.RemoveAll(dir)
	cfg := node.DefaultConfig()
	cfg.Registry, cfg.DataDir, cfg.HTTPAddr = reg, dir, "127.0.0.1:0"
	n, err := node.New(cfg)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := n.Start(ctx); err != nil {
		panic(err)
	}
	defer n.Stop(ctx)

	task, err := client.SubmitTyped[sumIn, sumOut](ctx, n.Client(), api.SubmitRequest{Kind: "sum"}, sumIn{Numbers: []int{1, 2, 3}})
	if err != nil {
		panic(err)
	}
	out, st, err := task.Wait(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(st.State, out.Total)
	// Output: completed 6
}
