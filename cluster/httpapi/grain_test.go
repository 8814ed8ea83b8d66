package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/grains"
	"github.com/granary-rt/granary/cluster/httpapi"
	"github.com/granary-rt/granary/messages"
)

// fakeGrains answers every call with answer (nil: the request's payload),
// from member and activation, and remembers the last payload it got.
type fakeGrains struct {
	answer             []byte
	member, activation string
	err                error
	calls              int
	got                []byte
}

func (f *fakeGrains) CallOnce(_ context.Context, _, _, _ string, payload []byte) (*messages.GrainResponse, error) {
	f.calls++
	f.got = payload
	if f.err != nil {
		return nil, f.err
	}
	out := f.answer
	if out == nil {
		out = payload
	}
	return &messages.GrainResponse{Payload: out, Member: f.member, ActivationId: f.activation}, nil
}

func grainHandler(g httpapi.GrainService) http.Handler {
	cfg := httpapi.DefaultConfig()
	cfg.Member, cfg.Grains = "m1", g
	return httpapi.New(nil, cfg)
}

func postGrain(h http.Handler, body []byte) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/grains/counter/c1", bytes.NewReader(body)))
	return rec
}

// encoderReply is the answer as encoding/json writes api.GrainReply, the
// way the handler once built it: what clients have always been sent.
func encoderReply(payload []byte, member, activation string) []byte {
	out := api.GrainReply{Member: member, ActivationID: activation}
	out.Result, out.ResultBase64 = api.JSONOrBase64(payload)
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(out)
	return b.Bytes()
}

var grainAnswers = []string{
	``,
	`{"value":1}`,
	"  {\n\t\"value\" : [1, 2.5e3, true, null, \"x\"] }\r\n",
	`"a string"`,
	`null`,
	`12`,
	`{"html":"<b>&amp;</b>","sep":"\u2028\u2029"}`,
	"{\"raw\":\"\u2028 \u2029 é 日本\"}",
	`{"esc":"\"\\\/\b\f\n\r\t\u0000"}`,
	`{"broken":`,
	`not json`,
	"\xff\xfe binary \x00",
	"\"\xff\"",
	`{} {}`,
}

