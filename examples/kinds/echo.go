package kinds

import (
	"bytes"

	"github.com/granary-rt/granary/actors"
)

// Echo returns its payload, any JSON value, byte for byte. It is the
// smallest untyped kind: raw bytes in and out, with actors.ValidJSON
// rejecting non-JSON at submit time.
//
// An absent payload is accepted and answered with null: the HTTP API stores
// both "no payload" and a payload of null as empty, and answering null keeps
// echo's result JSON in every case.
var Echo = must(actors.NewTask("echo", runEcho, actors.WithValidator(validEchoPayload), actors.WithExample(`{"hello":"world"}`)))

func runEcho(_ actors.TaskContext, payload []byte) ([]byte, error) {
	if len(payload) == 0 {
		return []byte("null"), nil
	}
	// The result outlives this call (it is stored and served); a copy keeps
	// it independent of whatever buffer the payload was read into.
	return bytes.Clone(payload), nil
}

func validEchoPayload(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	return actors.ValidJSON(p)
}
