package tasks

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/proto"
)

// FuzzValidID: the hand-written id check agrees with taskIDPattern.
func FuzzValidID(f *testing.F) {
	for _, s := range []string{"t1", "a-b_c.d:e", "-x", "", "../evil/id with space", strings.Repeat("a", 129), "é"} {
		f.Add(s)
	}
	re := regexp.MustCompile(taskIDPattern)
	f.Fuzz(func(t *testing.T, id string) {
		if got, want := validID(id), re.MatchString(id); got != want {
			t.Fatalf("validID(%q) = %v, the pattern says %v", id, got, want)
		}
	})
}

type fuzzIn struct {
	Text string `json:"text"`
	N    int    `json:"n"`
}

// FuzzBuildTask: whatever a client submits, BuildTask refuses it with an
// invalid-argument error or builds a task that can be stored: it
// marshals, fits the record limit, and keeps fitting as it runs (fit
// leaves it as it is).
func FuzzBuildTask(f *testing.F) {
	reg := actors.NewRegistry()
	if err := reg.RegisterTask(actors.MustTask("typed", func(_ actors.TaskContext, in fuzzIn) (fuzzIn, error) { return in, nil },
		actors.WithCheck(func(in fuzzIn) error {
			if in.N < 0 {
				return errors.New("n must not be negative")
			}
			return nil
		}))); err != nil {
		f.Fatal(err)
	}
	raw, _ := actors.NewTask("raw", func(_ actors.TaskContext, p []byte) ([]byte, error) { return p, nil })
	if err := reg.RegisterTask(raw); err != nil {
		f.Fatal(err)
	}
	f.Add("t1", "typed", []byte(`{"text":"x","n":1}`), "team", "search", 3, int64(time.Millisecond), "j1", "one_for_all", 0)
	f.Add("", "raw", []byte("\xff\xfe"), "\xff", "v", 1000000, int64(-1), "", "", 0)
	f.Add("../x", "nosuch", []byte(`{}`), "", "", 0, int64(0), "j 1", "wild", -1)
	f.Fuzz(func(t *testing.T, id, kind string, payload []byte, labelKey, labelValue string, maxAttempts int, backoff int64, job, strategy string, stage int) {
		sub := Submission{ID: id, Kind: kind, Payload: payload, JobID: job, JobStrategy: strategy, JobStage: stage}
		if labelKey != "" || labelValue != "" {
			sub.Labels = map[string]string{labelKey: labelValue}
		}
		if maxAttempts != 0 {
			sub.Overrides.MaxAttempts = &maxAttempts
		}
		if backoff != 0 {
			d := time.Duration(backoff)
			sub.Overrides.BackoffInitial = &d
		}
		task, err := BuildTask(reg, sub, "m1", time.Unix(1e9, 0))
		if err != nil {
			if !errors.Is(err, api.ErrInvalidArgument) {
				t.Fatalf("BuildTask refused %+v with %v, not an invalid argument", sub, err)
			}
			return
		}
		if _, err := proto.Marshal(task); err != nil {
			t.Fatalf("a built task does not marshal: %v", err)
		}
		before := proto.Clone(task)
		if err := fit(task, MaxRecordBytes); err != nil || !proto.Equal(before, task) {
			t.Fatalf("a built task does not fit as it is: %v", err)
		}
	})
}

// FuzzFit: whatever a handler puts in a task's status (texts of any
// bytes, any number of failures, a result of any size), fit leaves a
// record that marshals and fits, or says it cannot.
func FuzzFit(f *testing.F) {
	f.Add("boom \xff", "stack", "note", 5, 100, 1000)
	f.Add(strings.Repeat("é", 3000), strings.Repeat("frame\n", 5000), "\xfe", 300, 400000, 300000)
	f.Fuzz(func(t *testing.T, msg, stack, note string, failures, resultSize, payloadSize int) {
		if failures < 0 || failures > 2000 || resultSize < 0 || resultSize > 1<<20 || payloadSize < 0 || payloadSize > 1<<20 {
			return
		}
		task := &messages.Task{
			Spec:   &messages.TaskSpec{Id: "t1", Kind: "k", Payload: make([]byte, payloadSize)},
			Status: &messages.TaskStatus{State: messages.TaskState_TASK_STATE_COMPLETED, ProgressNote: note, Error: msg, Result: make([]byte, resultSize)},
		}
		for i := range failures {
			task.Status.Errors = append(task.Status.Errors, &messages.AttemptError{Attempt: int32(i + 1), Message: msg, Stack: stack})
		}
		err := fit(task, MaxRecordBytes)
		if errors.Is(err, errRecordTooLarge) {
			if payloadSize < MaxPayloadBytes {
				t.Fatalf("a %d-byte payload made the record unfittable", payloadSize)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := proto.Marshal(task)
		if err != nil || len(b) > MaxRecordBytes {
			t.Fatalf("after fit: %d bytes, %v", len(b), err)
		}
		if st := task.Status; len(st.Errors)+int(st.ErrorsOmitted) < failures {
			t.Fatalf("%d failures became %d kept and %d counted", failures, len(st.Errors), st.ErrorsOmitted)
		}
	})
}

// FuzzCheckTask: whatever bytes a peer sends as a SubmitTask, the task it
// carries is refused with an invalid-argument error or rebuilt into one
// that a client could have submitted: it marshals and fits as it is.
func FuzzCheckTask(f *testing.F) {
	reg := actors.NewRegistry()
	if err := reg.RegisterTask(actors.MustTask("typed", func(_ actors.TaskContext, in fuzzIn) (fuzzIn, error) { return in, nil })); err != nil {
		f.Fatal(err)
	}
	good, err := BuildTask(reg, Submission{ID: "t1", Kind: "typed", Payload: []byte(`{"n":1}`), Labels: map[string]string{"a": "b"}}, "m1", time.Unix(1e9, 0))
	if err != nil {
		f.Fatal(err)
	}
	b, _ := proto.Marshal(&messages.SubmitTask{Task: good, From: "m2"})
	f.Add(b)
	forged := proto.Clone(good).(*messages.Task)
	forged.Spec.Id, forged.Spec.Retry.MaxAttempts = "../evil/id with space", 1000000
	forged.Status.State, forged.Status.Result = messages.TaskState_TASK_STATE_COMPLETED, []byte(`"made up"`)
	b, _ = proto.Marshal(&messages.SubmitTask{Task: forged})
	f.Add(b)
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		var msg messages.SubmitTask
		if proto.Unmarshal(data, &msg) != nil {
			return
		}
		task, err := CheckTask(reg, msg.GetTask(), "m1")
		if err != nil {
			if !errors.Is(err, api.ErrInvalidArgument) {
				t.Fatalf("CheckTask refused with %v, not an invalid argument", err)
			}
			return
		}
		st := task.GetStatus()
		if st.GetState() != messages.TaskState_TASK_STATE_PENDING || st.GetAttempts() != 0 || len(st.GetResult()) != 0 || st.GetOwner() != "m1" {
			t.Fatalf("a peer's task kept claims of its own: %v", st)
		}
		before := proto.Clone(task)
		if err := fit(task, MaxRecordBytes); err != nil || !proto.Equal(before, task) {
			t.Fatalf("a checked task does not fit as it is: %v", err)
		}
	})
}
