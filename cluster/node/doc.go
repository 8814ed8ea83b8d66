// Package node is a Granary node as a library: the value an application
// makes to host its own task and grain kinds, as a Temporal worker or an
// Orleans silo host is.
//
// A node assembles everything a member runs: an actor system (with gRPC
// remoting in a cluster), the grain host and its directory of activations,
// the task manager over a durable store, the reconciler that adopts the
// tasks of members that leave, membership through Consul (a lease,
// self-fencing, views), and the HTTP/JSON API that clients, the CLI and
// other members use. The stock `granary` binary is one application of it
// (package cmd/granary/app); a team's binary is another.
//
// Two modes, one type:
//
//   - embedded (Config.Consul nil): one member, tasks in a bbolt file under
//     DataDir, grains in this process. What `granary dev` runs; needs
//     nothing else.
//   - cluster (Config.Consul set): a member of the cluster named Cluster,
//     found by the others through Consul; tasks in Consul KV; BindAddr is
//     where the other members reach it. What `granary node` runs.
//
// A minimal application:
//
//	reg := actors.NewRegistry()
//	if err := reg.RegisterTask(resize); err != nil { ... }
//	cfg := node.DefaultConfig() // embedded, HTTP on 127.0.0.1:8080
//	cfg.Registry = reg
//	n, err := node.New(cfg)     // checks cfg: ErrInvalidConfig
//	if err := n.Start(ctx); err != nil { ... }
//	defer n.Stop(context.Background()) // graceful: drains within DrainTimeout
//	st, err := n.Client().Submit(ctx, api.SubmitRequest{Kind: "resize", ...})
//
// For a cluster member, also:
//
//	cfg.Cluster = "prod"
//	cfg.Consul = node.ConsulConfig("")   // CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN, ...
//	cfg.BindAddr = "10.0.0.1:7000"
//
// Start returns once the node serves; in a cluster, once it has joined,
// waiting for Consul meanwhile (with backoff, logging what it waits for)
// until its context ends or JoinTimeout passes. Stop leaves gracefully:
// grains hand off, running attempts may finish, the member leaves Consul,
// the API closes. Several nodes can run in one process (each with its own
// actor system and ports), which is how tests make multi-member clusters
// without a process per member.
//
// Every node serves Prometheus metrics at GET /metrics on its HTTP address
// (Config.Metrics, on by default; a read token with Tokens), from a
// registry of its own (package metrics), never the process-wide default,
// so nodes sharing a process each report their own.
package node
