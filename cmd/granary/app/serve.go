package app

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/granary-rt/granary/cluster/node"
	"github.com/granary-rt/granary/cluster/tracing"
)

// runNode runs one member of a Consul-discovered cluster.
func runNode(e *env, args []string) error {
	fs := newFlags(e, "node", "--cluster NAME --bind HOST:PORT --http HOST:PORT [flags]")
	cfg := node.DefaultConfig()
	fs.StringVar(&cfg.Cluster, "cluster", "", "cluster name (required); members of one cluster share it")
	consulAddr := fs.String("consul", "", "Consul HTTP address (default $CONSUL_HTTP_ADDR, else 127.0.0.1:8500)")
	fs.StringVar(&cfg.BindAddr, "bind", "", "node-to-node address HOST:PORT (required); other members dial it")
	fs.StringVar(&cfg.AdvertiseAddr, "advertise", "", "node-to-node address HOST:PORT other members dial, when not --bind (a proxy or NAT in front of it)")
	fs.StringVar(&cfg.HTTPAddr, "http", "", "HTTP API address HOST:PORT (required); Consul's health check polls it")
	kindList := fs.String("kinds", "", "comma-separated kinds this node hosts (default: all registered)")
	fs.StringVar(&cfg.NodeID, "node-id", "", "member id (default: derived from the hostname and --bind port)")
	fs.DurationVar(&cfg.JoinTimeout, "join-timeout", cfg.JoinTimeout, "give up when Consul cannot be reached for this long at start (0: wait until it can, logging what it waits for)")
	fs.StringVar(&cfg.ClusterCA, "cluster-ca", "", "PEM CA of the cluster: node-to-node remoting is mutual TLS, and peers without a certificate it signed are refused (with --cluster-cert, --cluster-key)")
	fs.StringVar(&cfg.ClusterCert, "cluster-cert", "", "PEM certificate of this member, signed by --cluster-ca, naming the --bind (or --advertise) host")
	fs.StringVar(&cfg.ClusterKey, "cluster-key", "", "PEM key of --cluster-cert")
	sf := serverFlags{cfg: &cfg}
	sf.register(fs, "on SIGTERM, how long grains may hand off and running attempts finish")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", cfg.IdleTimeout, "deactivate a grain that received nothing for this long")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("unexpected argument %q (see %s -h)", pos[0], fs.Name())
	}
	for flag, v := range map[string]string{"cluster": cfg.Cluster, "bind": cfg.BindAddr, "http": cfg.HTTPAddr} {
		if v == "" {
			return usageErr("--%s is required", flag)
		}
	}
	cfg.Consul = node.ConsulConfig(*consulAddr)
	cfg.Kinds = splitList(*kindList)
	return serve(e, &sf, cfg)
}

// runDev runs one embedded node: the registry's kinds, a bbolt store in
// the data directory, and the HTTP API. No Consul: membership is this
// process.
func runDev(e *env, args []string) error {
	fs := newFlags(e, "dev", "[--data-dir DIR] [--http ADDR]")
	cfg := node.DefaultConfig()
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory of the durable task store")
	fs.StringVar(&cfg.HTTPAddr, "http", cfg.HTTPAddr, "HTTP API listen address")
	fs.StringVar(&cfg.NodeID, "node-id", "dev", "member id recorded as the owner of tasks")
	sf := serverFlags{cfg: &cfg}
	sf.register(fs, "on SIGTERM, how long running attempts may finish before they are cut off")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("unexpected argument %q (see %s -h)", pos[0], fs.Name())
	}
	return serve(e, &sf, cfg)
}

// serve runs a node until SIGINT or SIGTERM, then stops it gracefully (a
// second signal cuts the drain short). A configuration the node refuses is
// a usage error: nothing has started.
func serve(e *env, sf *serverFlags, cfg node.Config) error {
	log, err := sf.logger(e)
	if err != nil {
		return err
	}
	// sf.logger loaded the tokens into the caller's Config, of which cfg is
	// a copy taken before: without this, --tokens was silently ignored.
	cfg.Tokens = sf.cfg.Tokens
	cfg.Registry, cfg.Logger = e.reg, log
	tracing.LogErrors(log)
	n, err := node.New(cfg)
	if err != nil {
		return usageErr("%v", err)
	}
	// A signal while starting (waiting for Consul, say) gives up the start.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-sig:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := n.Start(ctx); err != nil {
		return err
	}
	cancel()
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	var failed error
	select {
	case s := <-sig:
		log.Info("shutting down", "signal", s.String())
	case failed = <-n.Failed():
		log.Error("node failed; stopping", "err", failed)
	}
	// A second signal while stopping (an operator's second Ctrl-C, a
	// supervisor's repeated SIGTERM) cuts the drain short instead of being
	// ignored until --drain-timeout: interrupted attempts run again on
	// restart or elsewhere, as after a drain time-out.
	stopCtx, stopCancel := context.WithCancel(context.Background())
	defer stopCancel()
	go func() {
		select {
		case s := <-sig:
			log.Warn("second signal: cutting the drain short; interrupted attempts run again", "signal", s.String())
			stopCancel()
		case <-stopCtx.Done():
		}
	}()
	if err := n.Stop(stopCtx); err != nil && failed == nil {
		// The drain was cut short: interrupted attempts run again
		// elsewhere; the node still left cleanly.
		log.Warn("stopped with work cut off", "err", err)
	}
	return failed
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, k := range strings.Split(s, ",") {
		if k = strings.TrimSpace(k); k != "" {
			out = append(out, k)
		}
	}
	return out
}

func newLogger(e *env, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageErr("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(e.stderr, opts)), nil
	case "json":
		opts.ReplaceAttr = durationText
		return slog.New(slog.NewJSONHandler(e.stderr, opts)), nil
	}
	return nil, usageErr("--log-format %q: want text or json", format)
}

// durationText writes durations as Go writes them ("1.5s"), as the text
// format does, instead of the JSON handler's nanoseconds, which nobody reads
// at a glance and which look like counts to log tools.
func durationText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}
