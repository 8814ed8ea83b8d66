package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/client"
	"github.com/granary-rt/granary/cluster/httpapi"
	"github.com/granary-rt/granary/cluster/membership"
	consul "github.com/hashicorp/consul/api"
)

// clientFlags are the flags every client command takes.
type clientFlags struct {
	e         *env
	tokenFile string
	ca        string
	addr      string
	consul    string
	cluster   string
	json      bool
	timeout   time.Duration
	set       func() map[string]bool
	cmd       string // the command, for messages: "granary submit"
	// manyTasks: the command waits for several tasks, and its progress
	// line counts states (a running task's own progress shows only when
	// one is waited for), so its waits need not ask for progress.
	manyTasks bool
}

func (c *clientFlags) register(fs *flagSet, e *env, timeout time.Duration, timeoutHelp string) {
	def := e.getenv("GRANARY_ADDR")
	if def == "" {
		def = client.DefaultAddr
	}
	fs.StringVar(&c.addr, "addr", def, "node HTTP address ($GRANARY_ADDR); https://HOST:PORT for a node with --tls-cert")
	fs.StringVar(&c.tokenFile, "token-file", "", "file holding the bearer token to send (default $GRANARY_TOKEN)")
	fs.StringVar(&c.ca, "ca", e.getenv("GRANARY_CA"), "PEM CA that signed the nodes' API certificates ($GRANARY_CA); addresses without a scheme are then https://")
	c.e, c.cmd = e, fs.Name()
	fs.StringVar(&c.cluster, "cluster", "", "find the cluster's nodes through Consul instead of --addr")
	fs.StringVar(&c.consul, "consul", "", "Consul HTTP address for --cluster (default $CONSUL_HTTP_ADDR, else 127.0.0.1:8500)")
	c.set = func() map[string]bool { return setFlags(fs) }
	fs.BoolVar(&c.json, "json", false, "print JSON for scripts")
	fs.DurationVar(&c.timeout, "timeout", timeout, timeoutHelp)
}

func (c *clientFlags) client() (*client.Client, error) {
	cfg := client.Config{Addr: c.addr, CAFile: c.ca, Token: c.e.getenv("GRANARY_TOKEN")}
	if c.tokenFile != "" {
		b, err := os.ReadFile(c.tokenFile)
		if err != nil {
			return nil, usageErr("--token-file: %v", err)
		}
		if cfg.Token = strings.TrimSpace(string(b)); cfg.Token == "" {
			return nil, usageErr("--token-file %s is empty", c.tokenFile)
		}
	}
	set := c.set()
	if c.e.isTerminal {
		cfg.OnRetry = c.retryNotice()
	}
	if !c.e.isTerminal || c.json || c.manyTasks {
		// Nobody sees a progress line: waits long-poll revisions only.
		cfg.ProgressEvery = -1
	}
	if c.cluster != "" {
		cc := consul.DefaultConfig()
		if c.consul != "" {
			cc.Address = c.consul
		}
		cl, err := consul.NewClient(cc)
		if err != nil {
			return nil, usageErr("Consul: %v", err)
		}
		cfg.Discover = membership.DiscoverHTTP(cl, c.cluster)
		if !set["addr"] {
			cfg.Addr = ""
		}
		if err := checkClusterName(context.Background(), cc, c.cluster); err != nil {
			return nil, err
		}
	} else if set["consul"] {
		return nil, usageErr("--consul needs --cluster NAME")
	}
	cl, err := client.New(cfg)
	if err != nil {
		return nil, usageErr("%v", err)
	}
	return cl, nil
}

