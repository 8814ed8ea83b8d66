package grains

import (
	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/messages"
)

// localRequest is a grain request sent to this member's own router, with
// its payload already decoded. A typed kind's request is decoded when
// the caller checks it (actors.GrainKind.Check: a bad one is refused
// before it goes anywhere), and an activation on another member must
// decode the bytes again; one in this process takes the value instead
// (actors.DecodedReceiver), so the request is decoded once. Messages to
// the process's own address never leave it, so this one, not a proto
// message, needs no encoding. Only a call's first try carries the value:
// a handler may change what it is given, and a try whose answer was
// replaced (the member fenced while the handler ran) is retried with the
// bytes as sent.
type localRequest struct {
	req     *messages.GrainRequest
	decoded any
}

// message is what sendTo sends for req to member at addr: req itself, or
// with decoded (not nil) and member this process, a localRequest.
func (h *Host) message(req *messages.GrainRequest, decoded any, member, addr string) any {
	if decoded == nil || member != h.cfg.Member || addr != h.sys.Address() {
		return req
	}
	return &localRequest{req: req, decoded: decoded}
}

// receive runs the grain's handler on req: on its decoded payload if the
// caller left one and the grain takes it, else on the bytes.
func (a *activation) receive(gc actors.GrainContext, req *messages.GrainRequest, decoded any) ([]byte, error) {
	if decoded != nil {
		if d, ok := a.grain.(actors.DecodedReceiver); ok {
			return d.ReceiveDecoded(gc, decoded)
		}
	}
	return a.grain.Receive(gc, req.GetPayload())
}
