package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/granary-rt/granary/cluster/errs"
	"github.com/granary-rt/granary/messages"
)

// TestCodesRoundTrip: every sentinel crosses between members (protobuf
// code) and to clients (HTTP) and comes back as itself.
func TestCodesRoundTrip(t *testing.T) {
	seen := map[messages.ErrorCode]bool{}
	for _, c := range errs.Table {
		err := fmt.Errorf("task t1: %w", c.Err)
		status, body := ToWire(err)
		if back := FromWire(status, body); !errors.Is(back, c.Err) || !strings.HasSuffix(back.Error(), err.Error()) {
			t.Errorf("%v: came back over HTTP as %v", c.Err, back)
		}
		if c.Proto == 0 {
			continue // an HTTP-only meaning (401, 403)
		}
		code, msg := ToCode(err)
		if code == messages.ErrorCode_ERROR_CODE_UNSPECIFIED || seen[code] {
			t.Fatalf("%v: code %v is unspecified or shared", c.Err, code)
		}
		seen[code] = true
		back := FromCode(code, msg)
		if !errors.Is(back, c.Err) || back.Error() != err.Error() {
			t.Errorf("%v: came back between members as %v", c.Err, back)
		}
	}
	if len(seen) != len(messages.ErrorCode_name)-1 {
		t.Errorf("%d sentinels have a code, the enum has %d codes", len(seen), len(messages.ErrorCode_name)-1)
	}
	if FromCode(messages.ErrorCode_ERROR_CODE_UNSPECIFIED, "") != nil {
		t.Error("no code must be no error")
	}
	if err := FromCode(messages.ErrorCode(99), "from a newer peer"); !errors.Is(err, ErrInternal) {
		t.Errorf("an unknown code came back as %v, want ErrInternal", err)
	}
	if code, _ := ToCode(errors.New("plain")); code != messages.ErrorCode_ERROR_CODE_INTERNAL {
		t.Errorf("an unclassified error has code %v, want internal", code)
	}
}

// TestTableMatchesEnums holds errs.Table's protobuf numbers (errs imports
// no protobuf) to the enums' names in messages/.
func TestTableMatchesEnums(t *testing.T) {
	grainNames := map[string]string{"handler_error": "HANDLER", "already_exists": "CONFLICT"}
	for _, w := range errs.Table {
		name := strings.ToUpper(strings.TrimSuffix(w.Code, "_error"))
		if w.Proto != 0 {
			if got := messages.ErrorCode(w.Proto).String(); got != "ERROR_CODE_"+name {
				t.Errorf("%s: Proto %d is %s in messages.ErrorCode", w.Code, w.Proto, got)
			}
		}
		if w.Grain != 0 {
			want := name
			if n, ok := grainNames[w.Code]; ok {
				want = n
			}
			if got := messages.GrainErrorCode(w.Grain).String(); got != "GRAIN_ERROR_CODE_"+want {
				t.Errorf("%s: Grain %d is %s in messages.GrainErrorCode", w.Code, w.Grain, got)
			}
		}
	}
}

// TestFromWireByStatus: an answer without a code this side knows (a proxy's,
// or 401/403 from an older node) still maps to the sentinel of its status.
func TestFromWireByStatus(t *testing.T) {
	for _, tc := range []struct {
		status int
		want   error
	}{
		{http.StatusUnauthorized, ErrUnauthenticated},
		{http.StatusForbidden, ErrPermissionDenied},
		{http.StatusNotFound, ErrNotFound},
		{http.StatusBadGateway, ErrUnavailable},
		{http.StatusInternalServerError, ErrUnavailable},
		{http.StatusTeapot, ErrInternal},
	} {
		if err := FromWire(tc.status, ErrorBody{Error: ErrorDetail{Code: "from_a_proxy"}}); !errors.Is(err, tc.want) {
			t.Errorf("HTTP %d: %v, want %v", tc.status, err, tc.want)
		}
	}
}
