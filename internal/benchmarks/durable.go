package benchmarks

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testnode"
	consul "github.com/hashicorp/consul/api"
)

// DurableThroughput submits echo tasks through two `granary node`
// processes sharing one disk-backed Consul server, from 32 callers (as
// many as the raw baseline's writers), and waits for each committed result:
// tasks/s end to end.
func DurableThroughput(b *testing.B) { DurableThroughputCallers(b, Callers) }

// DurableThroughputCallers is DurableThroughput with the given number of
// concurrent callers: a task waits for two durable writes in turn where a
// raw put waits for one, so it takes more callers to keep Consul as busy.
func DurableThroughputCallers(b *testing.B, callers int) { durableThroughput(b, callers, false) }

// DurableThroughputMetrics is DurableThroughputCallers with the nodes'
// Prometheus metrics on (the default) or off (--metrics=false).
func DurableThroughputMetrics(b *testing.B, callers int, on bool) {
	durableThroughput(b, callers, false, fmt.Sprintf("--metrics=%t", on))
}

// DurableThroughputSecure is DurableThroughputCallers on a secured
// cluster, as README's "Securing a cluster" sets one up: the members'
// remoting is mutual TLS from a cluster CA, their APIs serve TLS and want
// a bearer token, and the callers' clients trust the CA and send a write
// token.
func DurableThroughputSecure(b *testing.B, callers int) { durableThroughput(b, callers, true) }

func durableThroughput(b *testing.B, callers int, secure bool, nodeArgs ...string) {
	agent := testconsul.Start(b, testconsul.Options{Mode: testconsul.Server})
	var n1, n2 durableNode
	if secure {
		sec := newClusterSecurity(b)
		n1, n2 = sec.node(b, agent.HTTPAddr(), "b1"), sec.node(b, agent.HTTPAddr(), "b2")
	} else {
		n1, n2 = plainNode(b, agent.HTTPAddr(), "b1", callers, nodeArgs...), plainNode(b, agent.HTTPAddr(), "b2", callers, nodeArgs...)
	}
	runDurable(b, callers, [2]durableNode{n1, n2}, agent.PID())
}

// runDurable submits echo tasks through the two nodes from callers
// concurrent callers and waits for each committed result (tasks/s), with
// the CPU of the callers, the nodes and the Consul processes consulPIDs.
func runDurable(b *testing.B, callers int, nodes [2]durableNode, consulPIDs ...int) {
	// One client per node, shared by the callers as an application would
	// share it: a client per call would dial a connection per call. The
	// clients route (each submit goes straight to its owner) and coalesce
	// (concurrent submits to one node share requests).
	clients := [2]*client.Client{clientFor(b, nodes[0].client), clientFor(b, nodes[1].client)}
	ctx := context.Background()
	cpu := &cpuMeter{}
	cpu.add("caller", 0)
	cpu.add("nodes", nodes[0].pid, nodes[1].pid)
	cpu.add("consul", consulPIDs...)
	parallelN(b, callers, durableWarmup, cpu, func(i int) error {
		// The id is the client's, as for an application that does not
		// name its tasks: new, and said to be (api.SubmitRequest.Fresh).
		st, err := clients[i%2].SubmitAndWait(ctx, api.SubmitRequest{Kind: "echo", Payload: json.RawMessage(`{"n":1}`)}, nil)
		if err == nil && st.State != api.StateCompleted {
			err = fmt.Errorf("task %s ended %s", st.ID, st.State)
		}
		return err
	})
}

// durableNode is a `granary node` process of the durable benchmarks and
// how its callers' client reaches it.
type durableNode struct {
	pid    int
	client client.Config
}

// plainNode starts a node without TLS or tokens, as `granary node` runs on
// loopback by default.
func plainNode(b *testing.B, consulAddr, id string, callers int, args ...string) durableNode {
	return plainNodeIn(b, "bench", consulAddr, id, callers, args...)
}

// plainNodeIn is plainNode in the named cluster.
func plainNodeIn(b *testing.B, cluster, consulAddr, id string, callers int, args ...string) durableNode {
	n := testnode.ClusterNode(b, cluster, consulAddr, id, append([]string{"--log-level", "warn"}, args...)...)
	// A connection per caller kept alive.
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: callers}}
	return durableNode{pid: n.PID(), client: client.Config{Addr: n.HTTP, HTTPClient: hc}}
}

// durableWarmup tasks (or puts) run before the clock starts, on both
// sides: a fresh Consul server and fresh nodes spend their first seconds
// growing heaps, stacks, connection pools and batches, which a short round
// would otherwise count against whichever side has more of them.
const durableWarmup = 2000

// clientFor is a routing, coalescing client made from cfg, once both
// nodes list each other.
func clientFor(b *testing.B, cfg client.Config) *client.Client { return clientOf(b, cfg, 2) }

// ConsulKVWrites is the raw baseline: single-key Consul KV puts from 32
// writers against a disk-backed server like DurableThroughput's.
func ConsulKVWrites(b *testing.B) { ConsulKVWritesN(b, Callers) }

// ConsulKVWritesN is ConsulKVWrites with the given number of writers.
func ConsulKVWritesN(b *testing.B, writers int) {
	agent := testconsul.Start(b, testconsul.Options{Mode: testconsul.Server})
	kvPuts(b, writers, agent.Client().KV(), agent.PID())
}

// kvPuts is the raw baseline's body: single-key puts of a task record's
// size through kv from writers concurrent writers, with the CPU of the
// writers and of the Consul processes consulPIDs.
func kvPuts(b *testing.B, writers int, kv *consul.KV, consulPIDs ...int) {
	val := make([]byte, 300) // about a task record's size
	cpu := &cpuMeter{}
	cpu.add("caller", 0)
	cpu.add("consul", consulPIDs...)
	parallelN(b, writers, durableWarmup, cpu, func(i int) error {
		_, err := kv.Put(&consul.KVPair{Key: fmt.Sprintf("bench/k%d", i), Value: val}, nil)
		return err
	})
}
