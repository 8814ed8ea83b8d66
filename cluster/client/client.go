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
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/supervisor/backoff"
)

// Config configures a Client.
type Config struct {
	// Addr is the node's HTTP address, e.g. http://127.0.0.1:8080 (a bare
	// host:port gets http://). Empty uses $GRANARY_ADDR, else DefaultAddr,
	// unless Addrs or Discover is set.
	Addr string
	// Addrs are several nodes' HTTP addresses: a call that cannot reach one
	// tries the next.
	Addrs []string
	// Discover returns the HTTP addresses of the cluster's healthy nodes.
	// It is asked at the first call and again whenever every known node
	// failed. To find a cluster's nodes through Consul, set it to
	// membership.DiscoverHTTP(consulClient, "prod"): the client itself
	// imports no Consul library, so a program that knows its nodes'
	// addresses does not pay for one.
	Discover func(ctx context.Context) ([]string, error)
	// HTTPClient sends the requests; nil uses one without an overall
	// time-out (every call takes its deadline from its context), with
	// TLSConfig. Set, it brings its own TLS settings: TLSConfig and CAFile
	// must then be empty.
	HTTPClient *http.Client
	// TLSConfig verifies the nodes' API certificates (its RootCAs). Set, or
	// with CAFile, addresses without a scheme are https://.
	TLSConfig *tls.Config
	// CAFile is a PEM file of the CA that signed the nodes' API
	// certificates, trusted besides the system's CAs; empty uses
	// $GRANARY_CA (none if unset).
	CAFile string
	// Token is the bearer token sent with every request (a read or a
	// write token of the nodes' lists); empty uses $GRANARY_TOKEN (none if
	// unset). A node without tokens ignores it.
	Token string
	// Retry is the backoff between tries of a call that did not reach the
	// node or found it unavailable. Calls retry until their context ends.
	Retry backoff.Backoff
	// RetryFor bounds how long one call keeps retrying an unreachable or
	// unavailable node, within its context's deadline.
	RetryFor time.Duration
	// OnRetry, when set, hears of every try that failed and will be tried
	// again (before the wait), so a program can tell its user what it is
	// waiting for instead of staying silent for RetryFor. It runs on the
	// caller's goroutine and should return quickly.
	OnRetry func(RetryNotice)
	// PollWait is how long one long poll of Wait may hang on the node.
	PollWait time.Duration
	// ProgressEvery is how often a Wait with an onChange asks again while
	// the task runs, so that its live progress (which moves without the
	// task's revision) reaches onChange; negative: never, and onChange
	// hears only of revisions. A Wait without onChange long-polls
	// revisions alone either way.
	ProgressEvery time.Duration
	// Route sends each submit straight to the member that owns the task by
	// placement, as the cluster's member list (GET /v1/members) says. A
	// node that takes a submit for another member hands it over, so routing
	// saves that hop, and a stale list costs only the hop. It needs every
	// member's HTTP address reachable from the client; off, all calls go to
	// the configured nodes.
	Route bool
	// RouteRefresh is how often a routing client reads the member list.
	RouteRefresh time.Duration
	// Coalesce lets concurrent submits to the same node share requests
	// (POST /v1/tasks:batch): a submit goes out at once, alone, when the
	// node has no more than a few of this client's submits in flight;
	// otherwise it waits for one of them to finish and goes out with the
	// others that queued meanwhile. Each submit still gets its own answer
	// and error. It saves the node and the client a request per task when
	// many goroutines submit at once; a node without the batch route gets
	// the submits one by one.
	Coalesce bool
}

// RetryNotice describes a call that failed and is about to be tried again.
type RetryNotice struct {
	// Method and Path name the call.
	Method, Path string
	// Node is the address that failed (empty: none was found to try).
	Node string
	// Try counts the tries so far, this one included.
	Try int
	// Err is why the try failed.
	Err error
	// Delay is the wait before the next try.
	Delay time.Duration
	// GiveUp is when the call stops trying: RetryFor after its first try,
	// or its context's deadline if that is sooner.
	GiveUp time.Time
}

