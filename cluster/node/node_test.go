package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/cluster/node"
	"github.com/granary-rt/granary/internal/testcluster"
	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/granary-rt/granary/internal/testutil"
)

type resizeIn struct {
	Tiles int `json:"tiles"`
}

type whereOut struct {
	Member     string `json:"member"`
	Activation string `json:"activation"`
}

type where struct{}

func (where) Receive(ctx actors.GrainContext, _ struct{}) (whereOut, error) {
	return whereOut{Member: ctx.MemberID(), Activation: ctx.ActivationID()}, nil
}

// appKinds is an application's registry: a task kind with a permanent
// error and a grain kind, none of them the stock kinds.
func appKinds(t testing.TB) *actors.Registry {
	t.Helper()
	reg := actors.NewRegistry()
	resize := actors.MustTask("resize", func(ctx actors.TaskContext, in resizeIn) (string, error) {
		if in.Tiles < 0 {
			return "", actors.Permanentf("%d tiles", in.Tiles)
		}
		return fmt.Sprintf("%d tiles", in.Tiles), nil
	}, actors.WithMaxAttempts(3))
	whereKind, err := actors.GrainOf("where", func() actors.TypedGrain[struct{}, whereOut] { return where{} })
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(reg.RegisterTask(resize), reg.RegisterGrain(whereKind)); err != nil {
		t.Fatal(err)
	}
	return reg
}

// start starts a node and stops it when the test ends.
func start(t *testing.T, cfg node.Config) *node.Node {
	t.Helper()
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(testutil.Context(t, 60*time.Second)); err != nil {
		t.Fatalf("starting %s: %v", n.ID(), err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = n.Stop(ctx)
	})
	return n
}

func embedded(t *testing.T) node.Config {
	cfg := node.DefaultConfig()
	cfg.Registry, cfg.DataDir, cfg.HTTPAddr = appKinds(t), t.TempDir(), "127.0.0.1:0"
	cfg.Logger = testutil.Logger(t, slog.LevelInfo)
	return cfg
}

