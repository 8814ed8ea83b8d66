package consulstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/granary-rt/granary/cluster/internal/kvtxn"
	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/messages"
	"github.com/hashicorp/consul/api"
)

// The submission-time index answers "the newest N tasks" (GET /v1/tasks)
// without reading every task. Consul's KV listings have no limit and no
// start key, so the index is a tree of time buckets that a listing walks
// newest first, reading only the buckets, and the tasks, a page needs:
//
//	granary/<cluster>/timedir/<hour>                               one empty key per hour holding tasks
//	granary/<cluster>/bytime/<hour>/<MM>/<SS>/<nnnnnnnnn>-<id>     one empty key per task
//	granary/<cluster>/bytime-ready                                 a reconcile completed: listings walk the index
//	granary/<cluster>/bytime-reconcile                             when the next periodic reconcile is due
//
// <hour> is the UTC submission hour as YYYYMMDDHH, MM and SS its minute and
// second, nnnnnnnnn the nanoseconds, id the task id path-escaped: the task's
// store.Position, in sortable text. SubmittedAt is set once, at submission.
//
// Consistency, like the owner and job indexes: a task's entry is written in
// the same transaction as its creation and deleted in the same transaction
// as the task (and moved with it, should an update change its submission
// time), so a task without an entry cannot be; an entry whose task is gone
// (a task deleted while a listing walked, or an entry a reconcile wrote
// for a task deleted meanwhile) is skipped, and deleted in a transaction
// that checks that the task does not exist.
//
// The hours are listed from timedir/ (a short listing: one key per hour of
// the retention, a week being 168); an hour's minutes and a minute's
// seconds with separator listings (Consul answers with the children only);
// then the entries of a second, a minute or an hour at a time, whichever
// holds about a page (the walk adapts as it reads: coarser while listings
// come back nearly empty, finer while they come back crowded). A page of
// the newest tasks thus costs a handful of short listings and reads of
// those tasks only (getMany), however many tasks are stored.
//
// An hour's timedir key is written by the first Create of that hour in each
// process (hourDirs remembers it), and by every Create of an hour older
// than an hour, which makes a prune safe: a walk that finds an hour older
// than pruneAfter (3h) empty deletes its key only if the key has not been
// written since the walk read the hour (check-and-set on its index, read in
// the same snapshot as the hour's entries). Member clocks are assumed to
// agree within an hour.
//
// A task without its entry would be left out of listings: tasks stored
// before the index existed, and tasks a member of an older version creates
// during a rolling upgrade. Every store reconciles the index with the
// tasks in the background (reconcile.go): when it opens, and then
// periodically, shared by the members (every few minutes, every few
// seconds while runs find tasks lacking an entry), from key listings
// only. bytime-ready marks the first complete reconcile: until it exists
// (a cluster upgraded from a version without the index), List reads every
// task while the store holds at most Config.WalkRecords of them, so such
// tasks are listed from the first listing on; a larger store walks the
// index meanwhile (indexReady), answering in bounded time without them.

const (
	hourLayout = "2006010215"
	// pruneAfter: an hour is pruned from timedir/ once its start is older
	// than this (by the walker's clock). A process relies on the key it
	// wrote earlier only for tasks submitted within the last hour
	// (hourDirFresh), so until two hours after the hour's start; the third
	// hour is the margin for clocks and for commits still in flight.
	pruneAfter = 3 * time.Hour
	// hourDirFresh: a process writes an hour's key only with its first
	// Create of that hour while the hour is younger than this.
	hourDirFresh = time.Hour

	// A walk first reads as many tasks as the page lacks; once the filter
	// rejects some, at least walkMinFetch (one read transaction holds
	// kvtxn.MaxOps), doubling while it keeps rejecting, up to walkMaxFetch.
	walkMinFetch = kvtxn.MaxOps
	walkMaxFetch = 4 * kvtxn.MaxOps
	// Config.WalkRecords (plus the page size) and walkListings (plus twice
	// the page size) bound a walk: a filter that keeps few tasks makes the
	// walk read many; past these it gives up and lists every task in one
	// read, as List did without the index. The bound is what such a filter
	// costs on top of that read. 256 listings: a page needs a few per hour
	// it spans (one per minute or second where tasks are dense), and a
	// sparse stretch is listed an hour at a time.
	walkListings = 256
	// walkParallel listings of entries are in flight at once.
	walkParallel = 4
)