var (
	// ErrUnauthenticated: the node wants a bearer token (Config.Token,
	// $GRANARY_TOKEN) and got none, or one it does not know (HTTP 401).
	ErrUnauthenticated = api.ErrUnauthenticated
	// ErrPermissionDenied: the token's role does not allow the call: a
	// read token on a write route (HTTP 403).
	ErrPermissionDenied = api.ErrPermissionDenied
)

// DefaultAddr is the address `granary dev` listens on by default.
const DefaultAddr = "http://127.0.0.1:8080"

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		// 50ms doubling to 2s, full jitter: a restarting node is found again
		// within about a second, and many clients do not retry in lockstep.
		Retry: backoff.Backoff{Initial: 50 * time.Millisecond, Multiplier: 2, Max: 2 * time.Second, Jitter: backoff.JitterFull},
		// 30s: long enough that waiting costs a request every 30s, short
		// enough for proxies with a 60s idle time-out.
		PollWait: 30 * time.Second,
		// 500ms: a person watching a progress line sees it move twice a
		// second; only waits with an onChange pay the extra requests, and
		// only while their task runs.
		ProgressEvery: 500 * time.Millisecond,
		// 15s rides out a node restart (a few seconds) without leaving a
		// user staring at a CLI that will never connect.
		RetryFor: 15 * time.Second,
		// 5s: members join and leave over seconds, and a stale list costs
		// one hop per submit, not a wrong answer.
		RouteRefresh: 5 * time.Second,
	}
}

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
}

// New returns a client; zero Config fields take DefaultConfig's values.
func New(cfg Config) (*Client, error) {
	def := DefaultConfig()
	if cfg.Token == "" {
		cfg.Token = os.Getenv("GRANARY_TOKEN")
	}
	if cfg.CAFile == "" {
		cfg.CAFile = os.Getenv("GRANARY_CA")
	}
	tlsCfg, err := clientTLS(cfg)
	if err != nil {
		return nil, err
	}
	addrs := cfg.Addrs
	if cfg.Addr != "" {
		addrs = append([]string{cfg.Addr}, addrs...)
	}
	if len(addrs) == 0 && cfg.Discover == nil {
		addr := os.Getenv("GRANARY_ADDR")
		if addr == "" {
			addr = DefaultAddr
		}
		addrs = []string{addr}
	}
	secure := tlsCfg != nil
	nodes := make([]*url.URL, 0, len(addrs))
	for _, a := range addrs {
		u, err := parseAddr(a, secure)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, u)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxIdleConnsPerHost: 64, // keep connections of concurrent callers alive
			IdleConnTimeout:     90 * time.Second,
			TLSClientConfig:     tlsCfg,
		}}
	}
	if cfg.Retry.IsZero() {
		cfg.Retry = def.Retry
	}
	if err := cfg.Retry.Validate(); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if cfg.RetryFor <= 0 {
		cfg.RetryFor = def.RetryFor
	}
	if cfg.ProgressEvery == 0 {
		cfg.ProgressEvery = def.ProgressEvery
	}
	if cfg.PollWait <= 0 {
		cfg.PollWait = def.PollWait
	}
	if cfg.RouteRefresh <= 0 {
		cfg.RouteRefresh = def.RouteRefresh
	}
	c := &Client{http: cfg.HTTPClient, cfg: cfg, nodes: nodes, secure: secure}
	if cfg.Token != "" {
		c.token = "Bearer " + cfg.Token
	}
	return c, nil
}

