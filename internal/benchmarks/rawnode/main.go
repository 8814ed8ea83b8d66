// Command rawnode is the raw protoactor-go baseline of the failover
// benchmark: one member of a protoactor-go cluster with its stock Consul
// cluster provider (default settings) and disthash identity lookup, hosting
// a virtual actor kind "whoami" that answers with its member's address. A
// small HTTP API lets the benchmark call identities through any member:
//
//	rawnode --consul 127.0.0.1:8500 --cluster raw --bind 127.0.0.1:7001 --http 127.0.0.1:8001
//
//	GET /whoami/{id}  cluster.Request(id, "whoami") with protoactor's default
//	                  options; 200 with the answering member's address, or 503
//	GET /members      the member addresses this member's MemberList holds
//
// It uses nothing of Granary, so what it measures is protoactor-go's own
// behaviour.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/consul"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/hashicorp/consul/api"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func main() {
	consulAddr := flag.String("consul", "127.0.0.1:8500", "Consul HTTP address")
	name := flag.String("cluster", "raw", "cluster name (the Consul service name)")
	bind := flag.String("bind", "", "remoting address HOST:PORT (required)")
	httpAddr := flag.String("http", "", "HTTP API address HOST:PORT (required)")
	flag.Parse()
	if err := run(*consulAddr, *name, *bind, *httpAddr); err != nil {
		fmt.Fprintln(os.Stderr, "rawnode:", err)
		os.Exit(1)
	}
}

func run(consulAddr, name, bind, httpAddr string) error {
	host, p, err := net.SplitHostPort(bind)
	port, perr := strconv.Atoi(p)
	if err != nil || perr != nil {
		return fmt.Errorf("--bind %q: want HOST:PORT", bind)
	}
	ln, err := net.Listen("tcp", httpAddr)
	if err != nil {
		return fmt.Errorf("--http: %w", err)
	}
	provider, err := consul.NewWithConfig(&api.Config{Address: consulAddr})
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return log }))
	whoami := actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(*wrapperspb.StringValue); ok {
			c.Respond(wrapperspb.String(c.ActorSystem().Address()))
		}
	})
	cfg := cluster.Configure(name, provider, disthash.New(), remote.Configure(host, port),
		cluster.WithKinds(cluster.NewKind("whoami", whoami)))
	c := cluster.New(sys, cfg)
	c.StartMember()

	srv := &http.Server{Handler: handler(c), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-sig:
	case err := <-served:
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	c.Shutdown(true)
	return nil
}

func handler(c *cluster.Cluster) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /whoami/{id}", func(w http.ResponseWriter, r *http.Request) {
		resp, err := c.Request(r.PathValue("id"), "whoami", wrapperspb.String(r.PathValue("id")))
		if err == nil && resp == nil {
			err = errors.New("no answer")
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		v, ok := resp.(*wrapperspb.StringValue)
		if !ok {
			http.Error(w, fmt.Sprintf("unexpected answer %T", resp), http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, v.GetValue())
	})
	mux.HandleFunc("GET /members", func(w http.ResponseWriter, _ *http.Request) {
		var addrs []string
		for _, m := range c.MemberList.Members().Members() {
			addrs = append(addrs, m.Address())
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(addrs)
	})
	return mux
}