// retryNotice tells a user at a terminal what a call that does not get
// through is doing (on stderr, so --json output stays clean), at most once a
// second, instead of leaving them in silence until it gives up.
func (c *clientFlags) retryNotice() func(client.RetryNotice) {
	var last time.Time
	return func(n client.RetryNotice) {
		if time.Since(last) < time.Second {
			return
		}
		last = time.Now()
		where := n.Node
		if where == "" {
			where = "no node"
		}
		left := time.Until(n.GiveUp).Round(time.Second)
		fmt.Fprintf(c.e.stderr, "%s: %s: %s; retrying (try %d) until %s, %s left (--timeout bounds it)\n",
			c.cmd, where, clip(rootCause(n.Err), 160), n.Try, n.GiveUp.Format("15:04:05"), left)
	}
}

// rootCause is the innermost error of a chain: "connect: connection
// refused" rather than the whole request that met it.
func rootCause(err error) string {
	for {
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			if next := u.Unwrap(); next != nil {
				err = next
				continue
			}
		case interface{ Unwrap() []error }:
			if errs := u.Unwrap(); len(errs) > 0 {
				err = errs[len(errs)-1] // the cause comes last: "%w: ...: %w"
				continue
			}
		}
		return err.Error()
	}
}

func (c *clientFlags) context() (context.Context, context.CancelFunc) {
	if c.timeout <= 0 {
		return context.WithCancel(context.Background())
	}
	return context.WithTimeout(context.Background(), c.timeout)
}

