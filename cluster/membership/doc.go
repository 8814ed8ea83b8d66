// Package membership makes a node a member of a Granary cluster through
// Consul, and tells it who else is alive.
//
// Consul (Raft, CP) is the one membership truth. A member is a node that
// holds its member key, granary/<cluster>/members/<node id>, under its
// live session, and whose registration of the service "granary-"+Cluster
// passes every check, granary's lease and health checks among them; its
// addresses come from the key (see roster.go). A registration alone,
// which anyone with service:write can make, is no member. Join registers
// the node with two checks and starts four goroutines:
//
//   - the lease loop renews a TTL check every RenewInterval, re-registers
//     the node if Consul forgot it (a dev agent restart, a long partition),
//     creates the node's session whenever it has none, and takes the
//     member key under it;
//   - the fence watchdog decides, from the time of the last successful
//     renewal alone, whether the node must stop working (self-fencing);
//   - two view watchers follow the passing registrations and the member
//     keys with blocking queries, and publish the members both support.
//
// None of them ever gives up or panics because Consul is unreachable or
// restarting: they back off with jitter and carry on when it answers.
//
//	cfg := membership.DefaultConfig()
//	cfg.Cluster, cfg.NodeID = "prod", "node-1"
//	cfg.Addr, cfg.HTTPAddr = "10.0.0.1:7000", "10.0.0.1:8080" // HTTPAddr must serve /healthz already
//	cfg.Kinds = []string{"counter", "whoami"}
//	cfg.OnFence = func() { activations.StopAll() } // must return quickly
//	m, err := membership.Join(ctx, cfg)
//	if err != nil {
//		return err // errors.Is(err, membership.ErrUnavailable) after ctx ended
//	}
//	defer m.Leave(context.Background())
//	views, cancel := m.Watch()
//	defer cancel()
//	for v := range views {
//		placement.Update(v.Members) // healthy members, sorted by ID
//	}
//
// # Two checks, one session
//
// The TTL check is the node's lease: it says the process runs and reaches
// Consul. The HTTP check polls http://HTTPAddr/healthz (HealthPath), whose
// handler should do a real actor round trip, so a "fake-dead" node (process
// alive, actor system wedged) goes critical too. Views list only members
// whose checks all pass, including the agent's own serfHealth.
//
// The session (Session) is tied to serfHealth and both service checks, with
// behaviour "release" and a 1s lock-delay. Locks taken with it (activation
// locks, singleton leadership) are released as soon as any of those checks
// goes critical. "release" rather than "delete" keeps a lock key, and the
// fencing epoch its value holds, after its holder dies. The lock-delay is
// short because the node fences itself before its lease can lapse (see
// below), so the delay only has to cover requests already in flight. Note
// that lock-delay blocks every session, including the same node's next one.
//
// # Self-fencing
//
// A node is fenced (Fenced true, Session ""; OnFence called once) when
//
//   - its last successful renewal, timed when the request was sent, is
//     FenceAfter old. The send time is no later than the moment Consul's
//     TTL timer restarted, so with FenceAfter < TTL the node stops before
//     Consul can declare it critical. The watchdog ticks every
//     (TTL-FenceAfter)/4, independently of the renewal requests, so a hung
//     request cannot delay the fence; or
//   - Consul invalidated its session (the node watches it with a blocking
//     query), e.g. because /healthz failed: the rest of the cluster already
//     treats the node as dead.
//
// A fenced node must stop executing and committing durable work. It keeps
// renewing; once a renewal succeeds it destroys its old session (Consul may
// or may not have invalidated it yet), creates a new one, and unfences
// (OnUnfence). It rejoins every view by itself. Whenever Fenced is false,
// Session is non-empty.
//
// # Fencing across pauses
//
// A process can stop at any instruction for longer than its lease (GC, a
// stopped VM, SIGSTOP) and wake up with every goroutine believing what it
// believed before. The watchdog's flag, and the OnFence call, come on its
// next tick, after whatever else the scheduler runs first. So Fenced,
// CheckLease and Session never answer from the flag alone: they also
// compare, at the moment they are called, the monotonic time since the
// send time of the last renewal Consul acknowledged with FenceAfter. Ask
// right before each effect (handle a message, reply, commit); it costs an
// atomic load and a clock read. A renewal sent after the lease had expired
// revives nothing: Consul may have invalidated the session meanwhile, so
// the node stays fenced until the watchdog fences it and a new session
// unfences it. What remains is a pause between the check and its effect;
// durable effects are check-and-set against the claim for that reason.
//
// # Defaults and the failover timeline
//
// TTL 2s, RenewInterval 500ms, FenceAfter 1.75s, HTTP check every 1s with a
// 1s time-out, lock-delay 1s, DeregisterCriticalAfter 1m (Consul's minimum;
// its reaper runs about every 30s, so a dead registration goes after 1m to
// 1.5m), blocking-query wait 30s, retries 100ms..5s with full jitter.
// DefaultConfig explains each. With them, after kill -9 of a node:
//
//	t=0          the process dies; renewals stop, /healthz refuses connections
//	t<=1s        the HTTP check's next run fails: the service goes critical
//	t<=2s        otherwise (machine gone, /healthz hangs) the TTL lapses
//	same moment  Consul invalidates the session, releasing its locks
//	+ms          every watcher's blocking query returns: the node leaves all views
//
// Measured on loopback (one dev agent, -race, two shared cores, 9 runs
// each): a killed node (refused /healthz and no renewals) left the other
// views 0.46-1.41s after the kill, depending on where the HTTP check's
// interval stood; a node cut off from Consul while /healthz still answered
// (only the TTL can tell) fenced itself 1.40-1.80s after the cut and left
// the other views 0.20-0.24s later, 1.62-2.01s after the cut.
//
// A partitioned node sees the same timeline from the inside: it fences at
// FenceAfter (1.75s) after its last successful renewal, at most 1.81s,
// always before the others' views drop it at TTL (2s) or later.
//
// # Consul behaviours this package relies on or works around
//
//   - A blocking query whose index is above the agent's current index (a
//     dev agent restarted with empty state) blocks for the whole wait even
//     though the state changed. After any error the watchers therefore
//     start again from index 0; an index that goes backwards also resets
//     to 0, and an answered index of 0 becomes 1, as Consul advises.
//   - Renewing an unknown check answers 404; the node then registers again.
//   - A session cannot be created while one of its checks is critical:
//     right after registration (the HTTP check starts critical until its
//     first run, up to one interval later) and right after a renewal
//     revived the TTL check (the catalog catches up a moment later). The
//     lease loop retries quickly (100ms, growing to RenewInterval).
//   - A zero LockDelay is omitted by the api package and becomes Consul's
//     15s default, so Validate refuses it.
//   - After a server agent restarts, even agent-local calls such as a
//     check update hang until the agent's first anti-entropy sync, seconds
//     after its HTTP port opens; meanwhile the restored TTL checks expire.
//     Nodes therefore fence during a Consul restart of more than about
//     FenceAfter and recover one to four seconds after Consul is back.
//   - A node restarted within its TTL would find the previous run's
//     session still valid (its checks pass again) and holding its locks;
//     Join destroys every session carrying this node's session name first.
package membership
