package api

import (
	"encoding/json"
	"testing"
)

// FuzzDuration: any JSON is refused with an error or read as a duration
// that writes back to the same duration.
func FuzzDuration(f *testing.F) {
	for _, s := range []string{`"1.5s"`, `"-3h"`, `"0"`, `12`, `"1e9h"`, `"\u0031s"`, `null`, `"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Duration
		if err := d.UnmarshalJSON(b); err != nil {
			return
		}
		out, err := json.Marshal(d)
		if err != nil {
			t.Fatalf("%s read as %v, which does not write: %v", b, d, err)
		}
		var back Duration
		if err := json.Unmarshal(out, &back); err != nil || back != d {
			t.Fatalf("%s read as %v, written %s, read back %v (%v)", b, d, out, back, err)
		}
	})
}

// FuzzSubmitRequest: any body decodes into a request or is refused,
// without panicking, and a request that decodes encodes again.
func FuzzSubmitRequest(f *testing.F) {
	for _, s := range []string{
		`{"kind":"echo","payload":{"a":1}}`,
		`{"id":"x","kind":"k","policy":{"max_attempts":3,"backoff_initial":"1ms","jitter":"full"},"labels":{"a":"b"},"job_restart_period":"1h"}`,
		`{"kind":"k","policy":{"deadline":"-1s"}}`, `[]`, `{"payload":`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var req SubmitRequest
		if err := json.Unmarshal(b, &req); err != nil {
			return
		}
		if _, err := json.Marshal(req); err != nil {
			t.Fatalf("%s decoded into %+v, which does not encode: %v", b, req, err)
		}
	})
}
