package placement_test

import (
	"fmt"

	"github.com/granary-rt/granary/cluster/placement"
)

func ExampleOwner() {
	members := []placement.Member{
		{ID: "node-1", Kinds: []string{"counter", "whoami"}},
		{ID: "node-2", Kinds: []string{"counter"}},
		{ID: "node-3", Kinds: []string{"counter", "whoami"}},
	}
	for _, who := range []string{"alice", "bob", "carol"} {
		owner, _ := placement.Owner(members, "counter", who)
		fmt.Printf("counter/%s -> %s\n", who, owner)
	}
	// node-2 does not host whoami, so it is never picked for it.
	owner, _ := placement.Owner(members, "whoami", "alice")
	fmt.Println("whoami/alice ->", owner)
	// Nobody hosts "ledger".
	_, ok := placement.Owner(members, "ledger", "alice")
	fmt.Println("ledger hosted:", ok)
	// Output:
	// counter/alice -> node-1
	// counter/bob -> node-3
	// counter/carol -> node-3
	// whoami/alice -> node-3
	// ledger hosted: false
}

func ExampleRanked() {
	members := []placement.Member{
		{ID: "node-1", Kinds: []string{"counter"}},
		{ID: "node-2", Kinds: []string{"counter"}},
		{ID: "node-3", Kinds: []string{"counter"}},
	}
	fmt.Println(placement.Ranked(members, "counter", "bob"))

	// When the owner dies, the next in line takes over; nobody else moves.
	survivors := []placement.Member{members[0], members[1]}
	owner, _ := placement.Owner(survivors, "counter", "bob")
	fmt.Println("after node-3 dies:", owner)
	// Output:
	// [node-3 node-1 node-2]
	// after node-3 dies: node-1
}

func ExampleTable() {
	table := placement.NewTable([]placement.Member{
		{ID: "127.0.0.1:7001", Kinds: []string{"counter"}},
		{ID: "127.0.0.1:7002", Kinds: []string{"counter"}},
		{ID: "127.0.0.1:7003", Kinds: []string{"counter"}},
	})
	for _, who := range []string{"alice", "user-42"} {
		owner, _ := table.Owner("counter", who)
		fmt.Printf("counter/%s -> %s\n", who, owner)
	}
	// Output:
	// counter/alice -> 127.0.0.1:7003
	// counter/user-42 -> 127.0.0.1:7002
}