// clientTLS is the TLS configuration of the client's own HTTP client: nil
// when none is asked for (plain http:// by default).
func clientTLS(cfg Config) (*tls.Config, error) {
	if cfg.TLSConfig == nil && cfg.CAFile == "" {
		return nil, nil
	}
	if cfg.HTTPClient != nil {
		return nil, errors.New("client: HTTPClient brings its own TLS settings: give it or TLSConfig/CAFile, not both")
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLSConfig != nil {
		tc = cfg.TLSConfig.Clone()
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("client: CA file: %w", err)
		}
		if tc.RootCAs == nil {
			if tc.RootCAs, err = x509.SystemCertPool(); err != nil {
				tc.RootCAs = x509.NewCertPool()
			}
		}
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client: CA file %s holds no PEM certificate", cfg.CAFile)
		}
	}
	return tc, nil
}

// parseAddr reads a node's address; one without a scheme is https:// if
// secure, else http://.
func parseAddr(addr string, secure bool) (*url.URL, error) {
	if !strings.Contains(addr, "://") {
		if secure {
			addr = "https://" + addr
		} else {
			addr = "http://" + addr
		}
	}
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("client: address %q is not an http(s) URL such as %s", addr, DefaultAddr)
	}
	return u, nil
}

// Addr is the node address the client talks to now.
func (c *Client) Addr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.nodes) == 0 {
		return ""
	}
	return c.nodes[c.next%len(c.nodes)].String()
}

// node returns the node to try next.
func (c *Client) node(ctx context.Context) (*url.URL, error) {
	c.mu.Lock()
	empty := len(c.nodes) == 0
	c.mu.Unlock()
	if empty {
		if err := c.discover(ctx); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.nodes) == 0 {
		return nil, fmt.Errorf("%w: no healthy granary node found", api.ErrUnavailable)
	}
	return c.nodes[c.next%len(c.nodes)], nil
}

// failed moves on from a node that did not answer; after a full round it
// asks Discover again.
func (c *Client) failed(ctx context.Context, u *url.URL) {
	c.mu.Lock()
	if len(c.nodes) > 0 && c.nodes[c.next%len(c.nodes)] == u {
		c.next++
	}
	round := len(c.nodes) == 0 || c.next%len(c.nodes) == 0
	c.mu.Unlock()
	if round && c.cfg.Discover != nil {
		_ = c.discover(ctx)
	}
}

func (c *Client) discover(ctx context.Context) error {
	if c.cfg.Discover == nil {
		return nil
	}
	addrs, err := c.cfg.Discover(ctx)
	if err != nil {
		return fmt.Errorf("%w: discovering nodes: %w", api.ErrUnavailable, err)
	}
	nodes := make([]*url.URL, 0, len(addrs))
	for _, a := range addrs {
		if u, err := parseAddr(a, c.secure); err == nil {
			nodes = append(nodes, u)
		}
	}
	c.mu.Lock()
	c.nodes, c.next = nodes, 0
	c.mu.Unlock()
	return nil
}

