// Package app is the whole `granary` CLI as a library: an application's
// main registers its kinds and calls Main, and its binary answers `node`,
// `dev`, `submit`, `call`, `wait`, … exactly like the stock binary:
//
//	func main() {
//		reg := actors.NewRegistry()
//		app.Must(reg.RegisterTask(resize))
//		app.Must(reg.RegisterGrain(cart))
//		app.Main(reg)
//	}
//
// Commands:
//
//	granary dev                      run a single embedded node (no Consul needed)
//	granary node --cluster NAME ...  run a cluster member discovered through Consul
//	granary submit --kind K ...      submit a task
//	granary status ID                show a task
//	granary wait ID...               wait for tasks to finish
//	granary tasks [--state S] ...    list tasks, newest first, a page at a time
//	granary cancel ID                cancel a task
//	granary restart ID               run a task again with a fresh retry budget
//	granary retry ID                 send a failed or cancelled task round again
//	granary schedules                list recurring schedules with their next runs
//	granary schedule create ID ...   declare a schedule (cron, zone, overlap policy, task template); status, pause, resume, delete
//	granary backup FILE              copy a granary dev node's database while it runs
//	granary restore --data-dir D F   put a backup in place of a stopped dev node's database
//	granary jobs                     list jobs, most recently changed first, with their states
//	granary job status JOB           show a job
//	granary job create JOB ...       declare a job (a supervisor), optionally under a parent job
//	granary job tree JOB             draw a job and its descendants
//	granary job stop JOB [--wait]    stop a job and its whole subtree
//	granary call --kind K --id ID    call a grain
//	granary grain state KIND ID      show a durable grain's state (or clear it)
//	granary members                  list the cluster's members
//	granary kinds                    list the kinds a node hosts
//	granary version                  print the version
//
// Exit codes: 0 success; 1 a task failed or was cancelled, or the command
// failed; 2 usage error or invalid input (nothing was changed); 3 timed out.
package app

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/granary-rt/granary/actors"
)

// Exit codes of the CLI contract.
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	exitTimeout = 3
)

// exitError carries an exit code and a one-line message.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func usageErr(format string, args ...any) error {
	return &exitError{code: exitUsage, msg: fmt.Sprintf(format, args...)}
}

type command struct {
	name, args, summary string
	run                 func(env *env, args []string) error
}

var commands = []command{
	{"dev", "[--data-dir DIR] [--http ADDR]", "run a single embedded node: actor system, durable store, HTTP API", runDev},
	{"node", "--cluster NAME --bind HOST:PORT --http HOST:PORT [--consul ADDR] [--kinds a,b] [--node-id ID]", "run a cluster member discovered through Consul", runNode},
	{"submit", "--kind K [--payload JSON | --payload-file F] [flags] | --from FILE", "submit a task, or a file of them (one JSON request per line); prints ids (--json: statuses)", runSubmit},
	{"status", "ID [--json]", "show a task's status", runStatus},
	{"wait", "ID... [--timeout D] [--json]", "wait until tasks finish (exit 0 all completed, 1 any failed or cancelled, 3 timed out)", runWait},
	{"tasks", "[--state S] [--kind K] [--label k=v]... [--job J] [--limit N] [--cursor C | --all] [--json]", "list tasks, newest first, a page at a time (--all: every page)", runTasks},
	{"cancel", "ID [--json]", "cancel a task", runCancel},
	{"restart", "ID [--json]", "stop a task's attempt and run it again at once with a fresh retry budget", runRestart},
	{"retry", retryArgs, "send failed or cancelled tasks round again with a fresh retry budget, their history and checkpoint kept", runRetry},
	{"jobs", "[--limit N] [--json]", "list jobs, most recently changed first: strategy, failed or not, restarts", runJobs},
	{"job", jobArgs, "declare (create), show (status, tree) and stop jobs: supervisors of tasks and child jobs", runJob},
	{"schedules", "[--json]", "list the recurring schedules with their next run and counts", runSchedules},
	{"schedule", scheduleArgs, "create, show, pause, resume and delete recurring schedules (cron, time zone, overlap policy)", runSchedule},
	{"call", "--kind K --id IDENTITY [--payload JSON] [--json]", "call a grain anywhere in the cluster; prints its answer", runCall},
	{"grain", "state KIND ID [--json] | clear KIND ID [--json]", "show a durable grain's stored state, or clear it (its next activation starts from zero)", runGrain},
	{"members", "[--json]", "list the cluster's healthy members", runMembers},
	{"kinds", "[--json]", "list the task and grain kinds a node hosts, with their defaults", runKinds},
	{"backup", "FILE [--addr ADDR] [--json]", "save a running dev node's online backup (every task, job, grain state) into FILE, checked", runBackup},
	{"restore", "--data-dir DIR FILE", "put a backup back as a stopped dev node's database (the one it replaces is kept beside it)", runRestore},
	{"version", "[--json]", "print the version of this binary and of Granary in it", runVersion},
}

