package api

import (
	"errors"
	"fmt"
	"testing"

	"github.com/granary-rt/granary/messages"
)

// TestCodesRoundTrip: every sentinel crosses between members (protobuf
// code) and to clients (HTTP) and comes back as itself.
func TestCodesRoundTrip(t *testing.T) {
	seen := map[messages.ErrorCode]bool{}
	for _, c := range codes {
		err := fmt.Errorf("task t1: %w", c.err)
		code, msg := ToCode(err)
		if code == messages.ErrorCode_ERROR_CODE_UNSPECIFIED || seen[code] {
			t.Fatalf("%v: code %v is unspecified or shared", c.err, code)
		}
		seen[code] = true
		back := FromCode(code, msg)
		if !errors.Is(back, c.err) || back.Error() != err.Error() {
			t.Errorf("%v: came back between members as %v", c.err, back)
		}
		status, body := ToWire(err)
		if back := FromWire(status, body); !errors.Is(back, c.err) {
			t.Errorf("%v: came back over HTTP as %v", c.err, back)
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