// Submit submits a task. An empty ID is filled in before sending, so a
// retry after a lost answer is idempotent.
func (c *Client) Submit(ctx context.Context, req api.SubmitRequest) (*api.Status, error) {
	if req.ID == "" {
		req.ID = api.NewID()
	}
	var st api.Status
	return &st, c.doPrefer(ctx, c.owner(req.Kind, req.ID), http.MethodPost, "/v1/tasks", nil, req, &st)
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
	body := api.SubmitBatchRequest{Tasks: make([]api.SubmitRequest, len(reqs))}
	for i, r := range reqs {
		if r.ID == "" {
			r.ID = api.NewID()
		}
		body.Tasks[i] = r
	}
	var out api.SubmitBatchResponse
	if err := c.do(ctx, http.MethodPost, "/v1/tasks:batch", nil, body, &out); err != nil {
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
	if req.ID == "" {
		req.ID = api.NewID() // a retried submit must not create a second task
	}
	var st api.Status
	q := url.Values{"wait": {c.cfg.PollWait.String()}}
	if err := c.doPrefer(ctx, c.owner(req.Kind, req.ID), http.MethodPost, "/v1/tasks", q, req, &st); err != nil {
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

// List returns every task in the given states (all when none), newest
// first, reading page after page (ListPage with the largest pages).
func (c *Client) List(ctx context.Context, states ...string) ([]*api.Status, error) {
	return c.ListAll(ctx, ListOptions{States: states})
}

// ListOptions select the tasks of ListPage and ListAll. Zero fields
// select everything.
type ListOptions struct {
	// States keeps the tasks in one of these states.
	States []string
	// Kind keeps the tasks of one kind.
	Kind string
	// Labels keeps the tasks carrying every one of these labels.
	Labels map[string]string
	// JobID keeps the tasks of one job.
	JobID string
	// Limit is the page size (0: the node's default, 100; at most 1000).
	Limit int
	// Cursor starts the page after the one that answered it (TaskList.Next).
	Cursor string
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	if len(o.States) > 0 {
		q.Set("state", strings.Join(o.States, ","))
	}
	if o.Kind != "" {
		q.Set("kind", o.Kind)
	}
	for k, v := range o.Labels {
		q.Add("label", k+"="+v)
	}
	if o.JobID != "" {
		q.Set("job", o.JobID)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Cursor != "" {
		q.Set("cursor", o.Cursor)
	}
	return q
}

// ListPage returns one page of the tasks o selects, newest first (by
// submission time); its Next, if not empty, is the Cursor of the next page.
func (c *Client) ListPage(ctx context.Context, o ListOptions) (*api.TaskList, error) {
	var out api.TaskList
	if err := c.do(ctx, http.MethodGet, "/v1/tasks", o.query(), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// maxPage is the page size ListAll asks for: the node's largest.
const maxPage = 1000

// ListAll returns every task o selects, newest first, following the pages'
// cursors from o.Cursor (o.Limit: the page size, default the largest).
func (c *Client) ListAll(ctx context.Context, o ListOptions) ([]*api.Status, error) {
	if o.Limit <= 0 {
		o.Limit = maxPage
	}
	var all []*api.Status
	for {
		page, err := c.ListPage(ctx, o)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Tasks...)
		if page.Next == "" {
			return all, nil
		}
		o.Cursor = page.Next
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

// Job returns a job: its state, cause and every task, by id, following
// the pages of its tasks (large results elided, as in a listing: Get has
// them). JobPage returns the summary and the first page only.
func (c *Client) Job(ctx context.Context, id string) (*api.JobStatus, error) {
	j, err := c.JobPage(ctx, id, 0)
	if err != nil {
		return nil, err
	}
	for cursor := j.TasksNext; cursor != ""; {
		page, err := c.JobTasksPage(ctx, id, ListOptions{Limit: maxPage, Cursor: cursor})
		if err != nil {
			return nil, err
		}
		j.Tasks, cursor = append(j.Tasks, page.Tasks...), page.Next
	}
	j.TasksNext = ""
	return j, nil
}

// JobPage returns a job's summary and the first page of its tasks, by id
// (limit 0: the node's default page size); its TasksNext, if not empty, is
// the Cursor of JobTasksPage's next page.
func (c *Client) JobPage(ctx context.Context, id string, limit int) (*api.JobStatus, error) {
	var j api.JobStatus
	if err := c.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id), ListOptions{Limit: limit}.query(), nil, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// JobTasksPage returns a page of a job's tasks, by id, after o.Cursor (of
// o only Limit and Cursor apply).
func (c *Client) JobTasksPage(ctx context.Context, id string, o ListOptions) (*api.TaskList, error) {
	var out api.TaskList
	if err := c.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id)+"/tasks", ListOptions{Limit: o.Limit, Cursor: o.Cursor}.query(), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Health asks the node whether it is healthy.
func (c *Client) Health(ctx context.Context) (*api.Health, error) {
	var h api.Health
	return &h, c.do(ctx, http.MethodGet, "/healthz", nil, nil, &h)
}
