package kvtxn

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/granary-rt/granary/cluster/errs"
)

const (
	// MaxOps is Consul's limit of operations in one transaction.
	MaxOps = 64
	// MaxBytes keeps a transaction well under Consul's 512 KiB request
	// limit (txn_max_req_len).
	MaxBytes = 256 << 10
)

var (
	// ErrClosed: the batcher (or gatherer) was closed.
	ErrClosed = errors.New("kvtxn: closed")
	// ErrShortAnswer: Consul committed a transaction but answered with
	// fewer results than its operations produce.
	ErrShortAnswer = errors.New("kvtxn: transaction answered with too few results")
)

// Config configures a Batcher.
type Config struct {
	// Workers is how many transactions may be in flight at once, so a
	// slow commit does not stall every writer.
	Workers int
	// Timeout bounds one transaction.
	Timeout time.Duration
	// Endpoint, when set, is where transactions go, encoded by the
	// batcher itself (EndpointOf); nil: through consul/api's KV.Txn.
	Endpoint *Endpoint
	// Amender, when set, adds an operation to each transaction (amend.go);
	// a unit then has at most MaxOps-1 operations.
	Amender Amender
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		// 8: Consul's leader appends the transactions waiting together with
		// one fsync, so several in flight cost little; 8 did better than 4
		// and 16 in the durable throughput benchmark.
		Workers: 8,
		// 10s: a healthy Consul commits in milliseconds; longer means no
		// leader, and callers should hear so.
		Timeout: 10 * time.Second,
		// nil: consul/api's KV.Txn, which implements every way of reaching
		// Consul; a writer whose records make the encoding count opts in.
		Endpoint: nil,
		// nil: transactions hold their units' operations only.
		Amender: nil,
	}
}

// ErrInvalidConfig wraps every error of Config.Validate; it wraps
// errs.ErrInvalidConfig.
var ErrInvalidConfig = errs.New("kvtxn: invalid configuration", errs.ErrInvalidConfig)

// Validate reports a negative Workers or Timeout, naming it and its value
// (zero takes the default).
func (c Config) Validate() error {
	if c.Workers < 0 {
		return fmt.Errorf("%w: Workers is %d, want 0 (the default) or more", ErrInvalidConfig, c.Workers)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("%w: Timeout is %s, want 0 (the default) or more", ErrInvalidConfig, c.Timeout)
	}
	return nil
}

// Result is the outcome of one unit of operations.
type Result struct {
	// OK: the unit committed.
	OK bool
	// Results are the entries the unit's operations returned once
	// committed, in order: one per set, check-and-set, lock, unlock,
	// check-index and check-session (deletes and check-not-exists return
	// none).
	Results []*api.KVPair
	// Errors say why the unit was refused (OK false, Err nil); OpIndex
	// counts within the unit's operations.
	Errors []*api.TxnError
	// Err: Consul could not be reached or the caller's ctx ended; the
	// unit may have committed.
	Err error
}

// Batcher shares transactions among concurrent callers of Do.
type Batcher struct {
	kv       *api.KV
	endpoint *Endpoint
	timeout  time.Duration
	amender  Amender
	maxOps   int // of a unit, and of the units of one transaction
	g        *Gatherer[*unit]
}

// unit is one caller's share of a transaction.
type unit struct {
	ctx  context.Context
	ops  api.KVTxnOps
	tag  any // for the Amender
	done chan Result
}

// New starts a batcher writing through kv; Close stops it. Fields of cfg
// that are zero take DefaultConfig's values; so do negative ones, which
// Validate refuses: New has no error to return, and its callers (the
// stores) build cfg from DefaultConfig.
func New(kv *api.KV, cfg Config) *Batcher {
	def := DefaultConfig()
	if cfg.Workers <= 0 {
		cfg.Workers = def.Workers
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = def.Timeout
	}
	b := &Batcher{kv: kv, endpoint: cfg.Endpoint, timeout: cfg.Timeout, amender: cfg.Amender, maxOps: MaxOps}
	if b.amender != nil {
		b.maxOps-- // room for the added operation
	}
	b.g = newGatherer(cfg.Workers, b.maxOps, func(u *unit) (int, int) { return len(u.ops), opsSize(u.ops) }, b.send)
	return b
}