func (s *Store) readyKey() string              { return s.prefix + "bytime-ready" }
func (s *Store) hourDirPrefix() string         { return s.prefix + "timedir/" }
func (s *Store) hourDirKey(hour string) string { return s.hourDirPrefix() + hour }
func (s *Store) hourPrefix(hour string) string { return s.prefix + "bytime/" + hour + "/" }

// timePath is a position's place in the index: hour, minute, second, and
// the leaf (nanoseconds and id).
type timePath struct {
	hour, min, sec, leaf string
}

func pathOf(p store.Position) timePath {
	at := p.SubmittedAt.UTC()
	return timePath{
		hour: at.Format(hourLayout),
		min:  fmt.Sprintf("%02d", at.Minute()),
		sec:  fmt.Sprintf("%02d", at.Second()),
		leaf: fmt.Sprintf("%09d-%s", at.Nanosecond(), url.PathEscape(p.ID)),
	}
}

func (s *Store) timeKey(p store.Position) string {
	tp := pathOf(p)
	return s.hourPrefix(tp.hour) + tp.min + "/" + tp.sec + "/" + tp.leaf
}

// positionOfKey reads a position back from an entry's key.
func (s *Store) positionOfKey(key string) (store.Position, bool) {
	rest, ok := strings.CutPrefix(key, s.prefix+"bytime/")
	if !ok {
		return store.Position{}, false
	}
	parts := strings.SplitN(rest, "/", 4)
	if len(parts) != 4 || len(parts[3]) < 11 || parts[3][9] != '-' {
		return store.Position{}, false
	}
	hour, err := time.Parse(hourLayout, parts[0])
	if err != nil {
		return store.Position{}, false
	}
	mm, err1 := strconv.Atoi(parts[1])
	ss, err2 := strconv.Atoi(parts[2])
	ns, err3 := strconv.Atoi(parts[3][:9])
	id, err4 := url.PathUnescape(parts[3][10:])
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return store.Position{}, false
	}
	at := hour.Add(time.Duration(mm)*time.Minute + time.Duration(ss)*time.Second + time.Duration(ns))
	return store.Position{SubmittedAt: at, ID: id}, true
}

// indexOps are the operations that give t its entry (and its hour's key,
// unless this process wrote it already), and the hour to note once they
// commit ("" for none).
func (s *Store) indexOps(t *messages.Task) (api.KVTxnOps, string) {
	p := store.PositionOf(t)
	ops := api.KVTxnOps{{Verb: api.KVSet, Key: s.timeKey(p)}}
	hour := pathOf(p).hour
	fresh := time.Since(p.SubmittedAt) < hourDirFresh
	s.mu.Lock()
	known := s.hourDirs[hour]
	s.mu.Unlock()
	if known && fresh {
		return ops, ""
	}
	ops = append(ops, &api.KVTxnOp{Verb: api.KVSet, Key: s.hourDirKey(hour)})
	if !fresh {
		return ops, ""
	}
	return ops, hour
}

// noteHourDir remembers that hour's key is written, forgetting hours no
// longer fresh.
func (s *Store) noteHourDir(hour string) {
	if hour == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hourDirs == nil || len(s.hourDirs) > 4 {
		s.hourDirs = map[string]bool{}
	}
	s.hourDirs[hour] = true
}

// indexReady reports whether listings walk the index. They do once it
// holds every task: this process saw bytime-ready, or sees it now. They
// also do while it is being reconciled (no marker yet: a cluster upgraded
// from a version without the index, or a store whose first reconcile has
// not completed) if the counts (counts.go) say the store holds more tasks
// than a walk may read (Config.WalkRecords): reading every task instead
// takes longer the more tasks are stored (17.7 s for a page at 100,000,
// issue #23), so the page comes from the index in bounded time, and
// leaves out tasks stored without an entry (by an older version) until the
// running reconcile gives them theirs. A store of fewer tasks (a new one
// is empty), or whose counts are not made yet, is read whole: complete,
// and cheap while it is small.
func (s *Store) indexReady(ctx context.Context) bool {
	if s.ready.Load() {
		return true
	}
	pair, _, err := s.kv.Get(s.readyKey(), s.readOptions(ctx, false))
	if err == nil && pair != nil {
		s.ready.Store(true)
		return true
	}
	return s.storedMoreThan(ctx, int64(s.cfg.WalkRecords))
}

