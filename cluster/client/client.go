// Package client is the Go client of Granary's HTTP API: submit tasks,
// read and wait for their status, list and cancel them. The `granary` CLI
// is built on it.
//
//	c, err := client.New(client.Config{Addr: "http://127.0.0.1:8080"})
//	c, err := client.New(client.Config{Discover: membership.DiscoverHTTP(consul, "prod")}) // any healthy node, found through Consul
//	c, err := client.New(client.Config{Addr: "10.0.0.1:8080", CAFile: "ca.pem", Token: tok}) // a secured node: https://, a bearer token
//	st, err := c.Submit(ctx, api.SubmitRequest{Kind: "echo", Payload: json.RawMessage(`{"hi":1}`)})
//	st, err = c.Wait(ctx, st.ID, nil) // until completed, failed or cancelled
//
// Errors wrap the sentinels of package api (api.ErrInvalidArgument,
// api.ErrNotFound, ..., api.ErrUnauthenticated for 401 and
// api.ErrPermissionDenied for 403), which are those of package errs, so
// callers use errors.Is across the wire.
//
// The package is light: it imports protobuf, OpenTelemetry's propagation
// API and Granary's own light packages, not the actor runtime, Consul's
// library or OpenTelemetry's SDK (TestClientDepsStayLight holds it to that).
package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/granary-rt/granary/cluster/api"
)

var (
	// ErrUnauthenticated: the node wants a bearer token (Config.Token,
	// $GRANARY_TOKEN) and got none, or one it does not know (HTTP 401).
	ErrUnauthenticated = api.ErrUnauthenticated
	// ErrPermissionDenied: the token's role does not allow the call: a
	// read token on a write route (HTTP 403).
	ErrPermissionDenied = api.ErrPermissionDenied
)

// Client talks to a node, or to several in turn. It is safe for concurrent
// use.
type Client struct {
	http *http.Client
	cfg  Config

	mu    sync.Mutex
	nodes []*url.URL
	next  int
	route router
	// token is the Authorization header's value ("" without a token).
	token string
	// secure: addresses without a scheme are https://.
	secure bool
	// coalescers holds, per submit URL, the queue of submits sharing
	// requests (Config.Coalesce).
	coalescers map[string]*coalescer
	noBatch    atomic.Bool // a node answered that it has no batch route
	noFresh    atomic.Bool // a node refused the fresh hint (api.SubmitRequest.Fresh)
}

// New returns a client; zero Config fields take DefaultConfig's values,
// and a Config Validate refuses is an error wrapping ErrInvalidConfig.
func New(cfg Config) (*Client, error) {
	if cfg.Token == "" {
		cfg.Token = os.Getenv("GRANARY_TOKEN")
	}
	if cfg.CAFile == "" {
		cfg.CAFile = os.Getenv("GRANARY_CA")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tlsCfg, err := clientTLS(cfg)
	if err != nil {
		return nil, err
	}
	secure := tlsCfg != nil
	nodes, err := nodeURLs(cfg, secure)
	if err != nil {
		return nil, err
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxIdleConnsPerHost: 64, // keep connections of concurrent callers alive
			IdleConnTimeout:     90 * time.Second,
			TLSClientConfig:     tlsCfg,
		}}
	}
	cfg = cfg.withDefaults()
	c := &Client{http: cfg.HTTPClient, cfg: cfg, nodes: nodes, secure: secure}
	if cfg.Token != "" {
		c.token = "Bearer " + cfg.Token
	}
	return c, nil
}

// Submit submits a task. An empty ID is filled in before sending, so a
// retry after a lost answer is idempotent; the first send of an id made
// here says it is new (api.SubmitRequest.Fresh), which saves the node a
// store round trip, and no retry does.
func (c *Client) Submit(ctx context.Context, req api.SubmitRequest) (*api.Status, error) {
	b, err := freshSubmit(&req)
	if err != nil {
		return nil, err
	}
	var st api.Status
	return &st, c.doBody(ctx, c.owner(req.Kind, req.ID), http.MethodPost, "/v1/tasks", nil, b, &st)
}

// SubmitBatch submits up to api.MaxBatch tasks in one request
// (POST /v1/tasks:batch) and returns one result per task, in order: its
// status, or its own error (api.BatchResult.Err). Tasks without an id get
// one first, so a batch retried after a lost answer finds the tasks it
// created. The error is the request's, when no task has its result.
func (c *Client) SubmitBatch(ctx context.Context, reqs []api.SubmitRequest) ([]api.BatchResult, error) {
	if len(reqs) == 0 || len(reqs) > api.MaxBatch {
		return nil, fmt.Errorf("%w: a batch holds 1 to %d tasks, got %d", api.ErrInvalidArgument, api.MaxBatch, len(reqs))
	}
	b, err := freshBatch(reqs)
	if err != nil {
		return nil, err
	}
	var out api.SubmitBatchResponse
	if err := c.doBody(ctx, nil, http.MethodPost, "/v1/tasks:batch", nil, b, &out); err != nil {
		return nil, err
	}
	if len(out.Results) != len(reqs) {
		return nil, fmt.Errorf("%w: a batch of %d tasks answered with %d results", api.ErrInternal, len(reqs), len(out.Results))
	}
	return out.Results, nil
}

// Get returns a task's status.
func (c *Client) Get(ctx context.Context, id string) (*api.Status, error) {
	return c.getTask(ctx, id, nil)
}

