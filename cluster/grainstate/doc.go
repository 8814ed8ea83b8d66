// Package grainstate is the layer that keeps grains' durable state and
// their reminder index: the contract every store meets (Store and
// ReminderStore), the bounds every store enforces alike (CheckWrite), and
// the stored layout's one shared rule, the reminder shard of a grain
// (ReminderShard). The host that uses it is cluster/grains, whose
// StateStore, ReminderStore, IndexEntry, IndexChange and ErrStateConflict
// are these types and values under the host's names.
//
// The stores, each in a package named for where it keeps the state:
//
//   - consulstate: Consul KV, beside the grain directory's claims
//     (cluster/consuldir), each write checking its claim in the same
//     transaction; concurrent writes of many grains share transactions.
//   - boltstate: the bbolt file of granary dev, in the task store's file
//     (cluster/store/boltstore) and its group commit.
//   - grains.LocalState: memory, for one process and tests.
//
// grainstatetest is their one conformance suite: a new store is a new
// grainstatetest.Run line. The package imports the standard library and
// cluster/errs only, so that a store need not import the grain host.
//
//	var st grainstate.ReminderStore = boltstate.New(tasks) // or consulstate.New(client, cluster, session)
//	v, err := st.SaveStateIndexed(ctx, "alarm", "a1", member, record, version,
//		[]grainstate.IndexChange{{Name: "wake", Due: due}})
//	if errors.Is(err, grainstate.ErrStateConflict) { /* another activation wrote it, or the claim is lost */ }
package grainstate
