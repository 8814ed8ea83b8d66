package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
)

const (
	// DefaultListLimit is the page size of GET /v1/tasks without ?limit=:
	// a screenful of the newest tasks, which is what someone looking
	// wants, in an answer of a few hundred kilobytes at most for typical
	// statuses.
	DefaultListLimit = 100
	// MaxListLimit bounds ?limit=: a status with its error history can be
	// tens of kilobytes, so a page of 1000 is already megabytes held by the
	// node while it answers; larger listings page with ?cursor=.
	MaxListLimit = 1000
)

// list answers GET /v1/tasks: the tasks the query selects (state, kind,
// label k=v, job), newest first, one page of ?limit= (DefaultListLimit)
// after ?cursor=; next is the cursor of the page after, if there is one.
func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	f, err := listFilter(r.URL.Query())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	limit := f.Limit
	f.Limit++ // one more tells whether there is a next page
	recs, err := h.svc.Find(r.Context(), f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := api.TaskList{}
	if len(recs) > limit {
		recs = recs[:limit]
		out.Next = encodeCursor(store.PositionOf(recs[limit-1].Task))
	}
	out.Tasks, out.Count = make([]*api.Status, 0, len(recs)), len(recs)
	for _, rec := range recs {
		out.Tasks = append(out.Tasks, api.FromTask(rec.Task, rec.Revision))
	}
	h.reply(w, http.StatusOK, out)
}

// listFilter reads the query of GET /v1/tasks. Errors wrap
// api.ErrInvalidArgument.
func listFilter(q map[string][]string) (store.Filter, error) {
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", api.ErrInvalidArgument, fmt.Sprintf(format, args...))
	}
	f := store.Filter{Order: store.NewestFirst, Limit: DefaultListLimit}
	for _, s := range q["state"] {
		for _, name := range strings.Split(s, ",") {
			st, err := api.ParseState(strings.TrimSpace(name))
			if err != nil {
				return f, err
			}
			f.States = append(f.States, st)
		}
	}
	one := func(name string) (string, error) {
		if len(q[name]) > 1 {
			return "", invalid("%s= given %d times; give it once", name, len(q[name]))
		}
		if len(q[name]) == 0 {
			return "", nil
		}
		return q[name][0], nil
	}
	var err error
	if f.Kind, err = one("kind"); err != nil {
		return f, err
	}
	if f.JobID, err = one("job"); err != nil {
		return f, err
	}
	for _, l := range q["label"] {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return f, invalid("label=%q is not key=value", l)
		}
		if f.Labels == nil {
			f.Labels = map[string]string{}
		}
		f.Labels[k] = v
	}
	if s, err := one("limit"); err != nil {
		return f, err
	} else if s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxListLimit {
			return f, invalid("limit=%q: want 1 to %d", s, MaxListLimit)
		}
		f.Limit = n
	}
	if s, err := one("cursor"); err != nil {
		return f, err
	} else if s != "" {
		at, err := decodeCursor(s)
		if err != nil {
			return f, invalid("cursor=%.40q is not a cursor this API gave (take next from the previous page)", s)
		}
		f.After = &at
	}
	return f, nil
}

// cursor is what a page's next cursor holds: the position of its last
// task. It is opaque to clients (base64 of JSON), so its form may change.
type cursor struct {
	SubmittedAt int64  `json:"t"`
	ID          string `json:"id"`
}

func encodeCursor(at store.Position) string {
	b, _ := json.Marshal(cursor{SubmittedAt: at.SubmittedAt.UnixNano(), ID: at.ID})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (store.Position, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return store.Position{}, err
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil {
		return store.Position{}, err
	}
	if !api.ValidID(c.ID) {
		return store.Position{}, fmt.Errorf("cursor: bad id %q", c.ID)
	}
	return store.Position{SubmittedAt: time.Unix(0, c.SubmittedAt).UTC(), ID: c.ID}, nil
}