// GetLocal is Get answered from the node's own knowledge: a running
// attempt's progress as that node knows it, without the node asking the
// member running the attempt (members use it to ask each other).
func (c *Client) GetLocal(ctx context.Context, id string) (*api.Status, error) {
	return c.getTask(ctx, id, url.Values{"local": {"1"}})
}

// Watch long-polls: it returns when the task's revision passes index, or
// after wait with the current status.
func (c *Client) Watch(ctx context.Context, id string, index uint64, wait time.Duration) (*api.Status, error) {
	return c.getTask(ctx, id, url.Values{"index": {strconv.FormatUint(index, 10)}, "wait": {wait.String()}})
}

// getTask is GET /v1/tasks/{id} with query q.
func (c *Client) getTask(ctx context.Context, id string, q url.Values) (*api.Status, error) {
	var st api.Status
	return &st, c.do(ctx, http.MethodGet, "/v1/tasks/"+url.PathEscape(id), q, nil, &st)
}

// Wait blocks until the task is completed, failed or cancelled, calling
// onChange (if not nil) with every status it sees on the way: each new
// revision, and while the task runs, each change of its live progress
// (asked for every Config.ProgressEvery). It watches with long polls,
// not a polling loop.
func (c *Client) Wait(ctx context.Context, id string, onChange func(*api.Status)) (*api.Status, error) {
	return c.waitFrom(ctx, id, nil, onChange)
}

// SubmitAndWait submits a task and waits for it to finish in the same
// request (the node holds it up to the client's PollWait, then the client
// goes on waiting with long polls): one round trip for a short task.
func (c *Client) SubmitAndWait(ctx context.Context, req api.SubmitRequest, onChange func(*api.Status)) (*api.Status, error) {
	b, err := freshSubmit(&req) // an id of its own: a retried submit must not create a second task
	if err != nil {
		return nil, err
	}
	var st api.Status
	q := url.Values{"wait": {c.cfg.PollWait.String()}}
	if err := c.doBody(ctx, c.owner(req.Kind, req.ID), http.MethodPost, "/v1/tasks", q, b, &st); err != nil {
		return nil, err
	}
	if onChange != nil {
		onChange(&st)
	}
	return c.WaitFrom(ctx, &st, onChange)
}

// WaitFrom is Wait from a status already in hand, such as Submit's answer:
// it returns at once if that status is final, and otherwise waits for the
// changes after it, which saves a round trip.
func (c *Client) WaitFrom(ctx context.Context, st *api.Status, onChange func(*api.Status)) (*api.Status, error) {
	if st.Terminal() {
		return st, nil
	}
	return c.waitFrom(ctx, st.ID, st, onChange)
}

// waitFrom waits from last, the status the caller has seen (nil: none).
func (c *Client) waitFrom(ctx context.Context, id string, last *api.Status, onChange func(*api.Status)) (*api.Status, error) {
	var index uint64
	if last != nil {
		index = last.Revision
	}
	for {
		wait := c.cfg.PollWait
		if onChange != nil && c.cfg.ProgressEvery > 0 && (last == nil || last.State == api.StateRunning) {
			wait = min(wait, c.cfg.ProgressEvery)
		}
		st, err := c.Watch(ctx, id, index, wait)
		if err != nil {
			return nil, err
		}
		if onChange != nil && (last == nil || st.Revision != last.Revision || st.Progress != last.Progress || st.ProgressNote != last.ProgressNote) {
			onChange(st)
		}
		if st.Terminal() {
			return st, nil
		}
		index, last = st.Revision, st
	}
}

// Cancel cancels a task and returns its final status.
func (c *Client) Cancel(ctx context.Context, id string) (*api.Status, error) {
	return c.CancelWithReason(ctx, id, "")
}

// CancelWithReason cancels a task, recording why in its error.
func (c *Client) CancelWithReason(ctx context.Context, id, reason string) (*api.Status, error) {
	var q url.Values
	if reason != "" {
		q = url.Values{"reason": {reason}}
	}
	var st api.Status
	return &st, c.do(ctx, http.MethodDelete, "/v1/tasks/"+url.PathEscape(id), q, nil, &st)
}

// Restart stops a task's running attempt and runs it again at once with a
// fresh retry budget (what a job restart does to its tasks); a finished task
// is api.ErrFailedPrecondition. It sends a new request id, kept across its
// retries, so a retry after a lost answer does not restart the task again.
func (c *Client) Restart(ctx context.Context, id, reason string) (*api.Status, error) {
	return c.RestartOnce(ctx, id, reason, api.NewID())
}

// RestartOnce is Restart under a request id of the caller's: a restart
// with the id of the task's last applied restart changes nothing, so a
// caller that retries Restart itself keeps the id across its tries.
// (Restart picks one id per call; its own retries keep it.)
func (c *Client) RestartOnce(ctx context.Context, id, reason, requestID string) (*api.Status, error) {
	var st api.Status
	return &st, c.do(ctx, http.MethodPost, "/v1/tasks/"+url.PathEscape(id)+"/restart", nil, api.RestartRequest{Reason: reason, RequestID: requestID}, &st)
}

// Health asks the node whether it is healthy.
func (c *Client) Health(ctx context.Context) (*api.Health, error) {
	var h api.Health
	return &h, c.do(ctx, http.MethodGet, "/healthz", nil, nil, &h)
}
