package shop

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/granary-rt/granary/cluster/api"
)

// CheckoutStrategy is the checkout job's supervision strategy.
//
// rest_for_one, because checkout is a pipeline: each stage needs the one
// before it (charge what was reserved, ship what was paid for). When a
// stage fails for good, the stages after it must stop (never ship an
// unpaid order), and the stages before it must stand: a committed
// reservation is still good, and redoing it would reserve twice.
// one_for_one would let a later stage run on after an earlier one failed;
// one_for_all would also stop unfinished stages that do not depend on the
// failure.
//
// Granary's stages order what a failure stops and restarts, not when a
// task starts: every task of a job starts as soon as it is submitted. So
// a checkout submits a stage only once the stage before it completed (see
// Checkout.Stages); a failed job takes no new task, so a ship can never
// be added to an order whose charge failed.
const CheckoutStrategy = "rest_for_one"

// checkoutRestarts is the job's restart budget: one restart within
// checkoutRestartPeriod. A stage that spent its five attempts on transient
// failures (a gateway down for a minute) gets five more before the order
// fails; a permanent failure (out of stock, a declined card) fails the
// order at once, as no restart can mend it.
const (
	checkoutRestarts      = 1
	checkoutRestartPeriod = 10 * time.Minute
)

// Checkout is one order: a job whose id is the order id, with one task per
// stage.
type Checkout struct {
	Order string
	// Stages are the submit requests of reserve (stage 0), charge (1) and
	// ship (2), in order. Submit each after the one before completed.
	Stages []api.SubmitRequest
}

// NewCheckout plans the job of an order. The task ids are the order id
// and the stage (order-7-charge): submitting a stage again, after a lost
// answer or a restarted client, finds the task instead of charging twice.
func NewCheckout(order string, items []Item, card, address string) (*Checkout, error) {
	if err := checkItems(items); err != nil {
		return nil, err
	}
	payloads := []struct {
		kind    string
		payload any
	}{
		{Reserve.Name(), ReserveIn{Order: order, Items: items}},
		{Charge.Name(), ChargeIn{Order: order, Card: card, AmountCents: Total(items)}},
		{Ship.Name(), ShipIn{Order: order, Items: items, Address: address}},
	}
	co := &Checkout{Order: order}
	for stage, p := range payloads {
		body, err := json.Marshal(p.payload)
		if err != nil {
			return nil, fmt.Errorf("encoding the %s payload: %w", p.kind, err)
		}
		co.Stages = append(co.Stages, api.SubmitRequest{
			ID:               order + "-" + p.kind,
			Kind:             p.kind,
			Payload:          body,
			Labels:           map[string]string{"order": order},
			JobID:            order,
			JobStrategy:      CheckoutStrategy,
			JobStage:         stage,
			JobMaxRestarts:   checkoutRestarts,
			JobRestartPeriod: api.Ptr(api.Duration(checkoutRestartPeriod)),
		})
	}
	return co, nil
}
