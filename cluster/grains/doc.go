// Package grains runs virtual actors across a cluster: a grain identity is
// activated on its first message on one member among those hosting its kind,
// answers one message at a time, and is deactivated when idle.
//
// Each member runs a Host. Calls go to the owner that rendezvous placement
// picks from the current membership view; the owner claims the activation in
// a Directory (a Consul KV lock held by the member's session in a cluster,
// a map on a single node) before creating it, so an identity never has two
// live activations: a member that finds the claim held elsewhere answers
// NOT_OWNER with the holder, and the caller goes there. Activations already
// running stay where they are when members join; new ones use new members.
//
//	cfg := grains.DefaultConfig("n1")
//	cfg.Registry, cfg.System, cfg.Directory = reg, sys, dir
//	host, _ := grains.New(cfg)
//	_ = host.Start()
//	host.SetView([]grains.Member{{ID: "n1", Addr: sys.Address(), Kinds: host.HostedKinds()}}) // membership's view, on every change
//	resp, err := host.Call(ctx, "counter", "alice", []byte(`{"op":"add","n":1}`))
//
// Example (example_test.go) runs this on one member.
//
// Delivery: a call is retried only when its message was certainly not
// processed (the member is gone, not the owner, fenced or leaving); a
// handler's error is returned as is. A call in flight to a member that leaves
// the view fails over at once instead of waiting out its time-out.
package grains