// Do submits ops as one unit (1 to MaxOps operations, no reads; one
// fewer with an Amender) and waits for its outcome.
func (b *Batcher) Do(ctx context.Context, ops api.KVTxnOps) Result { return b.do(ctx, ops, nil) }

func (b *Batcher) do(ctx context.Context, ops api.KVTxnOps, tag any) Result {
	if len(ops) == 0 || len(ops) > b.maxOps {
		return Result{Err: fmt.Errorf("kvtxn: a unit has 1 to %d operations, not %d", b.maxOps, len(ops))}
	}
	for _, op := range ops {
		if isRead(op.Verb) {
			return Result{Err: fmt.Errorf("kvtxn: a unit writes; %s is a read", op.Verb)}
		}
	}
	u := &unit{ctx: ctx, ops: ops, tag: tag, done: make(chan Result, 1)}
	if err := b.g.Put(ctx, u); err != nil {
		return Result{Err: err}
	}
	select {
	case r := <-u.done:
		return r
	case <-ctx.Done():
		// The transaction may still commit; the caller treats this like any
		// lost answer and reads again before deciding.
		return Result{Err: ctx.Err()}
	}
}

// Close stops the batcher's workers; safe to call twice.
func (b *Batcher) Close() { b.g.Close() }

// send commits the batch, dropping units that Consul refuses and retrying
// the rest, until every unit has its answer.
func (b *Batcher) send(batch []*unit) {
	var again []*unit
	defer func() {
		for _, u := range again {
			b.send([]*unit{u})
		}
	}()
	amendRefused := 0
	for len(batch) > 0 {
		live := batch[:0]
		for _, u := range batch {
			if u.ctx.Err() != nil {
				u.done <- Result{Err: u.ctx.Err()}
				continue
			}
			live = append(live, u)
		}
		batch = live
		if len(batch) == 0 {
			return
		}
		var ops api.KVTxnOps
		owner := make([]int, 0, MaxOps) // op index -> unit index
		start := make([]int, len(batch))
		for i, u := range batch {
			start[i] = len(ops)
			ops = append(ops, u.ops...)
			for range u.ops {
				owner = append(owner, i)
			}
		}
		ops, amended, err := b.amend(batch, ops)
		if err == nil {
			// The transaction serves many callers: no single caller's
			// context may cancel it.
			ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
			var ok bool
			var resp *api.KVTxnResponse
			ok, resp, err = b.txn(ctx, ops)
			cancel()
			switch {
			case err != nil:
				tell(amended, AmendOutcome{Err: err})
			case ok:
				tell(amended, AmendOutcome{Committed: true, Entry: amendedEntry(ops, resp)})
				answer(batch, resp)
				return
			case amended != nil && refusedAt(resp, len(owner)):
				tell(amended, AmendOutcome{Refused: true})
				if amendRefused++; len(resp.Errors) == 1 && amendRefused < amendRetries {
					continue // refused for the added operation alone: again, amended anew
				}
				if len(resp.Errors) == 1 {
					err = fmt.Errorf("kvtxn: the added operation was refused %d times in a row: %s", amendRefused, resp.Errors[0].What)
				}
			default:
				tell(amended, AmendOutcome{})
			}
			if err == nil && !b.refuse(&batch, &again, owner, start, resp) {
				return
			}
			if err == nil {
				continue
			}
		}
		for _, u := range batch {
			u.done <- Result{Err: err}
		}
		return
	}
}

