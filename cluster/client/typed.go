package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
)

// ErrTaskNotCompleted is WaitTyped's error for a task that ended failed or
// cancelled: it has no result to decode. The error says how it ended and
// why; the status returned with it has the whole story.
var ErrTaskNotCompleted = errors.New("task did not complete")

// TypedTask is a task submitted by SubmitTyped, whose result decodes into
// Out.
type TypedTask[Out any] struct {
	// Status is the task's status as the submit answered it.
	Status *api.Status
	c      *Client
}

// ID is the task's id.
func (t *TypedTask[Out]) ID() string { return t.Status.ID }

// Wait waits for the task to end and decodes its result (WaitTyped).
func (t *TypedTask[Out]) Wait(ctx context.Context) (Out, *api.Status, error) {
	st, err := t.c.WaitFrom(ctx, t.Status, nil)
	if err != nil {
		var zero Out
		return zero, nil, err
	}
	return decodeResult[Out](st)
}

// SubmitTyped submits a task of a typed kind: in is encoded as the kind
// decodes it (JSON, or protojson for a proto message: actors.CodecFor), so
// callers marshal nothing by hand. req gives the kind and, if wanted, the
// id, policy, labels and job; its Payload must be empty. The answer's Wait
// decodes the result into Out.
func SubmitTyped[In, Out any](ctx context.Context, c *Client, req api.SubmitRequest, in In) (*TypedTask[Out], error) {
	if len(req.Payload) != 0 {
		return nil, fmt.Errorf("%w: SubmitTyped encodes the payload from its input; leave SubmitRequest.Payload empty", api.ErrInvalidArgument)
	}
	payload, err := actors.CodecFor[In]().Encode(in)
	if err != nil {
		return nil, fmt.Errorf("%w: encoding the payload: %w", api.ErrInvalidArgument, err)
	}
	req.Payload = payload
	st, err := c.Submit(ctx, req)
	if err != nil {
		return nil, err
	}
	return &TypedTask[Out]{Status: st, c: c}, nil
}

// WaitTyped waits for task id to end and decodes its result into Out. A
// task that failed or was cancelled is an error wrapping
// ErrTaskNotCompleted, returned with its status.
func WaitTyped[Out any](ctx context.Context, c *Client, id string) (Out, *api.Status, error) {
	st, err := c.Wait(ctx, id, nil)
	if err != nil {
		var zero Out
		return zero, nil, err
	}
	return decodeResult[Out](st)
}

// decodeResult decodes a final status's result into Out.
func decodeResult[Out any](st *api.Status) (Out, *api.Status, error) {
	var zero Out
	if st.State != api.StateCompleted {
		return zero, st, fmt.Errorf("%w: task %s %s: %s", ErrTaskNotCompleted, st.ID, st.State, st.Error)
	}
	out, err := actors.CodecFor[Out]().Decode(st.Result)
	if err != nil {
		return zero, st, fmt.Errorf("%w: decoding the result of task %s: %w", api.ErrInternal, st.ID, err)
	}
	return out, st, nil
}

// Retry sends a failed or cancelled task round again with a fresh retry
// budget, its history and checkpoint kept (POST /v1/tasks/{id}/retry); a
// task in another state is api.ErrFailedPrecondition. It sends a new
// request id, kept across its own retries, so a retry after a lost answer
// does not send the task round twice.
func (c *Client) Retry(ctx context.Context, id, reason string) (*api.Status, error) {
	var st api.Status
	return &st, c.do(ctx, http.MethodPost, "/v1/tasks/"+url.PathEscape(id)+"/retry", nil, api.RetryRequest{Reason: reason, RequestID: api.NewID()}, &st)
}

// RetryMany retries the failed or cancelled tasks req selects (or with
// DryRun counts them), up to api.MaxRetryMany per call: More in the answer
// says to call again.
func (c *Client) RetryMany(ctx context.Context, req api.RetryManyRequest) (*api.RetryManyResponse, error) {
	var out api.RetryManyResponse
	return &out, c.do(ctx, http.MethodPost, "/v1/tasks:retry", nil, req, &out)
}