// callErr turns a client error into the CLI's exit codes: invalid input is
// a usage error (2), a time-out is 3, anything else 1.
func callErr(err error) error {
	switch {
	case errors.Is(err, api.ErrInvalidArgument), errors.Is(err, api.ErrAlreadyExists):
		return &exitError{code: exitUsage, msg: err.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		return &exitError{code: exitTimeout, msg: "timed out: " + err.Error()}
	case errors.Is(err, client.ErrUnauthenticated):
		return &exitError{code: exitFailed, msg: err.Error() + " (give a token: $GRANARY_TOKEN or --token-file)"}
	case errors.Is(err, client.ErrPermissionDenied):
		// The node's message already names the role the route needs
		// ("POST /v1/tasks needs a write token"): say where to give it.
		return &exitError{code: exitFailed, msg: err.Error() + " (give one with $GRANARY_TOKEN or --token-file)"}
	}
	return &exitError{code: exitFailed, msg: err.Error()}
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func runStatus(e *env, args []string) error {
	return runOneTask(e, args, "status", (*client.Client).Get, printStatus)
}

func runCancel(e *env, args []string) error {
	return runOneTask(e, args, "cancel", (*client.Client).Cancel, func(w io.Writer, st *api.Status) {
		fmt.Fprintf(w, "%s cancelled\n", st.ID)
	})
}

func runRestart(e *env, args []string) error {
	restart := func(c *client.Client, ctx context.Context, id string) (*api.Status, error) {
		return c.Restart(ctx, id, "restarted by request")
	}
	return runOneTask(e, args, "restart", restart, func(w io.Writer, st *api.Status) {
		fmt.Fprintf(w, "%s restarted (attempts so far: %d)\n", st.ID, st.Attempts)
	})
}

// runOneTask is a client command on one task id: call, then print the
// status as JSON or for people.
func runOneTask(e *env, args []string, name string, call func(*client.Client, context.Context, string) (*api.Status, error), human func(io.Writer, *api.Status)) error {
	fs := newFlags(e, name, "ID [--json]")
	var cf clientFlags
	cf.register(fs, e, 30*time.Second, "give up after this long")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("want exactly one task id, got %d (see granary %s -h)", len(pos), name)
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	ctx, cancel := cf.context()
	defer cancel()
	st, err := call(c, ctx, pos[0])
	return printResult(e, cf, st, err, human)
}

func runTasks(e *env, args []string) error {
	fs := newFlags(e, "tasks", "[--state S] [--kind K] [--label k=v]... [--job J] [--limit N] [--cursor C | --all] [--counts] [--json]")
	var cf clientFlags
	cf.register(fs, e, 30*time.Second, "give up after this long")
	state := fs.String("state", "", "only tasks in these states, comma-separated: pending, running, retrying, completed, failed, cancelled")
	kind := fs.String("kind", "", "only tasks of this kind")
	lbl := labels{}
	fs.Var(lbl, "label", "only tasks with label key=value (repeatable: all of them)")
	job := fs.String("job", "", "only the tasks of this job")
	limit := fs.Int("limit", httpapi.DefaultListLimit, fmt.Sprintf("tasks per page, newest first (at most %d)", httpapi.MaxListLimit))
	cursor := fs.String("cursor", "", "start after the page that printed this cursor")
	all := fs.Bool("all", false, "every task, page after page (--limit is then the page size)")
	counts := fs.Bool("counts", false, "print how many tasks are stored, by state and kind, instead of listing them (the store keeps the counts: cheap at any size)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("unexpected argument %q (see %s tasks -h)", pos[0], e.name())
	}
	if *counts {
		return runTaskCounts(e, cf)
	}
	if *limit < 1 || *limit > httpapi.MaxListLimit {
		return usageErr("--limit must be 1 to %d, got %d", httpapi.MaxListLimit, *limit)
	}
	opts := client.ListOptions{Kind: *kind, JobID: *job, Limit: *limit, Cursor: *cursor}
	if len(lbl) > 0 {
		opts.Labels = lbl
	}
	if *state != "" {
		if opts.States, err = parseStates(*state); err != nil {
			return err
		}
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	ctx, cancel := cf.context()
	defer cancel()
	var page *api.TaskList
	if *all {
		list, err := c.ListAll(ctx, opts)
		if err != nil {
			return callErr(err)
		}
		page = &api.TaskList{Tasks: list, Count: len(list)}
	} else if page, err = c.ListPage(ctx, opts); err != nil {
		return callErr(err)
	}
	if cf.json {
		return printJSON(e.stdout, page)
	}
	printTable(e.stdout, page.Tasks)
	if page.Next != "" {
		fmt.Fprintf(e.stdout, "more: %s --cursor %s (or --all)\n", nextPageCommand(fs, lbl), page.Next)
	}
	return nil
}

// parseStates reads --state: one state or a comma-separated list of them,
// as the API's ?state= takes.
func parseStates(list string) ([]string, error) {
	var states []string
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if _, err := api.ParseState(s); err != nil {
			return nil, usageErr("--state: %v", err)
		}
		states = append(states, s)
	}
	return states, nil
}

// nextPageCommand is the command line that lists the next page: this one
// with its filters, without the cursor it was given, so the user need not
// retype them.
func nextPageCommand(fs *flagSet, lbl labels) string {
	words := []string{fs.Name()}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "cursor":
		case "label":
			keys := make([]string, 0, len(lbl))
			for k := range lbl {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				words = append(words, "--label", shellQuote(k+"="+lbl[k]))
			}
		default:
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
				words = append(words, "--"+f.Name+"="+f.Value.String())
				return
			}
			words = append(words, "--"+f.Name, shellQuote(f.Value.String()))
		}
	})
	return strings.Join(words, " ")
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_=.,:/@+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func runWait(e *env, args []string) error {
	fs := newFlags(e, "wait", "ID... [--timeout D] [--json]")
	var cf clientFlags
	cf.register(fs, e, 0, "give up after this long and exit 3 (0: wait forever)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageErr("name at least one task id (see granary wait -h)")
	}
	cf.manyTasks = len(pos) > 1
	c, err := cf.client()
	if err != nil {
		return err
	}
	ctx, cancel := cf.context()
	defer cancel()
	return waitFor(ctx, e, c, cf, pos)
}

