// Package netproxy is a small TCP proxy for fault-injection tests.
//
// Integration tests put a Proxy between a node and the service it talks to
// (usually the Consul agent) and then cut the link to simulate a network
// partition: Sever closes every live connection and makes new ones fail
// (they are accepted and closed at once, so a client sees EOF or a reset
// promptly rather than hanging on a dial time-out); Restore heals the link.
//
//	agent := testconsul.Start(t, testconsul.Options{})
//	p, err := netproxy.New("127.0.0.1:0", agent.HTTPAddr())
//	if err != nil {
//		t.Fatal(err)
//	}
//	t.Cleanup(func() { p.Close() })
//
//	node := startNode(t, p.Addr()) // the node reaches Consul only through p
//	p.Sever()                      // partition: the node loses Consul
//	// ... assert the node fences itself ...
//	p.Restore()                    // heal
//
// Every goroutine a Proxy starts is tracked; Close stops them all and waits,
// so a test that closes its proxies leaks nothing.
package netproxy
