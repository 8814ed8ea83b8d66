package shop

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
)

// taskCtx is a TaskContext for running handlers without a node.
type taskCtx struct {
	context.Context
	actors.MemoryCheckpoints
	id       string
	attempt  int
	progress float64
}

func (c *taskCtx) TaskID() string               { return c.id }
func (c *taskCtx) Kind() string                 { return "test" }
func (c *taskCtx) Attempt() int                 { return c.attempt }
func (c *taskCtx) Heartbeat()                   {}
func (c *taskCtx) Progress(f float64, _ string) { c.progress = f }
func (c *taskCtx) Logger() *slog.Logger         { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
func newTaskCtx(id string, attempt int) *taskCtx {
	return &taskCtx{Context: context.Background(), id: id, attempt: attempt}
}

func TestChargeRetriesHiccupsAndRefusesBadCards(t *testing.T) {
	for i := range 50 {
		id := "order-" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
		var out ChargeOut
		var err error
		attempt := 1
		for ; attempt <= Charge.Settings().MaxAttempts; attempt++ {
			if out, err = runCharge(newTaskCtx(id, attempt), ChargeIn{Order: id, Card: "4242 4242 4242 4242", AmountCents: 100}); err == nil {
				break
			}
			if !errors.Is(err, ErrGatewayTimeout) || actors.IsPermanent(err) {
				t.Fatalf("%s attempt %d: %v; want a transient gateway time-out", id, attempt, err)
			}
		}
		if err != nil || attempt > 3 || out.Payment != "pay-"+keyOf(id) {
			t.Fatalf("%s: %+v, %v after %d attempts; want charged within 3 with a payment id from the task id", id, out, err, attempt)
		}
	}
	_, err := runCharge(newTaskCtx("t", 1), ChargeIn{Order: "o", Card: "4242424242424241", AmountCents: 1})
	if !actors.IsPermanent(err) || !strings.Contains(err.Error(), "****4241 declined") {
		t.Fatalf("invalid card: %v; want a permanent decline", err)
	}
}

func TestShipStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(3*shipReportEvery, cancel)
	tc := &taskCtx{Context: ctx, id: "ship-1", attempt: 1}
	start := time.Now()
	_, err := runShip(tc, ShipIn{Order: "o", Items: []Item{{SKU: "apple", Qty: 30}}, Address: "here"})
	if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second || tc.progress == 0 {
		t.Fatalf("ship cancelled after %s: %v, progress %.2f; want it to stop at once with ctx.Err() after reporting progress", time.Since(start), err, tc.progress)
	}
}

func TestValidation(t *testing.T) {
	for _, c := range []struct {
		kind    *actors.TaskKind
		payload string
		want    string
	}{
		{Reserve, `{"order":"o","items":[]}`, "at least one item"},
		{Reserve, `{"order":"o","items":[{"sku":"durian","qty":1}]}`, `no product "durian"`},
		{Reserve, `{"order":"o","items":[{"sku":"apple","qty":1},{"sku":"apple","qty":2}]}`, "appears twice"},
		{Ship, `{"order":"o","items":[{"sku":"apple","qty":61}],"address":"x"}`, "at most 60 units"},
		{Ship, `{"order":"o","items":[{"sku":"apple","qty":1}]}`, "address is required"},
		{Charge, `{"order":"o","card":"4242424242424242","amount_cents":0}`, "must be positive"},
		{Charge, `{"order":"o","card":"4242424242424242","amount":1}`, `unknown field "amount"`},
	} {
		if err := c.kind.Validate([]byte(c.payload)); !errors.Is(err, actors.ErrInvalidPayload) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %s: %v; want refused saying %q", c.kind.Name(), c.payload, err, c.want)
		}
	}
}

func TestCheckoutStages(t *testing.T) {
	co, err := NewCheckout("order-7", []Item{{SKU: "apple", Qty: 2}, {SKU: "fig", Qty: 1}}, "4242424242424242", "here")
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"reserve", "charge", "ship"} {
		s := co.Stages[i]
		if s.Kind != want || s.ID != "order-7-"+want || s.JobID != "order-7" || s.JobStage != i || s.JobStrategy != CheckoutStrategy {
			t.Errorf("stage %d: %+v", i, s)
		}
		k := map[string]*actors.TaskKind{"reserve": Reserve, "charge": Charge, "ship": Ship}[want]
		if err := k.Validate(s.Payload); err != nil {
			t.Errorf("stage %d's payload is refused by its kind: %v", i, err)
		}
	}
	if !strings.Contains(string(co.Stages[1].Payload), `"amount_cents":220`) {
		t.Errorf("charge payload %s; want 2 apple + 1 fig = 220 cents", co.Stages[1].Payload)
	}
}