// TestGrainReplyIsUnchanged: the grain route's answer is byte for byte
// what encoding/json writes for api.GrainReply, for answers that are
// JSON (any whitespace, HTML characters, line separators), not JSON
// (base64) or empty, and members and activation ids that need escaping.
func TestGrainReplyIsUnchanged(t *testing.T) {
	names := []string{"n1", "a-0123456789abcdef", `q"uote\`, "<m&m>", "tab\there", "é", "\xff", "\u2028", ""}
	for _, answer := range grainAnswers {
		for _, name := range names {
			g := &fakeGrains{answer: []byte(answer), member: name, activation: "a-" + name}
			if answer == "" {
				g.answer = []byte{}
			}
			rec := postGrain(grainHandler(g), []byte(`{"op":"get"}`))
			want := encoderReply([]byte(answer), name, "a-"+name)
			if rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), want) {
				t.Errorf("answer %q from %q: %d %q\nwant 200 %q", answer, name, rec.Code, rec.Body.Bytes(), want)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		}
	}
}

// FuzzGrainReply: any answer, from any member, is written as
// encoding/json would write it.
func FuzzGrainReply(f *testing.F) {
	for _, a := range grainAnswers {
		f.Add([]byte(a), "n1")
	}
	f.Fuzz(func(t *testing.T, answer []byte, member string) {
		if answer == nil {
			answer = []byte{}
		}
		g := &fakeGrains{answer: answer, member: member, activation: member}
		rec := postGrain(grainHandler(g), nil)
		if want := encoderReply(answer, member, member); !bytes.Equal(rec.Body.Bytes(), want) {
			t.Fatalf("answer %q from %q: %q, want %q", answer, member, rec.Body.Bytes(), want)
		}
	})
}

// TestGrainRequestBody: the body reaches the grain as sent; a body that
// is not JSON, or too large, is refused with the same errors as ever, and
// the grain is not called.
func TestGrainRequestBody(t *testing.T) {
	g := &fakeGrains{member: "n1"}
	h := grainHandler(g)
	for _, body := range []string{`{"op":"add","n":1}`, " [1,2] ", ""} {
		g.calls = 0
		rec := postGrain(h, []byte(body))
		if rec.Code != http.StatusOK || g.calls != 1 || string(g.got) != body {
			t.Errorf("body %q: %d, %d calls, the grain got %q", body, rec.Code, g.calls, g.got)
		}
	}
	cfg := httpapi.DefaultConfig()
	cfg.Grains, cfg.MaxBodyBytes = g, 16
	small := httpapi.New(nil, cfg)
	for _, c := range []struct {
		h    http.Handler
		body string
		want string
	}{
		{h, `{"op":`, "the request body is not valid JSON"},
		{h, `{"op":"get"} x`, "the request body is not valid JSON"},
		{small, `{"op":"a long request"}`, "reading the request: http: request body too large"},
	} {
		g.calls = 0
		rec := postGrain(c.h, []byte(c.body))
		var e api.ErrorBody
		_ = json.Unmarshal(rec.Body.Bytes(), &e)
		if rec.Code != http.StatusBadRequest || !strings.Contains(e.Error.Message, c.want) || g.calls != 0 {
			t.Errorf("body %q: %d %q, %d calls; want 400 with %q and no call", c.body, rec.Code, rec.Body.Bytes(), g.calls, c.want)
		}
	}
	// A body cut short of its Content-Length is an error, as before.
	req := httptest.NewRequest(http.MethodPost, "/v1/grains/counter/c1", io.MultiReader(strings.NewReader(`{"op"`), errReader{io.ErrUnexpectedEOF}))
	req.ContentLength = 40
	g.calls = 0
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "reading the request: unexpected EOF") || g.calls != 0 {
		t.Errorf("a short body: %d %q, %d calls", rec.Code, rec.Body.Bytes(), g.calls)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// TestGrainErrors: a grain's errors are answered as before.
func TestGrainErrors(t *testing.T) {
	g := &fakeGrains{err: errors.New("boom")}
	rec := postGrain(grainHandler(g), []byte(`{}`))
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("an error: %d %s", rec.Code, rec.Body.Bytes())
	}
}

// TestGrainRefusals: a request id reused for another request is a 409
// (as for tasks), a call refused at a grain limit a 429 with Retry-After.
func TestGrainRefusals(t *testing.T) {
	for _, tc := range []struct {
		err        error
		status     int
		code       string
		retryAfter string
	}{
		{fmt.Errorf("%w: request id \"r\" was already used", grains.ErrConflict), http.StatusConflict, "already_exists", ""},
		{fmt.Errorf("%w: member m1 is at its limit of 10 activations", grains.ErrResourceExhausted), http.StatusTooManyRequests, "resource_exhausted", "1"},
		{fmt.Errorf("%w: a reminder's delay is over the maximum", grains.ErrInvalidArgument), http.StatusBadRequest, "invalid_argument", ""},
	} {
		rec := postGrain(grainHandler(&fakeGrains{err: tc.err}), []byte(`{}`))
		var body api.ErrorBody
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code != tc.status || body.Error.Code != tc.code || rec.Header().Get("Retry-After") != tc.retryAfter {
			t.Errorf("%v: %d %s Retry-After %q; want %d %s %q", tc.err, rec.Code, rec.Body.Bytes(), rec.Header().Get("Retry-After"), tc.status, tc.code, tc.retryAfter)
		}
	}
}

// BenchmarkGrainRoute is the HTTP API's share of a grain call: the body
// read, checked and handed to the grain service (here answering at once
// with the same bytes), and the answer written.
//
//	go test -run '^$' -bench GrainRoute -benchmem ./cluster/httpapi
func BenchmarkGrainRoute(b *testing.B) {
	for _, size := range []int{37, 64 << 10} {
		body := []byte(`{"op":"echo","n":12345,"who":"bench"}`)
		if size > len(body) {
			body = []byte(fmt.Sprintf(`{"op":"echo","pad":%q}`, strings.Repeat("x", size)))
		}
		b.Run(fmt.Sprintf("bytes_%d", len(body)), func(b *testing.B) {
			h := grainHandler(&fakeGrains{member: "n1", activation: "a-0123456789abcdef"})
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(http.MethodPost, "/v1/grains/counter/c1", bytes.NewReader(body))
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatal(rec.Code)
				}
			}
		})
	}
}