// tell gives an Amender's outcome function the outcome, if there is one.
func tell(done func(AmendOutcome), o AmendOutcome) {
	if done != nil {
		done(o)
	}
}

// refuse answers the units of a refused transaction that Consul refused
// and keeps in batch those to send again now; units that may have failed
// only because of an earlier unit of the same batch go to again, to be
// sent alone. It reports whether batch is to be sent again now (false: its
// units are answered or handed on).
func (b *Batcher) refuse(batch, again *[]*unit, owner, start []int, resp *api.KVTxnResponse) bool {
	refused := map[int][]*api.TxnError{}
	for _, e := range resp.Errors {
		if e != nil && e.OpIndex >= 0 && e.OpIndex < len(owner) {
			i := owner[e.OpIndex]
			refused[i] = append(refused[i], &api.TxnError{OpIndex: e.OpIndex - start[i], What: e.What})
		}
	}
	if len(refused) == 0 { // cannot tell whose unit failed: send them one by one
		if len(*batch) == 1 {
			(*batch)[0].done <- Result{Errors: resp.Errors}
			return false
		}
		for _, u := range *batch {
			b.send([]*unit{u})
		}
		return false
	}
	// A unit whose key an earlier unit of the same batch also touched
	// may have failed only because of that unit, which the failed
	// transaction rolled back: it is not refused yet. It goes alone,
	// once the rest has committed.
	first := map[string]int{}
	for i, u := range *batch {
		for _, op := range u.ops {
			if _, ok := first[op.Key]; !ok {
				first[op.Key] = i
			}
		}
	}
	rest := (*batch)[:0]
	for i, u := range *batch {
		switch {
		case refused[i] != nil && touchedBefore(first, u, i):
			*again = append(*again, u)
		case refused[i] != nil:
			u.done <- Result{Errors: refused[i]}
		default:
			rest = append(rest, u)
		}
	}
	*batch = rest
	return len(rest) > 0
}

// txn sends one transaction through the endpoint, or KV.Txn.
func (b *Batcher) txn(ctx context.Context, ops api.KVTxnOps) (bool, *api.KVTxnResponse, error) {
	if b.endpoint != nil {
		return b.endpoint.txn(ctx, ops)
	}
	ok, resp, _, err := b.kv.Txn(ops, (&api.QueryOptions{}).WithContext(ctx))
	return ok, resp, err
}

// answer gives each unit of a committed batch its share of the results.
func answer(batch []*unit, resp *api.KVTxnResponse) {
	at := 0
	for _, u := range batch {
		n := 0
		for _, op := range u.ops {
			if returnsEntry(op.Verb) {
				n++
			}
		}
		if at+n > len(resp.Results) {
			u.done <- Result{Err: ErrShortAnswer}
			at = len(resp.Results)
			continue
		}
		u.done <- Result{OK: true, Results: resp.Results[at : at+n : at+n]}
		at += n
	}
}

func touchedBefore(first map[string]int, u *unit, i int) bool {
	for _, op := range u.ops {
		if first[op.Key] < i {
			return true
		}
	}
	return false
}

func opsSize(ops api.KVTxnOps) int {
	n := 0
	for _, op := range ops {
		n += len(op.Key) + len(op.Value) + 64
	}
	return n
}

// returnsEntry reports whether a transaction operation adds an entry to
// the results, as Consul's transaction endpoint answers: writes, locks and
// the checks of an index or session add one; deletes and
// check-not-exists none.
func returnsEntry(verb api.KVOp) bool {
	switch verb {
	case api.KVSet, api.KVCAS, api.KVLock, api.KVUnlock, api.KVCheckSession, api.KVCheckIndex:
		return true
	}
	return false
}

// isRead: reads answer with as many entries as they find, so their
// results could not be told apart from the next unit's; a unit writes.
func isRead(verb api.KVOp) bool {
	return verb == api.KVGet || verb == api.KVGetOrEmpty || verb == api.KVGetTree
}
