package tasks

// Retrying dead letters: a task that failed for good or was cancelled is
// sent round again with a fresh retry budget (and a fresh deadline), its
// attempts, error history and checkpoint kept, and counted in its
// status's retries. Restart stays what it is (a running task started
// again); a finished task's result is never run again, so a completed
// task cannot be retried.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// MaxRetryMany bounds the tasks one RetryMany sends round again: a retry
// is a store write and an activation each; more are retried by asking
// again (the ones retried no longer match a filter of failed tasks).
const MaxRetryMany = api.MaxRetryMany

// Retry sends a failed or cancelled task round again at once: its next
// attempt runs on this member with a fresh retry budget (max_attempts
// counts from here) and, if it has a schedule-to-close bound, a fresh
// deadline. Its attempts, error history and last checkpoint are kept, and
// its status counts the retry. A task not failed or cancelled is
// api.ErrFailedPrecondition. requestID, if set, makes it idempotent: a
// retry with the id of the task's last applied retry returns the task
// unchanged.
func (m *Manager) Retry(ctx context.Context, id, reason, requestID string) (store.Record, error) {
	if err := checkID("task", id); err != nil {
		return store.Record{}, err
	}
	if err := checkText("retry reason", reason, MaxReasonBytes); err != nil {
		return store.Record{}, fmt.Errorf("%w: %w", api.ErrInvalidArgument, err)
	}
	if err := checkText("retry request id", requestID, 128); err != nil {
		return store.Record{}, fmt.Errorf("%w: %w", api.ErrInvalidArgument, err)
	}
	if m.fenced() {
		return store.Record{}, fmt.Errorf("%w: member %s is fenced", api.ErrUnavailable, m.member)
	}
	for tries := 0; tries < 5; tries++ {
		rec, err := m.store.Get(ctx, id)
		if err != nil {
			return store.Record{}, storeErr(err)
		}
		st := rec.Task.GetStatus()
		if requestID != "" && st.GetLastRetry() == requestID {
			return rec, nil // asked again: applied already
		}
		if err := retryable(rec.Task); err != nil {
			return store.Record{}, err
		}
		if _, err := m.registry.Task(rec.Task.GetSpec().GetKind()); err != nil {
			return store.Record{}, fmt.Errorf("%w: member %s does not host kind %s: retry through a member that does",
				api.ErrFailedPrecondition, m.member, rec.Task.GetSpec().GetKind())
		}
		next := proto.Clone(rec.Task).(*messages.Task)
		retryDeadStatus(next, m.now(), m.member, requestID)
		out, err := m.store.Update(ctx, next, rec.Revision)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return store.Record{}, storeErr(err)
		}
		m.log.Info("task sent round again", "task", id, "reason", reason, "retries", next.Status.GetRetries(), "was", api.StateName(st.GetState()))
		m.activateWritten(id)
		return out, nil
	}
	return store.Record{}, fmt.Errorf("%w: task %s keeps changing; try again", api.ErrUnavailable, id)
}

// retryable reports whether t may be sent round again: it failed or was
// cancelled. The error wraps api.ErrFailedPrecondition.
func retryable(t *messages.Task) error {
	switch st := t.GetStatus().GetState(); st {
	case messages.TaskState_TASK_STATE_FAILED, messages.TaskState_TASK_STATE_CANCELLED:
		return nil
	case messages.TaskState_TASK_STATE_COMPLETED:
		return fmt.Errorf("%w: task %s is completed: its result is committed and never runs again (submit a new task)", api.ErrFailedPrecondition, t.GetSpec().GetId())
	default:
		return fmt.Errorf("%w: task %s is %s, not failed or cancelled: only a dead letter is retried (restart starts a running task again)",
			api.ErrFailedPrecondition, t.GetSpec().GetId(), api.StateName(st))
	}
}

// retryDeadStatus is the change that sends a dead task round again, claimed
// by member (a higher epoch fences any earlier owner): due at once, with a
// fresh retry budget and deadline, counted.
func retryDeadStatus(t *messages.Task, now time.Time, member, requestID string) {
	st := t.Status
	st.State = messages.TaskState_TASK_STATE_RETRYING
	st.NextAttemptAt = timestamppb.New(now)
	st.BudgetBase = st.GetAttempts()
	st.Retries++
	st.RetriedAt = timestamppb.New(now)
	st.LastRetry = requestID
	st.Error, st.FinishedAt, st.Result, st.Waiting, st.JobHold = "", nil, nil, "", ""
	st.Progress, st.ProgressNote = 0, ""
	st.Owner = member
	st.Epoch++
	if d := t.GetSpec().GetScheduleToClose().AsDuration(); d > 0 {
		st.Deadline = timestamppb.New(now.Add(d))
	}
}

// RetryFilter selects the dead letters RetryMany sends round again: failed
// or cancelled tasks (States narrows it to one of them) matching Filter's
// kind, labels and job, and, if set, finished at or after FailedSince.
type RetryFilter struct {
	Filter      store.Filter
	FailedSince time.Time
}

// RetryMany retries the tasks f selects, up to MaxRetryMany of them, or
// with dryRun only counts them. It returns the ids it retried (or would
// have), and the ids it could not retry with why; more says that more
// tasks match than one call takes.
func (m *Manager) RetryMany(ctx context.Context, f RetryFilter, reason string, dryRun bool) (ids []string, failed map[string]error, more bool, err error) {
	if err := checkText("retry reason", reason, MaxReasonBytes); err != nil {
		return nil, nil, false, fmt.Errorf("%w: %w", api.ErrInvalidArgument, err)
	}
	sf := f.Filter
	if len(sf.States) == 0 {
		sf.States = []messages.TaskState{messages.TaskState_TASK_STATE_FAILED, messages.TaskState_TASK_STATE_CANCELLED}
	}
	for _, s := range sf.States {
		if s != messages.TaskState_TASK_STATE_FAILED && s != messages.TaskState_TASK_STATE_CANCELLED {
			return nil, nil, false, fmt.Errorf("%w: only failed or cancelled tasks are retried, not %s", api.ErrInvalidArgument, api.StateName(s))
		}
	}
	sf.Order, sf.Limit, sf.Unfinished, sf.Owner = store.OldestFirst, 0, false, ""
	for {
		page := sf
		page.Limit = 256
		recs, err := m.store.List(ctx, page)
		if err != nil {
			return ids, failed, false, storeErr(err)
		}
		for _, rec := range recs {
			if fin := rec.Task.GetStatus().GetFinishedAt(); !f.FailedSince.IsZero() && (fin == nil || fin.AsTime().Before(f.FailedSince)) {
				continue
			}
			if len(ids)+len(failed) == MaxRetryMany {
				return ids, failed, true, nil
			}
			id := rec.Task.GetSpec().GetId()
			if dryRun {
				ids = append(ids, id)
				continue
			}
			if _, err := m.Retry(ctx, id, reason, ""); err != nil {
				if failed == nil {
					failed = map[string]error{}
				}
				failed[id] = err
				continue
			}
			ids = append(ids, id)
		}
		if len(recs) < page.Limit {
			return ids, failed, false, nil
		}
		last := store.PositionOf(recs[len(recs)-1].Task)
		sf.After = &last
	}
}
