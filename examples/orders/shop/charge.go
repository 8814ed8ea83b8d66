package shop

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/granary-rt/granary/actors"
)

// ChargeIn is the payload of charge.
type ChargeIn struct {
	Order       string `json:"order"`
	Card        string `json:"card"`
	AmountCents int64  `json:"amount_cents"`
}

// Validate is charge's submit-time check: the shape of the request. Whether
// the card is good is the gateway's answer, at run time.
func (in ChargeIn) Validate() error {
	switch {
	case in.Order == "":
		return fmt.Errorf("order is required")
	case in.Card == "":
		return fmt.Errorf("card is required")
	case in.AmountCents <= 0:
		return fmt.Errorf("amount_cents must be positive, got %d", in.AmountCents)
	}
	return nil
}

// ChargeOut is charge's result.
type ChargeOut struct {
	Payment     string `json:"payment"`
	AmountCents int64  `json:"amount_cents"`
	Card        string `json:"card"`
	// Attempt is the attempt that got through: more than 1 when the
	// gateway timed out before.
	Attempt int `json:"attempt"`
}

// ErrGatewayTimeout is the simulated gateway's transient failure: the
// task retries it.
var ErrGatewayTimeout = errors.New("payment gateway timed out")

// Charge takes an order's payment. The simulated gateway declines a card
// number that fails the Luhn check: that fails the task for good, without
// retrying. It also times out now and then, which the task retries (five
// attempts, backoff from 100ms). The payment id is derived from the task
// id and sent as the gateway's idempotency key, so a rerun never charges
// twice.
var Charge = actors.MustTask("charge", runCharge,
	actors.WithCheck(ChargeIn.Validate),
	// A payment gateway answers within seconds; 30s is a stuck call.
	actors.WithAttemptTimeout(30*time.Second),
)

func runCharge(ctx actors.TaskContext, in ChargeIn) (ChargeOut, error) {
	card := strings.ReplaceAll(in.Card, " ", "")
	if !validCard(card) {
		return ChargeOut{}, actors.Permanentf("card %s declined: invalid card number", mask(card))
	}
	if GatewayHiccup(ctx.TaskID(), ctx.Attempt()) {
		return ChargeOut{}, fmt.Errorf("charging order %s: %w", in.Order, ErrGatewayTimeout)
	}
	out := ChargeOut{Payment: "pay-" + keyOf(ctx.TaskID()), AmountCents: in.AmountCents, Card: mask(card), Attempt: ctx.Attempt()}
	ctx.Logger().Info("charged", "order", in.Order, "payment", out.Payment, "amount", FormatCents(in.AmountCents))
	return out, nil
}

// GatewayHiccup is the simulated gateway's time-out: it hits about half
// of the first and second attempts, chosen by a hash of the task id and
// the attempt, and never a third. So a charge with a good card always gets
// through within its five attempts, and the same task id meets the same
// time-outs on every run, which keeps tests stable.
func GatewayHiccup(taskID string, attempt int) bool {
	return attempt <= 2 && hash64(fmt.Sprintf("%s#%d", taskID, attempt))%2 == 0
}

// validCard is the Luhn check over 12 to 19 digits.
func validCard(n string) bool {
	if len(n) < 12 || len(n) > 19 {
		return false
	}
	sum := 0
	for i := 0; i < len(n); i++ {
		c := n[len(n)-1-i]
		if c < '0' || c > '9' {
			return false
		}
		d := int(c - '0')
		if i%2 == 1 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

// mask keeps the last four characters of a card number.
func mask(card string) string {
	if len(card) <= 4 {
		return "****"
	}
	return "****" + card[len(card)-4:]
}
