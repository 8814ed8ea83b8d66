package shop

import (
	"fmt"
	"strings"
	"time"

	"github.com/granary-rt/granary/actors"
)

// PackTimePerUnit is how long packing one unit takes: long enough that a
// node can be killed while an order is being packed.
const PackTimePerUnit = time.Second

// shipReportEvery is how often ship reports progress, which is also its
// heartbeat.
const shipReportEvery = 200 * time.Millisecond

// ShipIn is the payload of ship.
type ShipIn struct {
	Order   string `json:"order"`
	Items   []Item `json:"items"`
	Address string `json:"address"`
}

// Validate is ship's submit-time check.
func (in ShipIn) Validate() error {
	switch {
	case in.Order == "":
		return fmt.Errorf("order is required")
	case strings.TrimSpace(in.Address) == "":
		return fmt.Errorf("address is required")
	}
	return checkItems(in.Items)
}

// ShipOut is ship's result.
type ShipOut struct {
	Tracking string `json:"tracking"`
	Units    int    `json:"units"`
	// Attempt is the attempt that shipped: more than 1 after a rerun.
	Attempt int `json:"attempt"`
}

// Ship packs an order, PackTimePerUnit per unit, reporting progress as it
// goes, then hands it to the carrier. An attempt cut off half-way (its
// node died, or it was cancelled) starts packing again from the beginning
// on its next attempt: the parcel is only labelled at the end, and the
// tracking number is derived from the task id, so the carrier sees one
// parcel however many attempts it took.
var Ship = actors.MustTask("ship", runShip,
	actors.WithCheck(ShipIn.Validate),
	// MaxUnits of packing is a minute: twice that is a stuck attempt.
	actors.WithAttemptTimeout(2*MaxUnits*PackTimePerUnit),
	// 5s is 25 missed reports: only a wedged attempt misses that many.
	actors.WithHeartbeatTimeout(5*time.Second),
)

func runShip(ctx actors.TaskContext, in ShipIn) (ShipOut, error) {
	units := Units(in.Items)
	total := time.Duration(units) * PackTimePerUnit
	start := time.Now()
	done := time.NewTimer(total)
	defer done.Stop()
	report := time.NewTicker(shipReportEvery)
	defer report.Stop()
	ctx.Logger().Info("packing", "order", in.Order, "units", units)
	for {
		select {
		case <-done.C:
			out := ShipOut{Tracking: "TRK-" + strings.ToUpper(keyOf(ctx.TaskID())), Units: units, Attempt: ctx.Attempt()}
			ctx.Logger().Info("shipped", "order", in.Order, "tracking", out.Tracking, "address", in.Address)
			return out, nil
		case <-report.C:
			packed := min(int(time.Since(start)/PackTimePerUnit), units)
			ctx.Progress(min(float64(time.Since(start))/float64(total), 1), fmt.Sprintf("packed %d of %d units", packed, units))
		case <-ctx.Done():
			// Stop promptly: the attempt timed out, was cancelled, or this
			// node lost the task. Nothing was handed over yet.
			return ShipOut{}, ctx.Err()
		}
	}
}
