// Package kvtxn lets concurrent writers share Consul KV transactions: each
// writer submits its operations as one unit (they commit together or not
// at all), and a few workers send whatever units are waiting in one
// transaction, so one Raft commit and one fsync serve many writers. Task
// records (cluster/store/consulstore) and grain state
// (cluster/grainstate/consulstate) are written this way.
//
// A Consul transaction is all-or-nothing, yet one writer's refused
// check-and-set (or session check) must not fail the others sharing its
// transaction: when a transaction fails, the units its errors point at
// (by OpIndex) get their refusal, and the rest are sent again without
// them.
//
// A batcher sends its transactions through consul/api's KV.Txn, or, with
// Config.Endpoint (EndpointOf an api.Config), encodes them itself: grain
// state writes do, where the encoding was a fair share of a write's cost.
//
//	b := kvtxn.New(client.KV(), kvtxn.DefaultConfig())
//	defer b.Close()
//	res := b.Do(ctx, api.KVTxnOps{{Verb: api.KVCAS, Key: "k", Value: v, Index: 7}})
//	switch {
//	case res.Err != nil: // Consul not reached, or ctx ended: the write may have landed
//	case !res.OK:        // refused: res.Errors says which operation and why
//	default:             // committed: res.Results[0].ModifyIndex is k's new index
//	}
package kvtxn