func TestValidate(t *testing.T) {
	reg := appKinds(t)
	cluster := func(c *node.Config) {
		c.Consul, c.Cluster, c.BindAddr = node.ConsulConfig("127.0.0.1:8500"), "c1", "127.0.0.1:0"
	}
	cases := []struct {
		name string
		edit func(*node.Config)
		want string // "" valid
	}{
		{"embedded", func(*node.Config) {}, ""},
		{"cluster", cluster, ""},
		{"no registry", func(c *node.Config) { c.Registry = nil }, "Registry is required"},
		{"empty registry", func(c *node.Config) { c.Registry = actors.NewRegistry() }, "registry holds no kinds"},
		{"unknown kind", func(c *node.Config) { c.Kinds = []string{"resize", "nosuch"} }, `kind "nosuch" is not registered`},
		{"bad http", func(c *node.Config) { c.HTTPAddr = "8080" }, "HTTPAddr"},
		{"no data dir", func(c *node.Config) { c.DataDir = "" }, "DataDir"},
		{"zero drain", func(c *node.Config) { c.DrainTimeout = 0 }, "DrainTimeout"},
		{"negative join", func(c *node.Config) { c.JoinTimeout = -time.Second }, "JoinTimeout"},
		{"cluster without name", func(c *node.Config) { cluster(c); c.Cluster = "" }, "Cluster is required"},
		{"cluster without bind", func(c *node.Config) { cluster(c); c.BindAddr = "" }, "BindAddr"},
		{"unspecified bind", func(c *node.Config) { cluster(c); c.BindAddr = "0.0.0.0:7000" }, "concrete host"},
		{"cluster name with a slash", func(c *node.Config) { cluster(c); c.Cluster = "a/b" }, "cluster name has no '/'"},
		{"consul address with a path", func(c *node.Config) { cluster(c); c.Consul.Address = "http://127.0.0.1:8500/x" }, "without a path"},
		{"consul address unparsable", func(c *node.Config) { cluster(c); c.Consul.Address = "nonsense:::" }, "Consul address"},
		{"consul address scheme", func(c *node.Config) { cluster(c); c.Consul.Address = "ftp://127.0.0.1:8500" }, "want http, https or unix"},
		{"consul over https", func(c *node.Config) { cluster(c); c.Consul.Address = "https://consul.internal:8501" }, ""},
		{"consul over a socket", func(c *node.Config) { cluster(c); c.Consul.Address = "unix:///run/consul.sock" }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := node.DefaultConfig()
			cfg.Registry = reg
			tc.edit(&cfg)
			err := cfg.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, node.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want ErrInvalidConfig saying %q", err, tc.want)
			}
			if _, err := node.New(cfg); !errors.Is(err, node.ErrInvalidConfig) {
				t.Fatalf("New = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

// TestEmbedded: an embedded node runs the application's kinds, is a
// cluster of one, stops gracefully (twice is fine) and, started again on
// the same data directory, still has its tasks.
func TestEmbedded(t *testing.T) {
	cfg := embedded(t)
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Stop(context.Background()); !errors.Is(err, node.ErrNotStarted) {
		t.Fatalf("Stop before Start = %v, want ErrNotStarted", err)
	}
	ctx := testutil.Context(t, 30*time.Second)
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); !errors.Is(err, node.ErrStarted) {
		t.Fatalf("second Start = %v, want ErrStarted", err)
	}
	c := n.Client()
	st, err := c.Submit(ctx, api.SubmitRequest{ID: "r1", Kind: "resize", Payload: json.RawMessage(`{"tiles":3}`)})
	if err != nil {
		t.Fatal(err)
	}
	if st, err = c.Wait(ctx, st.ID, nil); err != nil || st.State != "completed" || string(st.Result) != `"3 tiles"` || st.Owner != "dev" {
		t.Fatalf("resize: %+v, %v", st, err)
	}
	st, err = c.Submit(ctx, api.SubmitRequest{ID: "r2", Kind: "resize", Payload: json.RawMessage(`{"tiles":-1}`)})
	if err == nil {
		st, err = c.Wait(ctx, st.ID, nil)
	}
	if err != nil || st.State != "failed" || st.Attempts != 1 {
		t.Fatalf("a permanent error: %+v, %v; want failed after one attempt", st, err)
	}
	if _, err := c.Submit(ctx, api.SubmitRequest{Kind: "nosuch"}); !errors.Is(err, api.ErrInvalidArgument) {
		t.Fatalf("unknown kind: %v, want invalid argument", err)
	}
	if w, _, err := client.CallTyped[struct{}, whereOut](ctx, c, "where", "x", struct{}{}); err != nil || w.Member != "dev" {
		t.Fatalf("grain call: %+v, %v", w, err)
	}
	ms, err := c.Members(ctx)
	if err != nil || len(ms) != 1 || ms[0].ID != "dev" || ms[0].HTTPAddr != n.HTTPAddr() {
		t.Fatalf("members of an embedded node: %+v, %v; want itself alone", ms, err)
	}
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	again := start(t, cfg)
	if st, err := again.Client().Get(ctx, "r1"); err != nil || st.State != "completed" {
		t.Fatalf("after a restart on the same data directory: %+v, %v", st, err)
	}
}

// TestStartFailsCleanly: a node that cannot start (its HTTP address is
// taken) says why and leaves nothing running: the same configuration
// starts once the address is free.
func TestStartFailsCleanly(t *testing.T) {
	first := start(t, embedded(t))
	cfg := embedded(t)
	cfg.HTTPAddr = first.HTTPAddr()
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "cannot listen on the HTTP address") {
		t.Fatalf("Start on a taken address = %v", err)
	}
	if err := n.Stop(context.Background()); err != nil {
		t.Fatalf("Stop after a failed Start: %v", err)
	}
}

// TestClusterInProcess: three members in one process (each its own actor
// system and ports) with a real Consul: tasks submitted through one are
// placed on all and complete; grain identities spread over the members;
// a member that stops hands its identities to the others.
func TestClusterInProcess(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	nodes := testcluster.Start(t, agent.HTTPAddr(), appKinds(t), 3, nil)
	ctx := testutil.Context(t, 60*time.Second)
	c := nodes[0].Client()
	ran := map[string]int{}
	for i := range 30 {
		st, err := c.Submit(ctx, api.SubmitRequest{ID: fmt.Sprintf("r%02d", i), Kind: "resize", Payload: json.RawMessage(`{"tiles":1}`)})
		if err == nil {
			st, err = c.Wait(ctx, st.ID, nil)
		}
		if err != nil || st.State != "completed" {
			t.Fatalf("task %d: %+v, %v", i, st, err)
		}
		ran[st.Owner]++
	}
	if len(ran) != 3 {
		t.Fatalf("30 tasks ran on %v; placement should use all three members", ran)
	}
	// Identities spread over the members; remember one that n2 holds.
	n2 := nodes[1].ID()
	var onN2 string
	held := map[string]int{}
	for i := range 30 {
		id := fmt.Sprintf("g%02d", i)
		w, _, err := client.CallTyped[struct{}, whereOut](ctx, c, "where", id, struct{}{})
		if err != nil {
			t.Fatalf("call %s: %v", id, err)
		}
		held[w.Member]++
		if w.Member == n2 && onN2 == "" {
			onN2 = id
		}
	}
	if len(held) != 3 || onN2 == "" {
		t.Fatalf("30 identities held by %v; want all three members", held)
	}
	if err := nodes[1].Stop(ctx); err != nil {
		t.Fatalf("stopping %s: %v", n2, err)
	}
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		w, _, err := client.CallTyped[struct{}, whereOut](ctx, c, "where", onN2, struct{}{})
		return err == nil && w.Member != n2, fmt.Sprintf("%s answered by %+v, %v", onN2, w, err)
	})
}

