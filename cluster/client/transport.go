package client

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/tracing/propagate"
	"github.com/granary-rt/granary/supervisor/backoff"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// do sends one call, retrying with backoff while the node cannot be reached
// or answers unavailable, until ctx ends. Every call of this API is
// idempotent (submits carry their id), so a retry is safe.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	return c.doPrefer(ctx, nil, method, path, q, in, out)
}

// doPrefer is do that tries the node prefer first, once (nil: none); if it
// cannot be reached, the call goes on as do.
func (c *Client) doPrefer(ctx context.Context, prefer *url.URL, method, path string, q url.Values, in, out any) error {
	b, err := plainBody(in)
	if err != nil {
		return err
	}
	return c.doBody(ctx, prefer, method, path, q, b, out)
}

// doBody is doPrefer with the body encoded: its first send may differ from
// the later ones (reqBody).
func (c *Client) doBody(ctx context.Context, prefer *url.URL, method, path string, q url.Values, b *reqBody, out any) error {
	if prefer != nil {
		err := c.sendBody(ctx, method, prefer, path, q, b, out)
		if err == nil || !retryable(err) {
			return err
		}
		c.route.stale()
	}
	giveUp := time.Now().Add(c.cfg.RetryFor)
	for try := 1; ; try++ {
		node, err := c.node(ctx)
		tried := ""
		if err == nil {
			err = c.sendBody(ctx, method, node, path, q, b, out)
			if err == nil || !retryable(err) {
				return err
			}
			tried = node.String()
			c.failed(ctx, node)
		}
		if time.Now().After(giveUp) {
			return fmt.Errorf("%w (gave up after %d tries in %s)", err, try, c.cfg.RetryFor)
		}
		delay := c.retryDelay(try, err)
		if c.cfg.OnRetry != nil {
			end := giveUp
			if dl, ok := ctx.Deadline(); ok && dl.Before(end) {
				end = dl
			}
			c.cfg.OnRetry(RetryNotice{Method: method, Path: path, Node: tried, Try: try, Err: err, Delay: delay, GiveUp: end})
		}
		if !backoff.Sleep(ctx, delay) {
			return fmt.Errorf("%w (gave up after %d tries: %w)", err, try, ctx.Err())
		}
	}
}

// sendBody sends b's next body to node. A node that refuses the fresh hint
// (an older version) did nothing: the request goes again at once without
// it, and this client stops sending it.
func (c *Client) sendBody(ctx context.Context, method string, node *url.URL, path string, q url.Values, b *reqBody, out any) error {
	body, hinted := b.next(c.noFresh.Load())
	err := c.send(ctx, method, node, path, q, body, out)
	if hinted && unknownFresh(err) {
		c.noFresh.Store(true)
		err = c.send(ctx, method, node, path, q, b.retry, out)
	}
	return err
}

// at is the URL of path on node; path is escaped already (its ids went
// through url.PathEscape), so it is the URL's raw path: set as Path, its
// escapes were escaped again, and the node saw "a%2Fb" for the id "a/b".
func at(node *url.URL, path string, q url.Values) string {
	u := *node
	raw := strings.TrimSuffix(u.EscapedPath(), "/") + path
	if p, err := url.PathUnescape(raw); err == nil {
		u.Path, u.RawPath = p, raw
	} else {
		u.Path, u.RawPath = raw, ""
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func (c *Client) once(ctx context.Context, method, u string, body []byte, out any) error {
	code, data, err := c.roundTrip(ctx, method, u, body)
	if err != nil {
		return err
	}
	if err := wireErr(code, data); err != nil {
		return err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%w: undecodable answer to %s %s: %w", api.ErrInternal, method, u, err)
	}
	return nil
}

// wireErr is the error an answer carries (nil for a 2xx answer).
func wireErr(code int, data []byte) error {
	if code < 300 {
		return nil
	}
	var eb api.ErrorBody
	_ = json.Unmarshal(data, &eb)
	return api.FromWire(code, eb)
}

// roundTrip sends one request and reads the answer's status code and body.
func (c *Client) roundTrip(ctx context.Context, method, u string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %w", api.ErrInvalidArgument, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", c.token)
	}
	if trace.SpanContextFromContext(ctx).IsValid() {
		// The caller traces: the node continues its trace.
		propagate.Propagator().Inject(ctx, propagation.HeaderCarrier(req.Header))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, ctx.Err()
		}
		return 0, nil, fmt.Errorf("%w: %s %s: %w", api.ErrUnavailable, method, u, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: reading the answer to %s %s: %w", api.ErrUnavailable, method, u, err)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		// The node is at its limit and did nothing: try again after the
		// delay it asks for (retried like unavailable, by every caller).
		var eb api.ErrorBody
		_ = json.Unmarshal(data, &eb)
		return 0, nil, &api.WireError{Sentinel: api.ErrResourceExhausted, Message: cmp.Or(eb.Error.Message, "node busy"),
			RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	}
	return resp.StatusCode, data, nil
}

// maxRetryAfter bounds how long a node's Retry-After makes a call wait
// between tries (the call's context bounds it too).
const maxRetryAfter = 30 * time.Second

// retryAfter reads a Retry-After header in seconds (0 if absent or not
// a number of seconds), at most maxRetryAfter.
func retryAfter(h string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(h))
	if err != nil || n <= 0 {
		return 0
	}
	return min(time.Duration(n)*time.Second, maxRetryAfter)
}

// retryDelay is the wait before the next try: the backoff's, or longer if
// the node asked for it.
func (c *Client) retryDelay(try int, err error) time.Duration {
	d := c.cfg.Retry.Delay(try, rand.Float64())
	var we *api.WireError
	if errors.As(err, &we) && we.RetryAfter > d {
		d = we.RetryAfter
	}
	return d
}

func retryable(err error) bool {
	return (errors.Is(err, api.ErrUnavailable) || errors.Is(err, api.ErrResourceExhausted)) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}
