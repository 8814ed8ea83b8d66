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
// Durable state: a kind made with actors.GrainWithState loads its record
// from Config.State on activation and writes it, fenced by its claim and
// version, before its answer leaves. Config.State is a grainstate.Store
// (package cluster/grainstate holds the contract, the Consul and bbolt
// stores, and their conformance suite); LocalState keeps it in memory.
// Reminders are indexed in the same writes when the store is a
// grainstate.ReminderStore.
//
// Delivery: a call is retried only when its message was certainly not
// processed (the member is gone, not the owner, fenced or leaving); a
// handler's error is returned as is. A call in flight to a member that leaves
// the view fails over at once instead of waiting out its time-out.
//
// Bounds: an activation runs its handler off its actor, under a time-out
// (Config.HandlerTimeout, or the kind's actors.HandlerTimeout), and
// abandons a handler still running Config.AbandonGrace after its context
// ended (the activation is replaced; the handler's late state and answer
// are dropped). It queues at most MaxQueued requests and MaxQueuedBytes
// of payload, and answers a request whose caller's deadline passed before
// its turn without running it. A member holds at most MaxActivations;
// past ActivationHighWater, new activations first deactivate the least
// recently used idle ones. Refusals are ErrResourceExhausted (HTTP 429).
package grains