// storedMoreThan reports whether the counts say more than n tasks are
// stored (false when they cannot be read or are not made yet).
func (s *Store) storedMoreThan(ctx context.Context, n int64) bool {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	pairs, _, err := s.kv.List(s.countsPrefix(), s.readOptions(ctx, false))
	if err != nil {
		return false
	}
	sum, made, err := s.sumShards(pairs)
	return err == nil && made && sum.Total() > n
}

// Backfill runs Reconcile and returns how many tasks it indexed (the name
// of its first version, which indexed a store only once).
func (s *Store) Backfill(ctx context.Context) (int, error) {
	r, err := s.Reconcile(ctx)
	return r.Indexed, err
}

// listNewest answers f (NewestFirst, with a Limit) from the index. ok is
// false when the walk gave up (a filter keeping few tasks): the caller then
// reads every task.
func (s *Store) listNewest(ctx context.Context, f store.Filter) (recs []store.Record, ok bool, err error) {
	w := &walker{s: s, ctx: ctx, f: f, page: store.NewPage(f), gran: bySecond, par: 1}
	if f.After != nil {
		tp := pathOf(*f.After)
		w.cursor = &tp
	}
	done, err := w.walk()
	if err != nil || !done {
		return nil, false, err
	}
	return w.page.Records(), true, nil
}

// walker walks the index newest first, gathering the tasks of one page.
type walker struct {
	s      *Store
	ctx    context.Context
	f      store.Filter
	cursor *timePath // f.After's place, nil: from the newest
	page   *store.Page

	pending  []store.Position // entries not read yet, in order
	kept     int              // records offered to the page
	batch    int              // how many to read at least at once (grows while the filter keeps few)
	fetched  int              // tasks read
	listings int              // listings made
	gran     int              // bySecond, byMinute or byHour
	par      int              // listings of entries made at once (up to walkParallel)
}

// boundedKeys lists the keys under prefix (with sep: its children) within
// the store's call bound, as every call that is not a blocking query is:
// unbounded, a listing waited on Consul while it had no quorum until the
// client gave up, where it must hear 503 (TestNoQuorumListingsAnswer503).
// Each listing of the walk is one hour's or one minute's entries, small
// however many tasks the store holds.
func (s *Store) boundedKeys(ctx context.Context, prefix, sep string) ([]string, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	keys, _, err := s.kv.Keys(prefix, sep, s.readOptions(ctx, false))
	return keys, err
}

// errGiveUp ends a walk that passed its bounds.
var errGiveUp = errors.New("walk bound reached")

// walk returns true when the page is complete (full, or every entry seen),
// false when it gave up.
func (w *walker) walk() (bool, error) {
	hours, err := w.children(w.s.hourDirPrefix(), "")
	if err != nil {
		return false, err
	}
	for _, hour := range hours {
		onSpine := w.cursor != nil && hour == w.cursor.hour
		if w.cursor != nil && hour > w.cursor.hour {
			continue
		}
		if err := w.walkHour(hour, onSpine); err != nil {
			if errors.Is(err, errGiveUp) {
				return false, nil
			}
			return false, err
		}
		if w.page.Full() {
			return true, nil
		}
	}
	for len(w.pending) > 0 && !w.page.Full() {
		if err := w.flush(); err != nil {
			if errors.Is(err, errGiveUp) {
				return false, nil
			}
			return false, err
		}
	}
	return true, nil
}

