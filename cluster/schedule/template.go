package schedule

import (
	"maps"
	"time"

	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/tasks"
	"github.com/granary-rt/granary/messages"
	"github.com/granary-rt/granary/supervisor"
	"google.golang.org/protobuf/types/known/durationpb"
)

// LabelSchedule is the label every run carries: its schedule's id, so
// `granary list --label granary.schedule=ID` lists a schedule's runs.
const LabelSchedule = "granary.schedule"

// RunID is the id of a schedule's run at slot: the schedule's id and the
// slot's UTC time to the second. It is the run's idempotency key: however
// many members submit a slot's run (a failover between the decision and
// the submit), one task is stored.
func RunID(schedule string, slot time.Time) string {
	return schedule + "-" + slot.UTC().Format("20060102T150405Z")
}

// TemplateOf keeps the parts of a submission a schedule's runs repeat:
// kind, payload, labels and the policy overrides (unset ones take the
// kind's defaults when a run is submitted; an override of zero reads as
// unset).
func TemplateOf(sub tasks.Submission) *messages.TaskTemplate {
	o := sub.Overrides
	t := &messages.TaskTemplate{
		Kind:             sub.Kind,
		Payload:          sub.Payload,
		Labels:           maps.Clone(sub.Labels),
		BackoffInitial:   optDuration(o.BackoffInitial),
		BackoffMax:       optDuration(o.BackoffMax),
		AttemptTimeout:   optDuration(o.AttemptTimeout),
		HeartbeatTimeout: optDuration(o.HeartbeatTimeout),
		Deadline:         optDuration(o.ScheduleToClose),
	}
	if o.MaxAttempts != nil {
		t.MaxAttempts = int32(*o.MaxAttempts)
	}
	if o.BackoffMultiplier != nil {
		t.BackoffMultiplier = *o.BackoffMultiplier
	}
	if o.Jitter != nil {
		t.Jitter = jitterToProto[*o.Jitter]
	}
	return t
}

// SubmissionOf is the submission of the run of schedule id at slot.
func SubmissionOf(id string, tpl *messages.TaskTemplate, slot time.Time) tasks.Submission {
	labels := maps.Clone(tpl.GetLabels())
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelSchedule] = id
	sub := tasks.Submission{
		ID:           RunID(id, slot),
		Kind:         tpl.GetKind(),
		Payload:      tpl.GetPayload(),
		Labels:       labels,
		ScheduleID:   id,
		ScheduleSlot: slot,
	}
	o := &sub.Overrides
	if n := tpl.GetMaxAttempts(); n != 0 {
		o.MaxAttempts = ptr(int(n))
	}
	if m := tpl.GetBackoffMultiplier(); m != 0 {
		o.BackoffMultiplier = ptr(m)
	}
	for j, p := range jitterToProto {
		if p == tpl.GetJitter() {
			o.Jitter = ptr(j)
		}
	}
	o.BackoffInitial, o.BackoffMax = durationOf(tpl.GetBackoffInitial()), durationOf(tpl.GetBackoffMax())
	o.AttemptTimeout, o.HeartbeatTimeout = durationOf(tpl.GetAttemptTimeout()), durationOf(tpl.GetHeartbeatTimeout())
	o.ScheduleToClose = durationOf(tpl.GetDeadline())
	return sub
}

// Overrides is the template's policy as a submission carries it.
func Overrides(tpl *messages.TaskTemplate) actors.Overrides {
	return SubmissionOf("x", tpl, time.Time{}).Overrides
}

var jitterToProto = map[supervisor.Jitter]messages.Jitter{
	supervisor.JitterNone:  messages.Jitter_JITTER_NONE,
	supervisor.JitterFull:  messages.Jitter_JITTER_FULL,
	supervisor.JitterEqual: messages.Jitter_JITTER_EQUAL,
}

func optDuration(d *time.Duration) *durationpb.Duration {
	if d == nil || *d == 0 {
		return nil
	}
	return durationpb.New(*d)
}

func durationOf(d *durationpb.Duration) *time.Duration {
	if d == nil {
		return nil
	}
	return ptr(d.AsDuration())
}

func ptr[T any](v T) *T { return &v }

// policyOf is a template's policy overrides as the API writes them.
func policyOf(o actors.Overrides) api.Policy {
	d := func(v *time.Duration) *api.Duration {
		if v == nil {
			return nil
		}
		return ptr(api.Duration(*v))
	}
	p := api.Policy{MaxAttempts: o.MaxAttempts, BackoffMultiplier: o.BackoffMultiplier, BackoffInitial: d(o.BackoffInitial),
		BackoffMax: d(o.BackoffMax), AttemptTimeout: d(o.AttemptTimeout), HeartbeatTimeout: d(o.HeartbeatTimeout), Deadline: d(o.ScheduleToClose)}
	if o.Jitter != nil {
		p.Jitter = ptr(o.Jitter.String())
	}
	return p
}