// env is what commands read and write, so tests can run them in-process.
type env struct {
	stdout, stderr io.Writer
	stdin          io.Reader
	getenv         func(string) string
	isTerminal     bool // stderr is a terminal: show progress
	// reg holds the kinds `node` and `dev` host: the application's.
	reg *actors.Registry
	// prog names the binary in messages: the application's own name.
	prog string
}

// name is the binary's name in messages ("granary" unless told).
func (e *env) name() string {
	if e.prog == "" {
		return "granary"
	}
	return e.prog
}

// Main runs the granary CLI with the application's kinds in reg (the
// commands `node` and `dev` host them; client commands ignore them) on
// os.Args, and exits the process with the CLI's exit code. It does not
// return.
func Main(reg *actors.Registry) {
	os.Exit(Run(reg, os.Args[1:]))
}

// Run is Main without the exit: it runs one command line (without the
// program name) and returns the exit code (0 success; 1 a task failed or
// the command failed; 2 usage error or invalid input; 3 timed out).
func Run(reg *actors.Registry, args []string) int {
	if reg == nil {
		reg = actors.NewRegistry()
	}
	e := &env{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin, getenv: os.Getenv, isTerminal: isTerminal(os.Stderr), reg: reg,
		prog: filepath.Base(os.Args[0])}
	return run(e, args)
}

// Must is for an application's main: it prints err (a kind that could
// not be defined or registered, say) and exits with the usage code 2, so
// a bad registration stops the binary before anything starts.
func Must(err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", filepath.Base(os.Args[0]), err)
		os.Exit(exitUsage)
	}
}

func run(e *env, args []string) int {
	if len(args) == 2 && args[0] == "help" {
		return run(e, []string{args[1], "--help"}) // granary help CMD: that command's help
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) == 0 {
			usage(e.stderr, e.name()) // a usage error: nothing to run
			return exitUsage
		}
		usage(e.stdout, e.name()) // asked for: `granary --help | less` shows it
		return exitOK
	}
	if args[0] == "--version" || args[0] == "-version" {
		args = []string{"version"}
	}
	for _, c := range commands {
		if c.name == args[0] {
			err := c.run(e, args[1:])
			if err == nil {
				return exitOK
			}
			var ee *exitError
			if errors.As(err, &ee) {
				if ee.msg != "" {
					fmt.Fprintf(e.stderr, "%s %s: %s\n", e.name(), c.name, ee.msg)
				}
				return ee.code
			}
			fmt.Fprintf(e.stderr, "%s %s: %v\n", e.name(), c.name, err)
			return exitFailed
		}
	}
	fmt.Fprintf(e.stderr, "%s: unknown command %q (run %s --help)\n", e.name(), args[0], e.name())
	return exitUsage
}

func usage(w io.Writer, prog string) {
	fmt.Fprintf(w, "%s: a Granary runtime, a fault-tolerant compute runtime of supervised virtual actors\n", prog)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %s\n      %s\n", strings.TrimSpace(fmt.Sprintf("%s %-7s %s", prog, c.name, c.args)), c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Client commands reach a node through --addr (default $GRANARY_ADDR, else http://127.0.0.1:8080),")
	fmt.Fprintln(w, "or any healthy member of a cluster with --cluster NAME [--consul ADDR].")
	fmt.Fprintf(w, "Run %s help COMMAND (or %s COMMAND -h) for a command's flags.\n", prog, prog)
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
