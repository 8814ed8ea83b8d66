package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/granary-rt/granary/cluster/api"
)

const (
	// coalesceSenders requests of one client may carry submits to one node
	// at once. A submit finding fewer in flight goes out at once, so a
	// lone caller waits for nobody; beyond that, submits queue and share
	// the next request. 4 keeps a slow batch from stalling the rest while
	// batches still grow under load.
	coalesceSenders = 4
	// coalesceMaxBytes keeps a batch's body well under the node's limit
	// (httpapi's MaxBatchBytes, 8 MiB).
	coalesceMaxBytes = 4 << 20
)

// coalescer queues the submits to one node URL (Config.Coalesce) and
// sends them in shared requests.
type coalescer struct {
	c         *Client
	one, many string // URLs of a single submit and of a batch

	mu      sync.Mutex
	queue   []*queued
	senders int
}

// queued is one submit waiting for its answer. The sender decodes into a
// status of its own and hands it over, so a caller that gave up (its
// context ended) is never written to afterwards.
type queued struct {
	ctx  context.Context
	body []byte
	done chan answer
}

type answer struct {
	st  *api.Status
	err error
}

// send is once, except that submits go through the node's coalescer when
// Config.Coalesce is set.
func (c *Client) send(ctx context.Context, method string, node *url.URL, path string, q url.Values, body []byte, out any) error {
	st, isStatus := out.(*api.Status)
	if !c.cfg.Coalesce || method != http.MethodPost || path != "/v1/tasks" || !isStatus || len(body) > coalesceMaxBytes {
		return c.once(ctx, method, at(node, path, q), body, out)
	}
	one := at(node, path, q)
	c.mu.Lock()
	k := c.coalescers[one]
	if k == nil {
		if c.coalescers == nil {
			c.coalescers = map[string]*coalescer{}
		}
		// A batch goes without ?wait=: with it, the node would answer a
		// batch when its slowest task finished, keeping every caller of the
		// batch waiting for it. Without it the answer comes once every task
		// is stored (a short task already finished: see HoldFirstWrite),
		// and SubmitAndWait waits on for the tasks still running, each on
		// its own.
		k = &coalescer{c: c, one: one, many: at(node, path+":batch", nil)}
		c.coalescers[one] = k
	}
	c.mu.Unlock()
	a := k.do(ctx, body)
	if a.err == nil {
		*st = *a.st
	}
	return a.err
}

func (k *coalescer) do(ctx context.Context, body []byte) answer {
	q := &queued{ctx: ctx, body: body, done: make(chan answer, 1)}
	k.mu.Lock()
	k.queue = append(k.queue, q)
	start := k.senders < coalesceSenders
	if start {
		k.senders++
	}
	k.mu.Unlock()
	if start {
		go k.drain()
	}
	select {
	case a := <-q.done:
		return a
	case <-ctx.Done():
		// The submit may still go out; a retry with the same id finds it.
		return answer{err: ctx.Err()}
	}
}

// drain sends what is queued, a batch at a time, until the queue is empty.
func (k *coalescer) drain() {
	for {
		k.mu.Lock()
		if len(k.queue) == 0 {
			k.senders--
			k.mu.Unlock()
			return
		}
		n, size := 0, 0
		for n < len(k.queue) && n < api.MaxBatch && (n == 0 || size+len(k.queue[n].body) <= coalesceMaxBytes) {
			size += len(k.queue[n].body)
			n++
		}
		batch := append([]*queued(nil), k.queue[:n]...)
		k.queue = append(k.queue[:0], k.queue[n:]...)
		k.mu.Unlock()
		k.send(batch)
	}
}

// send answers every submit of batch.
func (k *coalescer) send(batch []*queued) {
	live := batch[:0]
	for _, q := range batch {
		if q.ctx.Err() == nil {
			live = append(live, q)
		} // else its caller has returned already
	}
	switch {
	case len(live) == 0:
	case len(live) == 1:
		k.sendOne(live[0])
	case k.c.noBatch.Load():
		k.sendEach(live)
	default:
		k.sendBatch(live)
	}
}

func (k *coalescer) sendOne(q *queued) {
	st := new(api.Status)
	err := k.c.once(q.ctx, http.MethodPost, k.one, q.body, st)
	q.done <- answer{st: st, err: err}
}

func (k *coalescer) sendEach(batch []*queued) {
	var wg sync.WaitGroup
	for _, q := range batch {
		wg.Add(1)
		go func() { defer wg.Done(); k.sendOne(q) }()
	}
	wg.Wait()
}

func (k *coalescer) sendBatch(batch []*queued) {
	var body bytes.Buffer
	body.WriteString(`{"tasks":[`)
	for i, q := range batch {
		if i > 0 {
			body.WriteByte(',')
		}
		body.Write(q.body)
	}
	body.WriteString("]}")
	// The request serves many callers, so no one caller's context may end
	// it; it is bounded by the longest a submit may take: the node answers
	// within ?wait= (PollWait) plus the time to store the tasks.
	ctx, cancel := context.WithTimeout(context.Background(), k.c.cfg.PollWait+txnBound)
	defer cancel()
	code, data, err := k.c.roundTrip(ctx, http.MethodPost, k.many, body.Bytes())
	if err == nil && (code == http.StatusNotFound || code == http.StatusMethodNotAllowed) {
		// A node without the batch route (an older version): one by one,
		// from now on.
		k.c.noBatch.Store(true)
		k.sendEach(batch)
		return
	}
	if err == nil {
		err = wireErr(code, data)
	}
	var resp api.SubmitBatchResponse
	if err == nil {
		if jerr := json.Unmarshal(data, &resp); jerr != nil {
			err = fmt.Errorf("%w: undecodable answer to a batch of %d submits: %w", api.ErrInternal, len(batch), jerr)
		} else if len(resp.Results) != len(batch) {
			err = fmt.Errorf("%w: a batch of %d submits answered with %d results", api.ErrInternal, len(batch), len(resp.Results))
		}
	}
	for i, q := range batch {
		if err != nil {
			q.done <- answer{err: err}
			continue
		}
		r := resp.Results[i]
		q.done <- answer{st: r.Task, err: r.Err()}
	}
}

// txnBound is how long a node may take to store a submitted task beyond
// its ?wait=: a healthy cluster takes milliseconds, and a Consul without a
// leader fails the submit well within it.
const txnBound = 30 * time.Second
