package actors

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Child tasks: a handler fans out by spawning children and fans in by
// awaiting them.
//
//	shards := make([]actors.Child, n)
//	for i := range shards {
//		shards[i], err = actors.SpawnTyped(ctx, fmt.Sprintf("shard-%d", i), "count-shard", ShardIn{Shard: i}, actors.ChildOptions{})
//		...
//	}
//	counts, err := actors.AwaitAll[ShardOut](ctx, shards...)
//
// A child's id is derived from its parent's id and its name
// (ChildID): the parent's next attempt, on any member, spawns the same
// children again and finds them, running or finished, instead of starting
// new ones. The children of a parent form one job (ChildJobID), supervised
// after the ChildOptions of the first spawn; when the parent fails for
// good or is cancelled, that job is stopped.

// MaxChildren bounds the distinct children one attempt of a handler may
// spawn: every child is a stored task and an entry in the record of the
// parent's child job, which is one Consul value (512 KiB at most); 2,000
// entries of the longest ids (a 119-byte parent id, a 64-byte name: about
// 200 bytes each) take 400 KiB. Fan out wider in two levels (children that
// spawn children).
const MaxChildren = 2000

// MaxChildNameBytes bounds a child's name; its id, the parent's id, a
// colon and the name, must also fit the 128 bytes of a task id.
const MaxChildNameBytes = 64

var (
	// ErrNoChildren is returned by Spawn and Await for a TaskContext that
	// cannot have children (a test's fake, say).
	ErrNoChildren = errors.New("this task context cannot spawn children")
	// ErrInvalidChild is returned for a child name, kind, payload or
	// option that cannot make a child; nothing is spawned.
	ErrInvalidChild = errors.New("invalid child")
	// ErrTooManyChildren is returned by a spawn past MaxChildren.
	ErrTooManyChildren = errors.New("too many children")
	// ErrChildFailed is wrapped by the error of a child that did not
	// complete: it failed for good or was cancelled.
	ErrChildFailed = errors.New("child task did not complete")
)

// ChildOptions are a child's settings. The strategy and the restart
// budget are those of the parent's child job: the first spawn of a parent
// sets them, and a later spawn naming others is refused (ErrInvalidChild).
type ChildOptions struct {
	// Strategy is the child job's strategy: one_for_one (empty),
	// one_for_all or rest_for_one (stages from Stage).
	Strategy string
	// MaxRestarts is the child job's restart budget within RestartPeriod
	// (0: the job's life). 0, the default, fails the job, and so stops the
	// other children, when the first child fails for good.
	MaxRestarts   int
	RestartPeriod time.Duration
	// Stage orders the children of a rest_for_one child job.
	Stage int
	// Overrides adjust the child kind's settings (attempts, time-outs).
	Overrides Overrides
	// Labels are the child's labels; the runtime adds granary.parent.
	Labels map[string]string
}

// Child is a handle on a spawned child task.
type Child struct {
	// ID is the child's task id: ChildID(parent, Name).
	ID string
	// Name is the name the parent gave it.
	Name string
	// Kind is the child's kind.
	Kind string
}

// ChildResult is how a child ended.
type ChildResult struct {
	Child
	// State is completed, failed or cancelled.
	State string
	// Result is the child's committed result (completed only).
	Result []byte
	// Err is nil for a completed child; otherwise it wraps ErrChildFailed
	// and carries the child's error.
	Err error
}

// Parent is the ability of a TaskContext to spawn and await children; the
// runtime's contexts have it. Handlers call Spawn and Await, which check
// for it.
type Parent interface {
	// SpawnChild starts the child name of this task (idempotent: a child
	// of that name already started is returned as it is).
	SpawnChild(name, kind string, payload []byte, opts ChildOptions) (Child, error)
	// AwaitChildren waits until every child has ended, and returns how,
	// in order. Its error is the context's when the attempt ends first.
	AwaitChildren(children ...Child) ([]ChildResult, error)
}

// ChildID is the id of parent's child name: "<parent>:<name>". Names hold
// no colon, so the last colon of a child's id separates its parent's id
// from its name, and two parents never share a child id.
func ChildID(parent, name string) string { return parent + ":" + name }

// ChildJobID is the id of the job that supervises parent's children:
// "<parent>:children" (jobs and tasks have separate ids, so a child named
// "children" does not clash with it).
func ChildJobID(parent string) string { return parent + ":children" }

