package shop

import (
	"fmt"
	"time"

	"github.com/granary-rt/granary/actors"
)

// ReserveIn is the payload of reserve.
type ReserveIn struct {
	Order string `json:"order"`
	Items []Item `json:"items"`
}

// Validate is reserve's submit-time check.
func (in ReserveIn) Validate() error {
	if in.Order == "" {
		return fmt.Errorf("order is required")
	}
	return checkItems(in.Items)
}

// ReserveOut is reserve's result.
type ReserveOut struct {
	Reservation string `json:"reservation"`
	Items       []Item `json:"items"`
}

// Reserve puts an order's items aside. More than the warehouse holds fails
// the task for good (a retry would not make more fruit). The reservation id
// is derived from the task id, so a rerun asks the inventory for the same
// reservation instead of taking the stock twice.
var Reserve = actors.MustTask("reserve", runReserve,
	actors.WithCheck(ReserveIn.Validate),
	// An inventory lookup answers in milliseconds; 30s is a stuck call.
	actors.WithAttemptTimeout(30*time.Second),
)

func runReserve(ctx actors.TaskContext, in ReserveIn) (ReserveOut, error) {
	for _, it := range in.Items {
		if stock := catalog[it.SKU].stock; it.Qty > stock {
			return ReserveOut{}, actors.Permanentf("out of stock: order %s wants %d %s, the warehouse holds %d", in.Order, it.Qty, it.SKU, stock)
		}
	}
	res := ReserveOut{Reservation: "res-" + keyOf(ctx.TaskID()), Items: in.Items}
	ctx.Logger().Info("reserved", "order", in.Order, "reservation", res.Reservation, "items", FormatItems(in.Items))
	return res, nil
}
