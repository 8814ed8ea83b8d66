package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"unicode/utf8"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/errs"
	"github.com/granary-rt/granary/cluster/grains"
	"github.com/granary-rt/granary/messages"
)

// The grain route (POST /v1/grains/{kind}/{id}) is the API's hottest: a
// grain call is tens of microseconds of work, so what the route itself
// does to the bytes shows. It reads the body into one buffer of its
// declared length, checks it is JSON (one pass: what a typed grain's
// codec makes of it is the grain's business, on the member that decodes
// it), and writes the answer in one pass too, byte for byte what
// encoding/json writes for api.GrainReply (TestGrainReplyIsUnchanged,
// FuzzGrainReply), without json.Valid's pass, the reflection and the
// copies.

func (h *handler) grain(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Grains == nil {
		h.fail(w, r, fmt.Errorf("%w: this node serves no grains", api.ErrNotFound))
		return
	}
	body, err := readBody(w, r, h.cfg.MaxBodyBytes)
	if err != nil {
		h.fail(w, r, fmt.Errorf("%w: reading the request: %w", api.ErrInvalidArgument, err))
		return
	}
	if len(body) > 0 && (!json.Valid(body) || !utf8.Valid(body)) {
		h.fail(w, r, fmt.Errorf("%w: the request body is not valid JSON in UTF-8", api.ErrInvalidArgument))
		return
	}
	resp, err := h.cfg.Grains.CallOnce(r.Context(), r.PathValue("kind"), r.PathValue("id"), r.URL.Query().Get("request_id"), body)
	if err != nil {
		if errors.Is(err, grains.ErrResourceExhausted) {
			w.Header().Set("Retry-After", grainRetryAfter)
		}
		h.fail(w, r, grainErr(err))
		return
	}
	h.replyGrain(w, resp) // api.GrainReply, in one pass (grain.go)
}

// grainErr maps grain call errors onto the API's error codes. The grain
// sentinels are the API's (cluster/errs), so only a call cut off by its
// context needs one: the grain may have processed it, so no retry.
func grainErr(err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		if errs.Of(err).Err == errs.ErrInternal {
			return fmt.Errorf("%w: %w", api.ErrDeadlineExceeded, err)
		}
	}
	return err
}

// grainRetryAfter is the Retry-After of a grain call refused at a limit
// (activations per member, a grain's queue): one second, long enough for
// idle activations to be deactivated or a queue to drain, short for a
// client.
const grainRetryAfter = "1"

// readBody reads a request body of at most limit bytes, as
// io.ReadAll(http.MaxBytesReader(w, r.Body, limit)) does, but into one
// buffer of the body's declared length when it has one (no growing and
// copying, no 512-byte minimum).
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, limit)
	n := r.ContentLength
	if n <= 0 || n > limit {
		return io.ReadAll(body) // unknown length, or refused by MaxBytesReader
	}
	buf := make([]byte, n)
	for read := 0; read < len(buf); {
		m, err := body.Read(buf[read:])
		read += m
		if err == io.EOF {
			return buf[:read], nil
		}
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// replyBufs hold answers while they are written; answers larger than
// maxPooledReply are not kept (one large answer must not pin its buffer).
var replyBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledReply = 64 << 10

// replyGrain answers 200 with resp as api.GrainReply: the payload as
// "result" when it is JSON (compacted, HTML characters escaped, as
// encoding/json writes a json.RawMessage), else as "result_base64";
// neither when it is empty (api.JSONOrBase64).
func (h *handler) replyGrain(w http.ResponseWriter, resp *messages.GrainResponse) {
	b := replyBufs.Get().(*bytes.Buffer)
	b.Reset()
	b.WriteByte('{')
	if p := resp.GetPayload(); len(p) > 0 {
		b.WriteString(`"result":`)
		start := b.Len()
		if err := json.Compact(b, p); err != nil {
			b.Truncate(start - len(`"result":`))
			b.WriteString(`"result_base64":"`)
			b.Write(base64.StdEncoding.AppendEncode(b.AvailableBuffer(), p))
			b.WriteByte('"')
		} else if out := b.Bytes()[start:]; bytes.ContainsAny(out, "<>&\u2028\u2029") {
			compact := bytes.Clone(out)
			b.Truncate(start)
			json.HTMLEscape(b, compact)
		}
		b.WriteByte(',')
	}
	b.WriteString(`"member":`)
	writeJSONString(b, resp.GetMember())
	b.WriteString(`,"activation_id":`)
	writeJSONString(b, resp.GetActivationId())
	b.WriteString("}\n")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
	if b.Cap() <= maxPooledReply {
		replyBufs.Put(b)
	}
}

// writeJSONString writes s as encoding/json does (HTML characters
// escaped): quoted as it is when no byte needs escaping, which member
// names and activation ids never do, else through json.Marshal.
func writeJSONString(b *bytes.Buffer, s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			b.Write(q)
			return
		}
	}
	b.WriteByte('"')
	b.WriteString(s)
	b.WriteByte('"')
}
