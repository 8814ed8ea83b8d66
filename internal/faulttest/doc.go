// Package faulttest reproduces, with real processes, the faults that fault
// campaigns found, so each stays fixed. A test here starts a real Consul
// agent (internal/testconsul) and real `granary node` processes
// (internal/testnode), injects the fault from outside the process (a
// signal, a severed connection), records every call it makes as a History
// and checks the history rather than single answers: a fault shows up as
// an ordering no correct cluster could produce.
//
//	var h faulttest.History
//	h.Add(faulttest.Answer{Identity: "id-1", Sent: sent, Answered: time.Now(), Activation: act})
//	for _, v := range h.StaleAnswers() {
//		t.Errorf("%s", v)
//	}
//
// The tests need a consul binary (see testconsul) and are skipped under
// `go test -short`.
package faulttest
