package api_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/api"
)

func TestDurationJSON(t *testing.T) {
	type holder struct {
		D api.Duration  `json:"d"`
		P *api.Duration `json:"p,omitempty"`
	}
	out, err := json.Marshal(holder{D: api.Duration(1500 * time.Millisecond)})
	if err != nil || string(out) != `{"d":"1.5s"}` {
		t.Fatalf("marshal: %s, %v", out, err)
	}
	for in, want := range map[string]time.Duration{`{"d":"1.5s"}`: 1500 * time.Millisecond, `{"d":"2m\u0030s"}`: 2 * time.Minute, `{"d":"0s"}`: 0} {
		var h holder
		if err := json.Unmarshal([]byte(in), &h); err != nil || time.Duration(h.D) != want {
			t.Errorf("unmarshal %s: %v, %v; want %v", in, time.Duration(h.D), err, want)
		}
	}
	for in, msg := range map[string]string{`{"d":15}`: `duration must be a string such as "1.5s", got 15`, `{"d":"soon"}`: `duration "soon": time: invalid duration`} {
		var h holder
		if err := json.Unmarshal([]byte(in), &h); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("unmarshal %s: error %v, want one saying %s", in, err, msg)
		}
	}
}
