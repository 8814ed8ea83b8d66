package tasks

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/proto"
)

// Every record fits the store, always. A task is one record (one Consul KV
// value, written in a transaction; see MaxRecordBytes); what grows it after submit — the error
// history, handlers' error texts and stacks, progress notes, the result —
// is bounded here on every write, so no write is refused for its size and
// no task actor crash-loops on one. A task's spec is bounded at submit.
const (
	// MaxRecordBytes bounds a task's stored record. Consul takes a value
	// of up to 512 KiB (kv_max_value_size), but every write of a task is a
	// transaction, whose request body Consul also caps at 512 KiB
	// (txn_max_req_len) with the values in base64, 4/3 of their size: a
	// record can be at most 384 KiB, less the transaction's other
	// operations (index entries) and its JSON (measured: a 400 KB value
	// is refused). 360 KiB leaves that room.
	MaxRecordBytes = 360 << 10
	// MaxLabels, MaxLabelKeyBytes and MaxLabelValueBytes bound a task's
	// labels: metadata for people and filters, not a second payload.
	MaxLabels          = 64
	MaxLabelKeyBytes   = 128
	MaxLabelValueBytes = 1 << 10
	// MaxReasonBytes bounds the reason of a cancel or a restart.
	MaxReasonBytes = 1 << 10
	// maxMessageBytes, maxStackBytes and maxNoteBytes bound the texts a
	// handler's failure or progress puts in the record: enough for any
	// error message and the stack's top frames.
	maxMessageBytes = 4 << 10
	maxStackBytes   = 16 << 10
	maxNoteBytes    = 1 << 10
	// keepFirstErrors and keepLastErrors are the attempts whose errors a
	// long history keeps in full: the first ones (how it started going
	// wrong) and the last ones (how it is going now).
	keepFirstErrors = 3
	keepLastErrors  = 20
)

// causeResultTooLarge is the cause of a task whose handler returned a
// result the store cannot hold: the result is discarded, the task fails.
const causeResultTooLarge = "result_too_large"

// errRecordTooLarge: a record that cannot be made to fit (its spec alone
// is too large, which submit refuses, so only a record from elsewhere).
var errRecordTooLarge = errors.New("task record too large for the store")

// fit bounds what a write is about to store in t, in place, so that it
// fits within max bytes: texts are made valid UTF-8 (protobuf refuses to
// marshal anything else) and cut to their limits; a long error history
// keeps its first and last entries (fewer of the last ones if their texts
// are long) and counts the rest; a result too large is discarded and the
// task fails with cause result_too_large. It is pure: the same task in,
// the same task out.
func fit(t *messages.Task, max int) error {
	st := t.GetStatus()
	if st == nil {
		return nil
	}
	st.Error = clip(st.Error, maxMessageBytes)
	st.ProgressNote = clip(st.ProgressNote, maxNoteBytes)
	st.LastRestart = clip(st.LastRestart, MaxReasonBytes)
	for _, e := range st.Errors {
		e.Cause = clip(e.Cause, 64)
		e.Message = clip(e.Message, maxMessageBytes)
		e.Stack = clip(e.Stack, maxStackBytes)
		e.Member = clip(e.Member, 256)
	}
	if n := len(st.Errors); n > keepFirstErrors+keepLastErrors {
		drop := n - keepFirstErrors - keepLastErrors
		st.ErrorsOmitted += int32(drop)
		st.Errors = append(st.Errors[:keepFirstErrors:keepFirstErrors], st.Errors[keepFirstErrors+drop:]...)
	}
	size := proto.Size(t)
	if size <= max {
		return nil
	}
	if len(st.Result) > 0 && len(st.Checkpoint) > 0 {
		// A result is committed: no attempt resumes from the checkpoint,
		// which gives way to it (its time and attempt stay).
		st.Checkpoint = nil
		if size = proto.Size(t); size <= max {
			return nil
		}
	}
	if len(st.Result) > 0 {
		resultSize := len(st.Result)
		st.Result, st.Progress = nil, 0
		st.State = messages.TaskState_TASK_STATE_FAILED
		st.Error = fmt.Sprintf("%s: the result is %d bytes and the task's record would be %d bytes, over the store's limit of %d; the result was discarded",
			causeResultTooLarge, resultSize, size, max)
		st.Errors = append(st.Errors, &messages.AttemptError{
			Attempt: st.GetAttempts(), Cause: causeResultTooLarge, Message: st.Error,
			At: st.GetFinishedAt(), Member: st.GetOwner(),
		})
		if size = proto.Size(t); size <= max {
			return nil
		}
	}
	// Still too large (long texts in many entries): drop entries from
	// the middle of the history, the oldest of the last ones first, down
	// to the last one alone.
	for len(st.Errors) > 1 && size > max {
		i := min(keepFirstErrors, len(st.Errors)-2)
		st.Errors = append(st.Errors[:i], st.Errors[i+1:]...)
		st.ErrorsOmitted++
		size = proto.Size(t)
	}
	if size > max {
		return fmt.Errorf("%w: %d bytes, the limit is %d", errRecordTooLarge, size, max)
	}
	return nil
}

// clip makes s valid UTF-8 and cuts it to at most n bytes, on a rune
// boundary, marking the cut.
func clip(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= n {
		return s
	}
	const mark = " …(cut)"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

// checkText is the submit-time check of a free text (a reason, a label):
// valid UTF-8 and at most n bytes, or an error saying which.
func checkText(what, s string, n int) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8", what)
	}
	if len(s) > n {
		return fmt.Errorf("%s is %d bytes, the limit is %d", what, len(s), n)
	}
	return nil
}

// checkLabels bounds a submission's labels.
func checkLabels(labels map[string]string) error {
	if len(labels) > MaxLabels {
		return fmt.Errorf("%d labels, the limit is %d", len(labels), MaxLabels)
	}
	for k, v := range labels {
		if k == "" {
			return errors.New("a label key is empty")
		}
		if err := checkText(fmt.Sprintf("label key %.40q", k), k, MaxLabelKeyBytes); err != nil {
			return err
		}
		if err := checkText(fmt.Sprintf("label %.40q", k), v, MaxLabelValueBytes); err != nil {
			return err
		}
	}
	return nil
}
