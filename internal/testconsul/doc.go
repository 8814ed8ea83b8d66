// Package testconsul runs a real Consul agent for one test.
//
// Granary's integration tests exercise membership, sessions and KV
// check-and-set against a real agent rather than a fake, because the
// behaviour under test (leader election, lock-delay, blocking queries,
// persistence across a restart) is Consul's own. Start launches the agent
// on free loopback ports, waits until it has a leader and accepts KV
// writes, and registers a t.Cleanup that stops it even when the test fails;
// a failed test also gets the tail of the agent's log.
//
//	func TestSomething(t *testing.T) {
//		agent := testconsul.Start(t, testconsul.Options{})
//		kv := agent.Client().KV()
//		if _, err := kv.Put(&api.KVPair{Key: "k", Value: []byte("v")}, nil); err != nil {
//			t.Fatal(err)
//		}
//	}
//
// Mode Dev is an in-memory agent (`consul agent -dev`) and starts in well
// under a second. Mode Server is a disk-backed single server that keeps its
// data across Restart, for tests of what survives a Consul restart:
//
//	agent := testconsul.Start(t, testconsul.Options{Mode: testconsul.Server})
//	// ... write state ...
//	agent.Restart(t) // same ports, same data directory
//
// StartQuorum runs Consul as operators do: three servers in a Raft quorum,
// each on its own loopback address, and AddClient a client agent per
// member host, which the member talks to. Quorum has the helpers of fault
// tests: Leader and WaitLeader, PauseServers (SIGSTOP; two of three take
// the quorum away) and ResumeAll; each Agent has Kill, Stop, Restart,
// Pause and Resume:
//
//	q := testconsul.StartQuorum(t, testconsul.QuorumOptions{})
//	local := q.AddClient(t)
//	q.WaitLeader(t, 30*time.Second).Kill() // a new leader in about 1.5s
//
// The agent binary comes from Binary: $CONSUL_BIN, then bin/consul in the
// module root (built by `make consul`), then `consul` on PATH. Without one,
// Start fails the test, or skips it under `go test -short`.
package testconsul
