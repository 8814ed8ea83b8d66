package membership_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/granary-rt/granary/cluster/membership"
)

// Join a cluster, follow its members, and stop work while fenced. Not run:
// it needs a Consul agent on localhost:8500.
func ExampleJoin() {
	// Consul's HTTP check polls /healthz; serve it before joining.
	http.HandleFunc(membership.HealthPath, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK) // a real node does an actor round trip here
	})
	go http.ListenAndServe("127.0.0.1:8080", nil)

	cfg := membership.DefaultConfig()
	cfg.Cluster = "prod"
	cfg.NodeID = "node-1"
	cfg.Addr = "127.0.0.1:7000"
	cfg.HTTPAddr = "127.0.0.1:8080"
	cfg.Kinds = []string{"counter", "whoami"}
	cfg.Consul = &api.Config{Address: "127.0.0.1:8500"}
	cfg.OnFence = func() { log.Print("fenced: stopping durable work") }
	cfg.OnUnfence = func() { log.Print("unfenced: re-acquiring locks") }

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := membership.Join(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Leave(context.Background())

	views, stop := m.Watch()
	defer stop()
	for v := range views {
		for _, member := range v.Members {
			fmt.Println(v.Version, member.ID, member.Addr, member.Hosts("counter"))
		}
	}
}