func runCall(e *env, args []string) error {
	fs := newFlags(e, "call", "--kind K --id IDENTITY [--payload JSON] [--json]")
	var cf clientFlags
	cf.register(fs, e, 30*time.Second, "the call's deadline")
	kind := fs.String("kind", "", "grain kind (required)")
	id := fs.String("id", "", "grain identity (required)")
	payload := fs.String("payload", "", "request as a JSON value (default: none)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("unexpected argument %q (see granary call -h)", pos[0])
	}
	if *kind == "" || *id == "" {
		return usageErr("--kind and --id are required (see granary call -h)")
	}
	if *payload != "" && !json.Valid([]byte(*payload)) {
		return usageErr("the payload is not valid JSON: %.60q", *payload)
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	ctx, cancel := cf.context()
	defer cancel()
	reply, err := c.CallRaw(ctx, *kind, *id, []byte(*payload))
	if err != nil {
		if errors.Is(err, api.ErrDeadlineExceeded) {
			return &exitError{code: exitTimeout, msg: err.Error()}
		}
		return callErr(err)
	}
	if cf.json {
		return printJSON(e.stdout, reply)
	}
	if len(reply.Result) > 0 {
		fmt.Fprintln(e.stdout, string(reply.Result))
	} else {
		fmt.Fprintln(e.stdout, reply.ResultBase64)
	}
	return nil
}

func runMembers(e *env, args []string) error {
	return runList(e, args, "members", func(ctx context.Context, c *client.Client) (any, func(io.Writer), error) {
		ms, err := c.Members(ctx)
		if err != nil {
			return nil, nil, err
		}
		// GET /v1/members lists the view: the healthy members. A member
		// killed or cut off stays registered in Consul, failing its checks,
		// until Consul reaps it; GET /v1/cluster names it, and so do we
		// (its health says so). A node that cannot say is no reason to fail.
		health := map[string]string{}
		if rep, err := c.Cluster(ctx); err == nil {
			ms = withUnhealthy(ms, rep.Members, health)
		}
		return api.MemberList{Members: ms, Count: len(ms)}, func(w io.Writer) { printMembers(w, ms, health) }, nil
	})
}

// withUnhealthy adds to the healthy members ms those of the cluster report
// that are not among them (registered, a check failing, or left), not
// healthy and with no activation count, and notes each one's health.
func withUnhealthy(ms []api.Member, all []api.MemberOverall, health map[string]string) []api.Member {
	listed := map[string]bool{}
	for _, m := range ms {
		listed[m.ID] = true
	}
	for _, o := range all {
		if listed[o.ID] || o.Health == "healthy" {
			continue
		}
		health[o.ID] = o.Health
		ms = append(ms, api.Member{ID: o.ID, Kinds: o.Kinds, Version: o.Version, Activations: -1})
	}
	return ms
}

func runKinds(e *env, args []string) error {
	return runList(e, args, "kinds", func(ctx context.Context, c *client.Client) (any, func(io.Writer), error) {
		ks, err := c.Kinds(ctx)
		return api.KindList{Kinds: ks, Count: len(ks)}, func(w io.Writer) { printKinds(w, ks) }, err
	})
}

// runList is a command that takes no argument but --json and the client
// flags, and prints what get fetches: as JSON, or as get's table.
func runList(e *env, args []string, name string, get func(context.Context, *client.Client) (any, func(io.Writer), error)) error {
	fs := newFlags(e, name, "[--json]")
	var cf clientFlags
	cf.register(fs, e, 30*time.Second, "give up after this long")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("unexpected argument %q (see %s %s -h)", pos[0], e.name(), name)
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	ctx, cancel := cf.context()
	defer cancel()
	out, table, err := get(ctx, c)
	if err != nil {
		return callErr(err)
	}
	if cf.json {
		return printJSON(e.stdout, out)
	}
	table(e.stdout)
	return nil
}

// runTaskCounts prints the stored tasks' counts (granary tasks --counts).
func runTaskCounts(e *env, cf clientFlags) error {
	c, err := cf.client()
	if err != nil {
		return err
	}
	ctx, cancel := cf.context()
	defer cancel()
	st, err := c.TaskStats(ctx)
	return printResult(e, cf, st, err, printCounts)
}
