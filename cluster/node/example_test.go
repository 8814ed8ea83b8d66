package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/node"
)

// An application's own task kind on an embedded node, called through the
// node's client.
func Example() {
	upper := actors.MustTask("upper", func(_ actors.TaskContext, s string) (string, error) {
		return strings.ToUpper(s), nil
	})
	reg := actors.NewRegistry()
	if err := reg.RegisterTask(upper); err != nil {
		panic(err)
	}
	dir, _ := os.MkdirTemp("", "granary-example-")
	defer os.RemoveAll(dir)

	cfg := node.DefaultConfig()
	cfg.Registry, cfg.DataDir = reg, dir
	cfg.HTTPAddr = "127.0.0.1:0" // any free port
	n, err := node.New(cfg)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := n.Start(ctx); err != nil {
		panic(err)
	}
	defer n.Stop(ctx)

	st, err := n.Client().SubmitAndWait(ctx, api.SubmitRequest{Kind: "upper", Payload: json.RawMessage(`"grain"`)}, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(st.State, string(st.Result))
	// Output: completed "GRAIN"
}
