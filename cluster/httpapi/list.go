package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/granary-rt/granary/cluster/api"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/tasks"
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
// tasks and at most about MaxPageBytes after ?cursor=; next is the cursor
// of the page after, if there is one.
func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	f, err := listFilter(r.URL.Query())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.servePage(w, r, f)
}

// servePage answers a page of f, within the read budget.
func (h *handler) servePage(w http.ResponseWriter, r *http.Request, f store.Filter) {
	release, ok := h.reserveRead(w, r)
	if !ok {
		return
	}
	defer release()
	page, err := h.readPage(r.Context(), f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, http.StatusOK, page)
}

// listPage is api.TaskList with its tasks encoded already: a page is
// measured as it is read, and encoded once.
type listPage struct {
	Tasks []json.RawMessage `json:"tasks"`
	Count int               `json:"count"`
	Next  string            `json:"next,omitempty"`
}

// listReadChunk is how many records a page reads from the store at a time.
// A store hands over whole records (a result and a payload each, up to
// tasks.MaxRecordBytes), so a page read holds this many at most besides
// the statuses it keeps, elided and encoded.
const listReadChunk = 8

// readPage reads one page of f (f.Limit tasks at most) a chunk at a time,
// each task encoded as a listing has it (api.ListingOf): the page ends at
// f.Limit tasks, before the task that would take it past MaxPageBytes
// (it holds one task at least), or at the last task; Next is set unless
// it is the last.
func (h *handler) readPage(ctx context.Context, f store.Filter) (listPage, error) {
	limit := f.Limit
	out := listPage{Tasks: make([]json.RawMessage, 0, min(limit, listReadChunk))}
	var size int64
	var last store.Position
	for {
		n := min(listReadChunk, limit-len(out.Tasks))
		f.Limit = n + 1 // one more tells whether there is more
		recs, err := h.svc.Find(ctx, f)
		if err != nil {
			return out, err
		}
		for _, rec := range recs[:min(n, len(recs))] {
			st := api.ListingOf(rec.Task, rec.Revision)
			b, err := json.Marshal(st)
			if err != nil {
				return out, fmt.Errorf("%w: encoding task %s: %w", api.ErrInternal, st.ID, err)
			}
			if len(out.Tasks) > 0 && size+int64(len(b)) > h.cfg.MaxPageBytes {
				out.Next = encodeCursor(last)
				return out, nil
			}
			out.Tasks, size, last = append(out.Tasks, b), size+int64(len(b)), store.PositionOf(rec.Task)
			out.Count++
		}
		if len(recs) <= n {
			return out, nil
		}
		if out.Count == limit {
			out.Next = encodeCursor(last)
			return out, nil
		}
		f.After = &last
	}
}

// readReserve is what a page read reserves of MaxReadBytesInFlight: the
// page at its largest and a chunk of records at theirs.
func (h *handler) readReserve() int64 {
	return h.cfg.MaxPageBytes + listReadChunk*int64(tasks.MaxRecordBytes)
}

// reserveRead reserves a page read's bytes, or answers 429 with
// Retry-After when the reads in flight hold MaxReadBytesInFlight already.
func (h *handler) reserveRead(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	n := h.readReserve()
	if !h.reads.take(n) {
		h.refuse(w, r, fmt.Sprintf("the listings it serves hold %d bytes at most", h.reads.max))
		return nil, false
	}
	return func() { h.reads.give(n) }, true
}

// listFilter reads the query of GET /v1/tasks. Errors wrap
// api.ErrInvalidArgument.
func listFilter(q map[string][]string) (store.Filter, error) {
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
	var err error
	if f.Kind, err = queryOne(q, "kind"); err != nil {
		return f, err
	}
	if f.JobID, err = queryOne(q, "job"); err != nil {
		return f, err
	}
	for _, l := range q["label"] {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return f, invalidArg("label=%q is not key=value", l)
		}
		if f.Labels == nil {
			f.Labels = map[string]string{}
		}
		f.Labels[k] = v
	}
	return f, pageQuery(q, &f)
}

// pageQuery reads ?limit= and ?cursor= into f. Errors wrap
// api.ErrInvalidArgument.
func pageQuery(q map[string][]string, f *store.Filter) error {
	if s, err := queryOne(q, "limit"); err != nil {
		return err
	} else if s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxListLimit {
			return invalidArg("limit=%q: want 1 to %d", s, MaxListLimit)
		}
		f.Limit = n
	}
	if s, err := queryOne(q, "cursor"); err != nil {
		return err
	} else if s != "" {
		at, err := decodeCursor(s)
		if err != nil {
			return invalidArg("cursor=%.40q is not a cursor this API gave (take next from the previous page)", s)
		}
		f.After = &at
	}
	return nil
}

// queryOne is the value of a parameter given at most once ("" if absent).
func queryOne(q map[string][]string, name string) (string, error) {
	switch len(q[name]) {
	case 0:
		return "", nil
	case 1:
		return q[name][0], nil
	}
	return "", invalidArg("%s= given %d times; give it once", name, len(q[name]))
}

func invalidArg(format string, args ...any) error {
	return fmt.Errorf("%w: %s", api.ErrInvalidArgument, fmt.Sprintf(format, args...))
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