// Granularities of a walk's listings: one listing per second, per minute
// or per hour of entries. A walk starts by seconds, one listing at a time,
// and goes coarser and wider (more listings at once) while its listings
// come back nearly empty (sparse tasks: a listing per second would cost a
// round trip per task), finer and narrower while they come back crowded.
// Starting coarse cost a page of a burst every entry of its minutes: 450
// tasks/s stored for four minutes made each page list 100,000 entries,
// and GET /v1/tasks, which reads a page in chunks of 9, took 17.7 s at
// 100,000 tasks (issue #23). Starting fine, a page of a burst lists about
// a second of entries, and a page of sparse tasks costs two listings more
// than it did.
const (
	bySecond = iota
	byMinute
	byHour
)

const (
	// walkSparse: listings that average fewer entries than this make the
	// walk list coarser.
	walkSparse = 16
	// walkDense: listings that average more entries than this make the
	// walk list finer.
	walkDense = 1024
)

// walkHour lists an hour's entries, by hour, minute or second (w.gran).
// On the cursor's spine (the hour holding f.After) it starts at the
// cursor's own second, and lists the hour's minutes (a listing Consul
// answers by going through every key of the hour) only if the page needs
// more: each chunk of 9 that GET /v1/tasks reads after the first thus
// costs a listing of a second, not of the hour (100,000 keys when they
// were stored within it).
func (w *walker) walkHour(hour string, onSpine bool) error {
	prefix := w.s.hourPrefix(hour)
	if w.gran == byHour && !onSpine {
		n, err := w.leaves([]string{prefix})
		if err == nil && n == 0 {
			w.s.pruneHour(w.ctx, hour)
		}
		return err
	}
	if onSpine { // the cursor's minute first, from its second (walkMinute)
		if err := w.walkMinute(prefix+w.cursor.min+"/", true); err != nil || w.page.Full() {
			return err
		}
	}
	mins, err := w.children(prefix, "/")
	if err != nil {
		return err
	}
	if len(mins) == 0 {
		w.s.pruneHour(w.ctx, hour)
		return nil
	}
	var want []string
	for _, m := range mins {
		m = strings.TrimSuffix(m, "/")
		if onSpine && m >= w.cursor.min {
			continue
		}
		want = append(want, m)
	}
	for len(want) > 0 {
		if w.gran >= byMinute {
			n := min(len(want), w.par)
			prefixes := make([]string, n)
			for i, m := range want[:n] {
				prefixes[i] = prefix + m + "/"
			}
			if _, err := w.leaves(prefixes); err != nil {
				return err
			}
			want = want[n:]
		} else {
			if err := w.walkMinute(prefix+want[0]+"/", onSpine && want[0] == w.cursor.min); err != nil {
				return err
			}
			want = want[1:]
		}
		if w.page.Full() {
			return nil
		}
	}
	return nil
}

// walkMinute lists a minute by seconds; on the cursor's spine, the
// cursor's own second first, before listing the minute's seconds.
func (w *walker) walkMinute(prefix string, onSpine bool) error {
	if onSpine {
		if _, err := w.leaves([]string{prefix + w.cursor.sec + "/"}); err != nil || w.page.Full() {
			return err
		}
	}
	secs, err := w.children(prefix, "/")
	if err != nil {
		return err
	}
	var want []string
	for _, sec := range secs {
		sec = strings.TrimSuffix(sec, "/")
		if onSpine && sec >= w.cursor.sec {
			continue
		}
		want = append(want, prefix+sec+"/")
	}
	for len(want) > 0 {
		n := min(len(want), w.par)
		if _, err := w.leaves(want[:n]); err != nil {
			return err
		}
		want = want[n:]
		if w.page.Full() {
			return nil
		}
	}
	return nil
}

