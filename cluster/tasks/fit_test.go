package tasks

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/proto"
)

func task(payload, result int, errs int) *messages.Task {
	t := &messages.Task{
		Spec:   &messages.TaskSpec{Id: "t1", Kind: "k", Payload: make([]byte, payload)},
		Status: &messages.TaskStatus{State: messages.TaskState_TASK_STATE_COMPLETED, Owner: "m1", Attempts: int32(errs + 1)},
	}
	if result > 0 {
		t.Status.Result = make([]byte, result)
	}
	for i := range errs {
		t.Status.Errors = append(t.Status.Errors, &messages.AttemptError{Attempt: int32(i + 1), Cause: "panic", Message: fmt.Sprintf("boom %d", i+1), Stack: strings.Repeat("frame\n", 200)})
	}
	return t
}

func TestFit(t *testing.T) {
	t.Run("a small record is left as it is", func(t *testing.T) {
		in := task(100, 100, 5)
		out := proto.Clone(in).(*messages.Task)
		if err := fit(out, MaxRecordBytes); err != nil || !proto.Equal(in, out) {
			t.Fatalf("fit changed a small record (%v)", err)
		}
	})
	t.Run("texts become valid UTF-8 and are cut", func(t *testing.T) {
		in := task(10, 0, 1)
		in.Status.Error = "bad \xff reason"
		in.Status.ProgressNote = strings.Repeat("é", 2000) // 4000 bytes
		in.Status.Errors[0].Message = strings.Repeat("x", 10000) + "\xfe"
		if _, err := proto.Marshal(in); err == nil {
			t.Fatal("the test's record should not marshal before fit")
		}
		if err := fit(in, MaxRecordBytes); err != nil {
			t.Fatal(err)
		}
		if _, err := proto.Marshal(in); err != nil {
			t.Fatalf("after fit: %v", err)
		}
		st := in.Status
		if !utf8.ValidString(st.ProgressNote) || len(st.ProgressNote) > maxNoteBytes || !strings.HasSuffix(st.ProgressNote, "(cut)") {
			t.Errorf("progress note: %d bytes, valid %v", len(st.ProgressNote), utf8.ValidString(st.ProgressNote))
		}
		if len(st.Errors[0].Message) > maxMessageBytes {
			t.Errorf("error message kept %d bytes", len(st.Errors[0].Message))
		}
	})
	t.Run("a long history keeps its first and last attempts and counts the rest", func(t *testing.T) {
		in := task(10, 0, 100)
		if err := fit(in, MaxRecordBytes); err != nil {
			t.Fatal(err)
		}
		st := in.Status
		if len(st.Errors) != keepFirstErrors+keepLastErrors || st.ErrorsOmitted != 100-keepFirstErrors-keepLastErrors {
			t.Fatalf("kept %d, omitted %d", len(st.Errors), st.ErrorsOmitted)
		}
		if st.Errors[0].Attempt != 1 || st.Errors[keepFirstErrors-1].Attempt != keepFirstErrors || st.Errors[keepFirstErrors].Attempt != 100-keepLastErrors+1 || st.Errors[len(st.Errors)-1].Attempt != 100 {
			t.Fatalf("kept attempts %d…%d, %d…%d", st.Errors[0].Attempt, st.Errors[keepFirstErrors-1].Attempt, st.Errors[keepFirstErrors].Attempt, st.Errors[len(st.Errors)-1].Attempt)
		}
		st.Errors = append(st.Errors, &messages.AttemptError{Attempt: 101, Cause: "panic"})
		if err := fit(in, MaxRecordBytes); err != nil || st.ErrorsOmitted != 78 || st.Errors[len(st.Errors)-1].Attempt != 101 {
			t.Fatalf("one more failure: omitted %d, last kept %d (%v)", st.ErrorsOmitted, st.Errors[len(st.Errors)-1].Attempt, err)
		}
	})
	t.Run("a result too large fails the task and is discarded", func(t *testing.T) {
		in := task(1000, 8000, 0)
		if err := fit(in, 4096); err != nil {
			t.Fatal(err)
		}
		st := in.Status
		if st.State != messages.TaskState_TASK_STATE_FAILED || st.Result != nil || !strings.HasPrefix(st.Error, causeResultTooLarge) ||
			len(st.Errors) != 1 || st.Errors[0].Cause != causeResultTooLarge || proto.Size(in) > 4096 {
			t.Fatalf("state %v, result %d bytes, error %q, errors %v, size %d", st.State, len(st.Result), st.Error, st.Errors, proto.Size(in))
		}
	})
	t.Run("a spec that can never fit is an error", func(t *testing.T) {
		if err := fit(task(8000, 0, 2), 4096); !errors.Is(err, errRecordTooLarge) {
			t.Fatalf("fit = %v, want errRecordTooLarge", err)
		}
	})
}

func TestCheckLabels(t *testing.T) {
	many := map[string]string{}
	for i := range MaxLabels + 1 {
		many[fmt.Sprint(i)] = "v"
	}
	for name, tc := range map[string]struct {
		labels map[string]string
		want   string
	}{
		"fine":          {map[string]string{"team": "search"}, ""},
		"too many":      {many, "65 labels"},
		"empty key":     {map[string]string{"": "v"}, "empty"},
		"long key":      {map[string]string{strings.Repeat("k", MaxLabelKeyBytes+1): "v"}, "bytes"},
		"long value":    {map[string]string{"k": strings.Repeat("v", MaxLabelValueBytes+1)}, "bytes"},
		"invalid UTF-8": {map[string]string{"k": "\xff"}, "UTF-8"},
	} {
		err := checkLabels(tc.labels)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}