// TestStartWaitsForConsul: a member started while Consul is down waits
// for it, and joins once it is back, instead of exiting.
func TestStartWaitsForConsul(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{Mode: testconsul.Server})
	agent.Stop()
	cfg := testcluster.Config(t, agent.HTTPAddr(), appKinds(t), "late")
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan error, 1)
	go func() { started <- n.Start(testutil.Context(t, 90*time.Second)) }()
	t.Cleanup(func() { _ = n.Stop(context.Background()) })
	select {
	case err := <-started:
		t.Fatalf("Start returned while Consul was down: %v", err)
	case <-time.After(3 * time.Second): // the node has tried and backed off meanwhile
	}
	agent.Restart(t)
	if err := <-started; err != nil {
		t.Fatalf("Start after Consul came back: %v", err)
	}
	ctx := testutil.Context(t, 30*time.Second)
	st, err := n.Client().Submit(ctx, api.SubmitRequest{Kind: "resize", Payload: json.RawMessage(`{"tiles":2}`)})
	if err == nil {
		st, err = n.Client().Wait(ctx, st.ID, nil)
	}
	if err != nil || st.State != "completed" {
		t.Fatalf("a task on the late member: %+v, %v", st, err)
	}
}

// TestJoinTimeout: JoinTimeout bounds the wait for Consul, with an error
// that says what was waited for.
func TestJoinTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a time-out")
	}
	cfg := testcluster.Config(t, "127.0.0.1:1", appKinds(t), "nowhere") // nothing listens on port 1
	cfg.JoinTimeout = time.Second
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	err = n.Start(context.Background())
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || time.Since(began) > 15*time.Second {
		t.Fatalf("Start without Consul = %v after %v; want a deadline error after about JoinTimeout", err, time.Since(began))
	}
	if msg := err.Error(); !strings.Contains(msg, "Consul at 127.0.0.1:1 was not reached within the join timeout (1s)") {
		t.Fatalf("Start without Consul = %q; want it to name Consul's address and the join timeout", msg)
	}
	// The failed Start left nothing behind on the shared actor system: the
	// application may try again with a new node of the same id.
	again, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Start(context.Background()); err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start again after a failed Start = %v; want the same deadline error (not a name left taken)", err)
	}
}