// CheckChildName reports whether name can name a child: 1 to
// MaxChildNameBytes bytes of letters, digits, '_', '.' and '-', starting
// with a letter or digit.
func CheckChildName(name string) error {
	if len(name) == 0 || len(name) > MaxChildNameBytes {
		return fmt.Errorf("%w: child name %.80q must be 1 to %d bytes", ErrInvalidChild, name, MaxChildNameBytes)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		letterOrDigit := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !letterOrDigit && (i == 0 || c != '_' && c != '.' && c != '-') {
			return fmt.Errorf("%w: child name %q must be letters, digits, '_', '.' or '-', starting with a letter or digit", ErrInvalidChild, name)
		}
	}
	return nil
}

// Spawn starts ctx's child name of kind with payload, or finds it if it
// was started already (by this attempt or an earlier one, on any member):
// submitting it is idempotent by its id, ChildID(ctx.TaskID(), name). The
// child is durable when Spawn returns.
func Spawn(ctx TaskContext, name, kind string, payload []byte, opts ChildOptions) (Child, error) {
	p, ok := ctx.(Parent)
	if !ok {
		return Child{}, ErrNoChildren
	}
	return p.SpawnChild(name, kind, payload, opts)
}

// ChildSpec is one child for SpawnAll.
type ChildSpec struct {
	Name, Kind string
	Payload    []byte
	Options    ChildOptions
}

// spawnInFlight bounds SpawnAll's concurrent spawns: each is a durable
// submit, and the store commits concurrent writes together (a group
// commit, a Consul transaction), so a few dozen in flight cost little
// more than one, where one after the other each waits for its own.
const spawnInFlight = 32

// SpawnAll spawns the children of specs, up to 32 at a time, and returns
// them in order: the way to fan out wide (one after the other, each spawn
// waits for its own durable write). The error joins those of the spawns
// that failed; the others are spawned all the same.
func SpawnAll(ctx TaskContext, specs ...ChildSpec) ([]Child, error) {
	if _, ok := ctx.(Parent); !ok {
		return nil, ErrNoChildren
	}
	out := make([]Child, len(specs))
	errs := make([]error, len(specs))
	slots := make(chan struct{}, spawnInFlight)
	var wg sync.WaitGroup
	for i, s := range specs {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			out[i], errs[i] = Spawn(ctx, s.Name, s.Kind, s.Payload, s.Options)
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// SpawnTyped is Spawn with a typed payload, encoded as Task decodes it
// (strict JSON, or protojson for proto messages).
func SpawnTyped[In any](ctx TaskContext, name, kind string, in In, opts ChildOptions) (Child, error) {
	payload, err := CodecFor[In]().Encode(in)
	if err != nil {
		return Child{}, fmt.Errorf("%w: encoding the payload of child %s: %w", ErrInvalidChild, name, err)
	}
	return Spawn(ctx, name, kind, payload, opts)
}

// Await waits until every child has ended and returns how each did, in
// order. The wait is durable in the sense that matters: if this attempt
// ends (a retry, its member lost), the next attempt spawns the same
// children again, which returns them as they are, and awaits what is
// left. The error is the context's if the attempt ends first, or joins the
// errors of the children that did not complete (each wraps
// ErrChildFailed); the results are complete in the second case.
func Await(ctx TaskContext, children ...Child) ([]ChildResult, error) {
	p, ok := ctx.(Parent)
	if !ok {
		return nil, ErrNoChildren
	}
	res, err := p.AwaitChildren(children...)
	if err != nil {
		return res, err
	}
	var errs []error
	for _, r := range res {
		if r.Err != nil {
			errs = append(errs, r.Err)
		}
	}
	return res, errors.Join(errs...)
}

// AwaitAll is Await with the results decoded as Out, in order; any child
// that did not complete is an error.
func AwaitAll[Out any](ctx TaskContext, children ...Child) ([]Out, error) {
	res, err := Await(ctx, children...)
	if err != nil {
		return nil, err
	}
	codec := CodecFor[Out]()
	out := make([]Out, len(res))
	for i, r := range res {
		if out[i], err = codec.Decode(r.Result); err != nil {
			return nil, fmt.Errorf("decoding the result of child %s: %w", r.ID, err)
		}
	}
	return out, nil
}
