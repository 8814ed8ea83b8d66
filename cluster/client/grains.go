package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// CallRaw sends a JSON request to the grain (kind, identity) through the
// node, which routes it to the grain's activation anywhere in the cluster.
// The call's deadline comes from ctx. Undelivered calls are retried (by the
// node, and by this client against other nodes) under one request id, so
// a grain with durable state applies the call once however often it is
// retried; a grain's error comes back wrapping api.ErrHandler and is never
// retried.
func (c *Client) CallRaw(ctx context.Context, kind, identity string, request []byte) (*api.GrainReply, error) {
	return c.CallRawOnce(ctx, kind, identity, api.NewID(), request)
}

// CallRawOnce is CallRaw with the caller's own request id, for a caller
// that retries a call itself (after a restart, say): a grain with durable
// state answers a request id it applied with the answer it stored.
func (c *Client) CallRawOnce(ctx context.Context, kind, identity, requestID string, request []byte) (*api.GrainReply, error) {
	var out api.GrainReply
	path := "/v1/grains/" + url.PathEscape(kind) + "/" + url.PathEscape(identity)
	var in any
	if len(request) > 0 {
		in = json.RawMessage(request)
	}
	var q url.Values
	if requestID != "" {
		q = url.Values{"request_id": {requestID}}
	}
	return &out, c.do(ctx, http.MethodPost, path, q, in, &out)
}

// GrainState reads a durable grain's state as last stored.
func (c *Client) GrainState(ctx context.Context, kind, identity string) (*api.GrainState, error) {
	var out api.GrainState
	return &out, c.do(ctx, http.MethodGet, "/v1/grains/"+url.PathEscape(kind)+"/"+url.PathEscape(identity)+"/state", nil, nil, &out)
}

// ClearGrainState deletes a durable grain's state: its next activation
// starts from the zero state.
func (c *Client) ClearGrainState(ctx context.Context, kind, identity string) error {
	var out api.GrainState
	return c.do(ctx, http.MethodDelete, "/v1/grains/"+url.PathEscape(kind)+"/"+url.PathEscape(identity)+"/state", nil, nil, &out)
}

// Call sends a proto message to a grain whose kind takes that message type
// and decodes the reply into a new message of the same type as reply.
func (c *Client) Call(ctx context.Context, kind, identity string, msg proto.Message, reply proto.Message) error {
	req, err := protojson.Marshal(msg)
	if err != nil {
		return fmt.Errorf("%w: encoding the request: %w", api.ErrInvalidArgument, err)
	}
	out, err := c.CallRaw(ctx, kind, identity, req)
	if err != nil {
		return err
	}
	if err := protojson.Unmarshal(out.Result, reply); err != nil {
		return fmt.Errorf("%w: decoding the grain's reply: %w", api.ErrInternal, err)
	}
	return nil
}

// CallTyped calls a typed grain: Req and Resp are Go types (JSON) or proto
// messages (protojson), as the grain kind declares them.
func CallTyped[Req, Resp any](ctx context.Context, c *Client, kind, identity string, req Req) (Resp, *api.GrainReply, error) {
	var zero Resp
	in, out := actors.CodecFor[Req](), actors.CodecFor[Resp]()
	body, err := in.Encode(req)
	if err != nil {
		return zero, nil, fmt.Errorf("%w: encoding the request: %w", api.ErrInvalidArgument, err)
	}
	reply, err := c.CallRaw(ctx, kind, identity, body)
	if err != nil {
		return zero, reply, err
	}
	resp, err := out.Decode(reply.Result)
	if err != nil {
		return zero, reply, fmt.Errorf("%w: decoding the grain's reply: %w", api.ErrInternal, err)
	}
	return resp, reply, nil
}

// Members lists the cluster's members as the node sees them.
func (c *Client) Members(ctx context.Context) ([]api.Member, error) {
	var out api.MemberList
	if err := c.do(ctx, http.MethodGet, "/v1/members", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Members, nil
}

// Kinds lists the task and grain kinds the node hosts, with their defaults.
func (c *Client) Kinds(ctx context.Context) ([]api.Kind, error) {
	var out api.KindList
	if err := c.do(ctx, http.MethodGet, "/v1/kinds", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Kinds, nil
}
