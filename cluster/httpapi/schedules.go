package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/schedule"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/types/known/durationpb"
)

// The schedule routes: recurring schedules, each run an ordinary task.
//
//	PUT    /v1/schedules/{id}         ScheduleSpec -> Schedule: 201 declared, 200 changed or already so
//	GET    /v1/schedules              ScheduleList
//	GET    /v1/schedules/{id}         Schedule
//	DELETE /v1/schedules/{id}         Schedule as it stood: no run starts after it; its runs stay
//	POST   /v1/schedules/{id}/pause   Schedule
//	POST   /v1/schedules/{id}/resume  Schedule: from now, the paused time not caught up

// ScheduleService keeps the schedules (*schedule.Service). Without one
// (Config.Schedules nil) the schedule routes answer 404.
type ScheduleService interface {
	Put(ctx context.Context, d *messages.Schedule) (store.ScheduleRecord, bool, error)
	Get(ctx context.Context, id string) (store.ScheduleRecord, error)
	List(ctx context.Context) ([]store.ScheduleRecord, error)
	Delete(ctx context.Context, id string) (store.ScheduleRecord, error)
	SetPaused(ctx context.Context, id string, paused bool) (store.ScheduleRecord, error)
}

// scheduleRoutes registers the schedule routes on h.mux.
func (h *handler) scheduleRoutes() {
	h.mux.HandleFunc("PUT /v1/schedules/{id}", h.withSchedules(h.putSchedule))
	h.mux.HandleFunc("GET /v1/schedules", h.withSchedules(h.listSchedules))
	h.mux.HandleFunc("GET /v1/schedules/{id}", h.withSchedules(h.getSchedule))
	h.mux.HandleFunc("DELETE /v1/schedules/{id}", h.withSchedules(h.deleteSchedule))
	h.mux.HandleFunc("POST /v1/schedules/{id}/pause", h.withSchedules(h.pauseSchedule(true)))
	h.mux.HandleFunc("POST /v1/schedules/{id}/resume", h.withSchedules(h.pauseSchedule(false)))
}

// withSchedules serves a schedule route with the ScheduleService, or 404
// without one.
func (h *handler) withSchedules(serve func(ScheduleService, http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if h.cfg.Schedules == nil {
			h.fail(w, r, fmt.Errorf("%w: this node keeps no schedules", api.ErrNotFound))
			return
		}
		serve(h.cfg.Schedules, w, r)
	}
}

// ScheduleOf converts a PUT body into a schedule's declaration. Errors wrap
// api.ErrInvalidArgument; the service checks the rest (spec, zone, kind).
func ScheduleOf(id string, spec api.ScheduleSpec) (*messages.Schedule, error) {
	t := spec.Task
	switch {
	case t.ID != "":
		return nil, fmt.Errorf("%w: a schedule's task takes no id: each run's id is the schedule's and its time", api.ErrInvalidArgument)
	case t.JobID != "" || t.JobStrategy != "" || t.Restart != "" || t.Significant || t.JobStage != 0 || t.JobMaxRestarts != 0 || t.JobRestartPeriod != nil:
		return nil, fmt.Errorf("%w: a schedule's task takes no job", api.ErrInvalidArgument)
	case t.Fresh:
		return nil, fmt.Errorf("%w: a schedule's task takes no fresh: each run's id is the schedule's and its time", api.ErrInvalidArgument)
	case t.StartAt != nil || t.StartAfter != nil:
		return nil, fmt.Errorf("%w: a schedule's task takes no start time: the schedule says when", api.ErrInvalidArgument)
	}
	overlap, err := schedule.ParseOverlap(spec.Overlap)
	if err != nil {
		return nil, err
	}
	sub, err := Submission(t)
	if err != nil {
		return nil, err
	}
	s := &messages.Schedule{Id: id, Cron: spec.Cron, TimeZone: spec.TimeZone, Overlap: overlap, Paused: spec.Paused,
		Template: schedule.TemplateOf(sub)}
	if w := spec.CatchupWindow; w != nil {
		s.CatchupWindow = durationpb.New(time.Duration(*w))
	}
	return s, nil
}

func (h *handler) putSchedule(svc ScheduleService, w http.ResponseWriter, r *http.Request) {
	var spec api.ScheduleSpec
	if err := h.decode(w, r, &spec, h.cfg.MaxBodyBytes); err != nil {
		h.fail(w, r, err)
		return
	}
	d, err := ScheduleOf(r.PathValue("id"), spec)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rec, created, err := svc.Put(r.Context(), d)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, putStatus(created), schedule.Status(rec))
}

func (h *handler) getSchedule(svc ScheduleService, w http.ResponseWriter, r *http.Request) {
	rec, err := svc.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, http.StatusOK, schedule.Status(rec))
}

func (h *handler) listSchedules(svc ScheduleService, w http.ResponseWriter, r *http.Request) {
	recs, err := svc.List(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := api.ScheduleList{Schedules: make([]*api.Schedule, 0, len(recs)), Count: len(recs)}
	for _, rec := range recs {
		out.Schedules = append(out.Schedules, schedule.Status(rec))
	}
	h.reply(w, http.StatusOK, out)
}

func (h *handler) deleteSchedule(svc ScheduleService, w http.ResponseWriter, r *http.Request) {
	rec, err := svc.Delete(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, http.StatusOK, schedule.Status(rec))
}

func (h *handler) pauseSchedule(paused bool) func(ScheduleService, http.ResponseWriter, *http.Request) {
	return func(svc ScheduleService, w http.ResponseWriter, r *http.Request) {
		rec, err := svc.SetPaused(r.Context(), r.PathValue("id"), paused)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		h.reply(w, http.StatusOK, schedule.Status(rec))
	}
}