// leaves lists the entries under these prefixes (newest first, each
// whole) at once, takes them in order, adjusts the walk's granularity to
// how many they held, and returns that number.
func (w *walker) leaves(prefixes []string) (int, error) {
	lists := make([][]string, len(prefixes))
	errs := make([]error, len(prefixes))
	var wg sync.WaitGroup
	for i, p := range prefixes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lists[i], errs[i] = w.s.boundedKeys(w.ctx, p, "")
		}()
	}
	wg.Wait()
	w.listings += len(prefixes)
	if err := errors.Join(errs...); err != nil {
		return 0, w.s.wrap(err)
	}
	total := 0
	for _, keys := range lists {
		total += len(keys)
	}
	avg := total / len(prefixes)
	switch {
	case avg < walkSparse && w.gran < byHour:
		w.gran++
	case avg > walkDense && w.gran > bySecond:
		w.gran--
	}
	if total < w.need()-len(w.pending) {
		w.par = min(2*w.par, walkParallel) // these held less than the page lacks
	} else {
		w.par = 1
	}
	for _, keys := range lists {
		var entries []store.Position
		for _, k := range keys {
			p, ok := w.s.positionOfKey(k)
			if !ok {
				continue
			}
			if w.f.After != nil && !store.NewestFirst.Before(*w.f.After, p) {
				continue
			}
			entries = append(entries, p)
		}
		sort.Slice(entries, func(i, j int) bool { return store.NewestFirst.Before(entries[i], entries[j]) })
		w.pending = append(w.pending, entries...)
		for len(w.pending) >= w.need() {
			if err := w.flush(); err != nil {
				return total, err
			}
			if w.page.Full() {
				return total, nil
			}
		}
	}
	return total, w.bound()
}

// need is how many entries to gather before reading them.
func (w *walker) need() int { return max(w.f.Limit-w.kept, w.batch) }

// flush reads the pending entries' tasks (up to need), in order, into the
// page.
func (w *walker) flush() error {
	if len(w.pending) == 0 {
		return nil
	}
	n := min(len(w.pending), w.need())
	take := w.pending[:n]
	w.pending = w.pending[n:]
	kept, err := w.s.offerEntries(w.ctx, w.f, w.page, take)
	if err != nil {
		return err
	}
	w.fetched += len(take)
	w.kept += kept
	if kept < len(take) {
		w.batch = min(max(2*w.batch, walkMinFetch), walkMaxFetch)
	}
	return w.bound()
}

// bound ends a walk past its bounds (errGiveUp).
func (w *walker) bound() error {
	if w.page.Full() {
		return nil
	}
	if w.fetched > w.s.cfg.WalkRecords+w.f.Limit || w.listings > walkListings+2*w.f.Limit {
		return errGiveUp
	}
	return nil
}

// children lists the keys under prefix (with sep: its children), newest
// (largest) first, without the prefix.
func (w *walker) children(prefix, sep string) ([]string, error) {
	keys, err := w.s.boundedKeys(w.ctx, prefix, sep)
	w.listings++
	if err != nil {
		return nil, w.s.wrap(err)
	}
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if rest := strings.TrimPrefix(k, prefix); rest != "" && rest != "/" {
			out = append(out, rest)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(out)))
	return out, nil
}

// pruneHour deletes an hour's key if the hour is old and still empty, and
// its key not written since (best effort: a failure leaves one key more
// for walks to list).
func (s *Store) pruneHour(ctx context.Context, hour string) {
	at, err := time.Parse(hourLayout, hour)
	if err != nil || time.Since(at) < pruneAfter {
		return
	}
	// One snapshot: the hour's key and its entries.
	ok, resp, _, err := s.kv.Txn(api.KVTxnOps{
		{Verb: api.KVGet, Key: s.hourDirKey(hour)},
		{Verb: api.KVGetTree, Key: s.hourPrefix(hour)},
	}, s.readOptions(ctx, false))
	if err != nil || !ok || resp == nil || len(resp.Results) != 1 {
		return // the key is gone, or the hour holds entries
	}
	_, _, _, _ = s.kv.Txn(api.KVTxnOps{{Verb: api.KVDeleteCAS, Key: s.hourDirKey(hour), Index: resp.Results[0].ModifyIndex}}, (&api.QueryOptions{}).WithContext(ctx))
}

// healEntry deletes an entry whose task is gone, in a transaction that
// checks that it is (best effort), and reports whether it did.
func (s *Store) healEntry(ctx context.Context, p store.Position) bool {
	ok, _, _, err := s.kv.Txn(api.KVTxnOps{
		{Verb: api.KVCheckNotExists, Key: s.taskKey(p.ID)},
		{Verb: api.KVDelete, Key: s.timeKey(p)},
	}, (&api.QueryOptions{}).WithContext(ctx))
	return err == nil && ok
}
