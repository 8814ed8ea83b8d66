package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/internal/faulttest"
)

const (
	// opTimeout bounds one operation of the workload, retries included: a
	// paused member holds a call until then.
	opTimeout = 8 * time.Second
	// whoamiIdentities and counterIdentities are how many grain identities
	// the callers spread over: enough that every member holds some of
	// each, few enough that each is called often between faults.
	whoamiIdentities  = 200
	counterIdentities = 20
	// jobTasks is how many tasks a job holds.
	jobTasks = 3
)

// Workload drives tasks, jobs and grain calls against a cluster and
// records every operation in a History.
type Workload struct {
	c        *Cluster
	h        *History
	seed     uint64
	maxTasks int

	wg      sync.WaitGroup
	stop    context.CancelFunc
	ctx     context.Context
	nextID  atomic.Int64 // task and job numbers
	mu      sync.Mutex
	acked   []string // for readers to pick from
	jobs    []string
	calls   atomic.Int64
	harness atomic.Pointer[string] // the first error that is the harness's own fault
	// jobFinals is what Drain read of each job.
	jobFinals map[string]JobFinal
}

// StartWorkload starts the workload's goroutines: submitters, readers and
// grain callers, each with its own generator drawn from seed. It submits
// at most maxTasks tasks.
func StartWorkload(c *Cluster, h *History, seed uint64, maxTasks int) *Workload {
	ctx, stop := context.WithCancel(context.Background())
	w := &Workload{c: c, h: h, seed: seed, maxTasks: maxTasks, ctx: ctx, stop: stop}
	w.spawn(2, w.submitter)
	w.spawn(2, w.reader)
	w.spawn(2, w.caller)
	return w
}

// Stop ends the workload and waits for its goroutines.
func (w *Workload) Stop() {
	w.stop()
	w.wg.Wait()
}

// Calls is the number of grain calls made.
func (w *Workload) Calls() int { return int(w.calls.Load()) }

// HarnessError is the first error that means the harness sent something
// wrong (an invalid argument), "" if none.
func (w *Workload) HarnessError() string {
	if p := w.harness.Load(); p != nil {
		return *p
	}
	return ""
}

func (w *Workload) spawn(n int, f func(rng *rand.Rand)) {
	for range n {
		stream := uint64(w.nextID.Add(1))
		rng := rand.New(rand.NewPCG(w.seed, stream))
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			f(rng)
		}()
	}
}

