package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/grains"
	"github.com/granary-rt/granary/cluster/httpapi"
	"github.com/granary-rt/granary/cluster/store/boltstore"
	"github.com/granary-rt/granary/cluster/tasks"
)

// runDev runs one embedded node: every task kind, a bbolt store in the data
// directory, and the HTTP API. No Consul: membership is this process.
func runDev(e *env, args []string) error {
	fs := newFlags(e, "dev", "[--data-dir DIR] [--http ADDR]")
	dataDir := fs.String("data-dir", ".granary", "directory of the durable task store")
	httpAddr := fs.String("http", "127.0.0.1:8080", "HTTP API listen address")
	nodeID := fs.String("node-id", "dev", "member id recorded as the owner of tasks")
	var sf serverFlags
	sf.register(fs, "on SIGTERM, how long running attempts may finish before they are cut off")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("unexpected argument %q (see granary dev -h)", pos[0])
	}
	log, err := sf.logger(e)
	if err != nil {
		return err
	}
	reg := e.reg
	return serveDev(log, reg, devConfig{dataDir: *dataDir, httpAddr: *httpAddr, member: *nodeID, drain: sf.drain, retention: sf.retention, pprof: sf.pprof})
}

type devConfig struct {
	dataDir, httpAddr, member string
	drain, retention          time.Duration
	pprof                     bool
}

func serveDev(log *slog.Logger, reg *actors.Registry, cfg devConfig) error {
	ln, err := net.Listen("tcp", cfg.httpAddr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w (is another granary running? pick another address with --http)", cfg.httpAddr, err)
	}
	defer ln.Close()
	st, err := boltstore.Open(boltstore.DefaultConfig(filepath.Join(cfg.dataDir, "tasks.db")))
	if err != nil {
		return err
	}
	defer st.Close()
	sys := tasks.NewActorSystem(log)
	defer sys.Shutdown()
	mcfg := tasks.DefaultConfig(cfg.member)
	mcfg.Store, mcfg.Registry, mcfg.Logger, mcfg.RecoverAll, mcfg.System = st, reg, log, true, sys
	mcfg.Retention = cfg.retention
	m, err := tasks.New(mcfg)
	if err != nil {
		return err
	}
	if err := m.Start(context.Background()); err != nil {
		return err
	}
	// Grains live in this process too: one member, an in-memory directory.
	gcfg := grains.DefaultConfig(cfg.member)
	gcfg.Registry, gcfg.System, gcfg.Directory, gcfg.Logger = reg, sys, &grains.LocalDirectory{}, log
	host, err := grains.New(gcfg)
	if err != nil {
		return err
	}
	if err := host.Start(); err != nil {
		return err
	}
	host.SetView([]grains.Member{{ID: cfg.member, Addr: sys.Address(), Kinds: host.HostedKinds()}})
	hcfg := httpapi.DefaultConfig()
	hcfg.Logger, hcfg.Grains, hcfg.Activations = log, host, host.Activations
	hcfg.Health = func(ctx context.Context) error {
		if err := m.Ping(ctx); err != nil {
			return err
		}
		return host.Ping(ctx)
	}
	// Long polls end when the server shuts down, so shutdown is not held up
	// by clients waiting for tasks.
	baseCtx, cancelRequests := context.WithCancel(context.Background())
	defer cancelRequests()
	srv := &http.Server{
		Handler:           withPprof(cfg.pprof, httpapi.New(m, hcfg)),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("granary dev started", "member", cfg.member, "http", "http://"+ln.Addr().String(), "data_dir", cfg.dataDir,
		"task_kinds", reg.TaskKinds())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	select {
	case s := <-sig:
		log.Info("shutting down", "signal", s.String(), "running_attempts", m.Running(), "drain_timeout", cfg.drain)
	case err := <-serveErr:
		return fmt.Errorf("HTTP server: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.drain)
	defer cancel()
	// Refuse new work first, then let running attempts finish, then close
	// the API (waking long polls) and the store.
	drainErr := m.Stop(ctx)
	_ = host.Stop(ctx)
	if drainErr != nil {
		log.Warn("drain cut short; interrupted attempts resume on next start", "err", drainErr)
	}
	cancelRequests()
	shutCtx, cancelShut := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelShut()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("HTTP shutdown", "err", err)
	}
	log.Info("granary dev stopped")
	return nil
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
		return slog.New(slog.NewJSONHandler(e.stderr, opts)), nil
	}
	return nil, usageErr("--log-format %q: want text or json", format)
}
