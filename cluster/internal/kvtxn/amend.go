package kvtxn

import (
	"context"
	"fmt"

	"github.com/hashicorp/consul/api"
)

// Amender adds one operation to the transactions a Batcher sends, made
// from the tags of the units in each (DoTagged): the consul task store
// adds the check-and-set of a counter shard holding the sum of the
// units' count changes, so that a transaction of forty task writes
// writes one counter, not forty, and the counts commit with the tasks.
type Amender interface {
	// Amend returns the operation to append to a transaction of units
	// tagged tags (nil for a unit sent with Do), or nil to add none, and a
	// function told the transaction's outcome, called exactly once when
	// op is not nil. An error fails the units of the transaction (they
	// are not sent).
	Amend(ctx context.Context, tags []any) (op *api.KVTxnOp, done func(AmendOutcome), err error)
}

// AmendOutcome is what became of a transaction with an added operation.
type AmendOutcome struct {
	// Committed: the transaction committed; Entry is what the added
	// operation returned (nil for operations that return none).
	Committed bool
	Entry     *api.KVPair
	// Refused: Consul refused the added operation (the transaction is
	// sent again, amended anew, unless units of it were refused too).
	Refused bool
	// Err: Consul could not be reached; the transaction may have committed.
	Err error
}

// amendRetries bounds how often in a row a transaction is sent again
// because Consul refused only its added operation.
const amendRetries = 8

// DoTagged is Do for a unit whose tag the batcher's Amender reads.
func (b *Batcher) DoTagged(ctx context.Context, ops api.KVTxnOps, tag any) Result {
	return b.do(ctx, ops, tag)
}

// amend asks the Amender (if any) for the operation to add to ops, sent
// for batch. It returns ops as they are to be sent, the outcome function
// (nil: nothing added), and an error that fails the batch.
func (b *Batcher) amend(batch []*unit, ops api.KVTxnOps) (api.KVTxnOps, func(AmendOutcome), error) {
	if b.amender == nil {
		return ops, nil, nil
	}
	tags := make([]any, len(batch))
	for i, u := range batch {
		tags[i] = u.tag
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	op, done, err := b.amender.Amend(ctx, tags)
	if err != nil {
		return nil, nil, fmt.Errorf("kvtxn: amending a transaction: %w", err)
	}
	if op == nil {
		return ops, nil, nil
	}
	return append(ops, op), done, nil
}

// amendedEntry is the entry of the added operation in a committed
// transaction's results: the last, if the operation returns one.
func amendedEntry(ops api.KVTxnOps, resp *api.KVTxnResponse) *api.KVPair {
	if !returnsEntry(ops[len(ops)-1].Verb) || len(resp.Results) == 0 {
		return nil
	}
	return resp.Results[len(resp.Results)-1]
}

// refusedAt reports whether resp refuses the operation at index at.
func refusedAt(resp *api.KVTxnResponse, at int) bool {
	for _, e := range resp.Errors {
		if e != nil && e.OpIndex == at {
			return true
		}
	}
	return false
}