// pace waits d, or less if the workload stops; it reports whether to go on.
func (w *Workload) pace(d time.Duration) bool {
	select {
	case <-w.ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

func (w *Workload) member(rng *rand.Rand) *Member {
	return w.c.Members[rng.IntN(len(w.c.Members))]
}

// submitter submits tasks and jobs until the workload stops or maxTasks
// were submitted.
func (w *Workload) submitter(rng *rand.Rand) {
	for w.pace(between(rng, 50*time.Millisecond, 150*time.Millisecond)) {
		if w.nextID.Load() >= int64(w.maxTasks) {
			return
		}
		n := w.nextID.Add(1)
		if rng.IntN(15) == 0 {
			w.submitTree(rng, fmt.Sprintf("tree-%05d", n))
			continue
		}
		if rng.IntN(10) == 0 {
			w.submitJob(rng, fmt.Sprintf("job-%05d", n))
			continue
		}
		w.submit(rng, taskRequest(rng, fmt.Sprintf("t-%05d", n)))
	}
}

// taskRequest draws a task: flaky (failures and panics), hang (attempts
// that time out) or sleep.
func taskRequest(rng *rand.Rand, id string) api.SubmitRequest {
	switch d := rng.IntN(10); {
	case d < 6:
		return api.SubmitRequest{ID: id, Kind: "flaky",
			Payload: json.RawMessage(fmt.Sprintf(`{"fail_rate":0.3,"panic_rate":0.1,"seed":%d}`, rng.Uint32())),
			Policy: &api.Policy{MaxAttempts: api.Ptr(4), BackoffInitial: api.Ptr(api.Duration(100 * time.Millisecond)),
				BackoffMax: api.Ptr(api.Duration(time.Second))}}
	case d < 8:
		return api.SubmitRequest{ID: id, Kind: "hang", Payload: json.RawMessage(`{"succeed_on_attempt":2}`),
			Policy: &api.Policy{MaxAttempts: api.Ptr(3), AttemptTimeout: api.Ptr(api.Duration(time.Second)),
				BackoffInitial: api.Ptr(api.Duration(100 * time.Millisecond))}}
	default:
		return api.SubmitRequest{ID: id, Kind: "sleep", Payload: json.RawMessage(fmt.Sprintf(`{"ms":%d}`, 200+rng.IntN(2300)))}
	}
}

// submitJob submits a job of jobTasks tasks under a random strategy.
func (w *Workload) submitJob(rng *rand.Rand, job string) {
	strategy := []string{"one_for_one", "one_for_all", "rest_for_one"}[rng.IntN(3)]
	w.h.AddJob(job, "", strategy)
	for i := range jobTasks {
		if w.ctx.Err() != nil {
			break
		}
		req := api.SubmitRequest{ID: fmt.Sprintf("%s-%d", job, i), JobID: job, JobStrategy: strategy, JobStage: i}
		if rng.IntN(2) == 0 {
			req.Kind = "flaky"
			req.Payload = json.RawMessage(fmt.Sprintf(`{"fail_rate":0.2,"panic_rate":0.05,"seed":%d}`, rng.Uint32()))
			req.Policy = &api.Policy{MaxAttempts: api.Ptr(3), BackoffInitial: api.Ptr(api.Duration(100 * time.Millisecond))}
		} else {
			req.Kind = "sleep"
			req.Payload = json.RawMessage(fmt.Sprintf(`{"ms":%d}`, 200+rng.IntN(1500)))
		}
		w.submit(rng, req)
	}
	w.mu.Lock()
	w.jobs = append(w.jobs, job)
	w.mu.Unlock()
}

// submit sends req to a random member, and on failure to the others in
// turn, until one acknowledges it. The id makes every try the same task.
func (w *Workload) submit(rng *rand.Rand, req api.SubmitRequest) {
	first := rng.IntN(len(w.c.Members))
	for try := range w.c.Members {
		m := w.c.Members[(first+try)%len(w.c.Members)]
		ctx, cancel := context.WithTimeout(w.ctx, opTimeout)
		run, sent := m.Run(), time.Now()
		st, err := m.Client.Submit(ctx, req)
		cancel()
		s := Submit{Task: req.ID, Kind: req.Kind, Job: req.JobID, Via: m.ID, Sent: sent, Answered: time.Now()}
		if err != nil {
			s.Err = err.Error()
			w.h.AddSubmit(s)
			switch {
			case errors.Is(err, api.ErrInvalidArgument) || errors.Is(err, api.ErrAlreadyExists):
				w.harnessError(fmt.Sprintf("submit %s via %s: %v", req.ID, m.ID, err))
				return
			case w.ctx.Err() != nil:
				return
			case !errors.Is(err, api.ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded):
				// An answer, not a failure to get one: a job that has
				// already failed takes no more tasks.
				return
			}
			continue
		}
		w.h.AddSubmit(s)
		w.h.AddRead("submit", m.ID, run, sent, s.Answered, st)
		w.mu.Lock()
		w.acked = append(w.acked, req.ID)
		w.mu.Unlock()
		return
	}
}

func (w *Workload) harnessError(s string) { w.harness.CompareAndSwap(nil, &s) }

// reader reads random acknowledged tasks, and now and then a job, through
// random members.
func (w *Workload) reader(rng *rand.Rand) {
	for w.pace(between(rng, 10*time.Millisecond, 40*time.Millisecond)) {
		m := w.member(rng)
		w.mu.Lock()
		var task, job string
		if len(w.acked) > 0 {
			task = w.acked[rng.IntN(len(w.acked))]
		}
		if len(w.jobs) > 0 && rng.IntN(10) == 0 {
			job = w.jobs[rng.IntN(len(w.jobs))]
		}
		w.mu.Unlock()
		switch {
		case job != "":
			w.readJob(w.ctx, m, job, "job")
		case task != "":
			w.readTask(w.ctx, m, task, "get")
		}
	}
}

// readTask reads one task through m and records the answer.
func (w *Workload) readTask(ctx context.Context, m *Member, id, op string) (Read, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	run, sent := m.Run(), time.Now()
	st, err := m.Client.Get(ctx, id)
	if err != nil {
		return Read{}, err
	}
	return w.h.AddRead(op, m.ID, run, sent, time.Now(), st), nil
}

// readJob reads one job through m and records each of its tasks.
func (w *Workload) readJob(ctx context.Context, m *Member, id, op string) (*api.JobStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	run, sent := m.Run(), time.Now()
	j, err := m.Client.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	answered := time.Now()
	for _, st := range j.Tasks {
		w.h.AddRead(op, m.ID, run, sent, answered, st)
	}
	return j, nil
}

// caller calls whoami and counter grains through random members.
func (w *Workload) caller(rng *rand.Rand) {
	for w.pace(between(rng, 5*time.Millisecond, 25*time.Millisecond)) {
		m := w.member(rng)
		kind, id, body := "whoami", fmt.Sprintf("w-%d", rng.IntN(whoamiIdentities)), `{}`
		if rng.IntN(3) == 0 {
			kind, id, body = "counter", fmt.Sprintf("c-%d", rng.IntN(counterIdentities)), `{"op":"add","n":1}`
		}
		ctx, cancel := context.WithTimeout(w.ctx, opTimeout)
		sent := time.Now()
		reply, err := m.Client.CallRaw(ctx, kind, id, []byte(body))
		cancel()
		if w.ctx.Err() != nil {
			return // a call cut short by the end says nothing
		}
		w.calls.Add(1)
		a := faulttest.Answer{Identity: kind + "/" + id, Via: m.ID, Sent: sent, Answered: time.Now()}
		if err != nil {
			a.Err = err.Error()
			if errors.Is(err, api.ErrInvalidArgument) || errors.Is(err, api.ErrHandler) {
				w.harnessError(fmt.Sprintf("call %s via %s: %v", a.Identity, m.ID, err))
			}
		} else {
			a.Member, a.Activation = reply.Member, reply.ActivationID
		}
		w.h.Calls.Add(a)
		if err == nil && kind == "counter" {
			var v struct {
				Value int64 `json:"value"`
			}
			if json.Unmarshal(reply.Result, &v) != nil {
				w.harnessError(fmt.Sprintf("counter %s answered %s", id, reply.Result))
				continue
			}
			w.h.AddCounter(CounterAnswer{Identity: id, Member: a.Member, Activation: a.Activation, Sent: a.Sent, Answered: a.Answered, Value: v.Value})
		}
	}
}

// Drain reads every submitted task until it is terminal or the deadline
// passes, rotating over the members, and returns what it found for each
// acknowledged task. Tasks never acknowledged are read once (they may
// exist: their answer may have been lost), and jobs once each.
func (w *Workload) Drain(deadline time.Time) map[string]Final {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	var mu sync.Mutex
	finals := map[string]Final{}
	ids := make(chan string)
	var wg sync.WaitGroup
	for worker := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ids {
				f := w.drainOne(ctx, id, worker)
				mu.Lock()
				finals[id] = f
				mu.Unlock()
			}
		}()
	}
	for _, id := range w.h.Acked() {
		ids <- id
	}
	close(ids)
	wg.Wait()
	for i, id := range w.h.Unacked() {
		w.readTask(ctx, w.c.Members[i%len(w.c.Members)], id, "drain")
	}
	w.jobFinals = map[string]JobFinal{}
	for i, job := range w.h.Jobs() {
		f := JobFinal{Restarts: -1}
		if j, err := w.readJob(ctx, w.c.Members[i%len(w.c.Members)], job, "drain"); err == nil {
			f.Restarts = j.Restarts
		}
		w.jobFinals[job] = f
	}
	return finals
}

// JobFinals is what Drain read of each job.
func (w *Workload) JobFinals() map[string]JobFinal { return w.jobFinals }

// drainOne polls one task until it is terminal or ctx ends.
func (w *Workload) drainOne(ctx context.Context, id string, worker int) Final {
	var f Final
	for try := worker; ; try++ {
		m := w.c.Members[try%len(w.c.Members)]
		r, err := w.readTask(ctx, m, id, "drain")
		switch {
		case err != nil:
			f.Err = fmt.Sprintf("via %s: %v", m.ID, err)
		default:
			f.Last = &r
			if api.IsTerminal(r.State) {
				return f
			}
		}
		select {
		case <-ctx.Done():
			return f
		case <-time.After(200 * time.Millisecond): // polling pace
		}
	}
}
