package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/granary-rt/granary/cluster/api"
)

// A submit of an id this client made just now carries the hint that the id
// is new (api.SubmitRequest.Fresh) on its first send, so the node skips
// asking the store whether a task exists under it. Only the first: a send
// whose answer was lost may have stored the task, and the hint would then
// run its first attempt again before the store's check dropped it.

// reqBody is a request's body as encoded for its first send and for the
// sends after it. They differ only when the first carries the fresh hint
// (hinted).
type reqBody struct {
	first, retry []byte
	hinted, sent bool
}

// plainBody is a body sent alike every time.
func plainBody(in any) (*reqBody, error) {
	if in == nil {
		return &reqBody{}, nil
	}
	b, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("%w: encoding the request: %w", api.ErrInvalidArgument, err)
	}
	return &reqBody{first: b, retry: b}, nil
}

// hintedBody is a body whose first send is first and whose later sends
// are retry.
func hintedBody(first, retry any) (*reqBody, error) {
	b, err := plainBody(first)
	if err != nil {
		return nil, err
	}
	r, err := plainBody(retry)
	if err != nil {
		return nil, err
	}
	b.retry, b.hinted = r.retry, true
	return b, nil
}

// next is the body of the next send, and whether it carries the hint
// (never once noFresh is set: a node answered that it does not know it).
func (b *reqBody) next(noFresh bool) (body []byte, hinted bool) {
	if b.sent || noFresh {
		return b.retry, false
	}
	b.sent = true
	return b.first, b.hinted
}

// freshSubmit gives req an id if it has none and returns its body: the
// first send carries the fresh hint if the id was made here (or the caller
// set Fresh, saying it made the id), no later send does.
func freshSubmit(req *api.SubmitRequest) (*reqBody, error) {
	if req.ID == "" {
		req.ID, req.Fresh = api.NewID(), true
	}
	if !req.Fresh {
		return plainBody(*req)
	}
	again := *req
	again.Fresh = false
	return hintedBody(*req, again)
}

// freshBatch gives the batch's tasks without an id one and returns its
// body, the hint on the first send of each id made here (as freshSubmit).
func freshBatch(reqs []api.SubmitRequest) (*reqBody, error) {
	first := api.SubmitBatchRequest{Tasks: make([]api.SubmitRequest, len(reqs))}
	again := api.SubmitBatchRequest{Tasks: make([]api.SubmitRequest, len(reqs))}
	hinted := false
	for i, r := range reqs {
		if r.ID == "" {
			r.ID, r.Fresh = api.NewID(), true
		}
		hinted = hinted || r.Fresh
		first.Tasks[i] = r
		r.Fresh = false
		again.Tasks[i] = r
	}
	if !hinted {
		return plainBody(again)
	}
	return hintedBody(first, again)
}

// unknownFresh reports whether err is a node's refusal of the fresh hint:
// a node of an older version decodes requests strictly and answers 400 to
// a field it does not know. It did nothing, so the same request without
// the hint may go at once.
func unknownFresh(err error) bool {
	return errors.Is(err, api.ErrInvalidArgument) && strings.Contains(err.Error(), `unknown field "fresh"`)
}
