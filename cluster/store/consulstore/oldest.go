package consulstore

import (
	"context"
	"sort"
	"strings"

	"github.com/granary-rt/granary/cluster/store"
)

// listOldest answers f (OldestFirst, with SubmittedBefore) from the
// submission-time index (bytime.go), for the retention sweep: it lists the
// hours from timedir/ up to the bound's, oldest first, an hour's entries
// at a time (key listings, no task read), and reads only the tasks
// submitted before the bound (getMany), a page's worth at a time, until
// the page is full. A store of 100,000 tasks of which 20 are old reads
// those 20, however many are recent.
//
// An hour's entries are listed whole: with one hour of entries in hand
// the walk can stop within it, and an hour before the bound is, in steady
// state, what the sweep deletes.
func (s *Store) listOldest(ctx context.Context, f store.Filter) ([]store.Record, error) {
	page := store.NewPage(f)
	bound := pathOf(store.Position{SubmittedAt: f.SubmittedBefore}).hour
	from := ""
	if f.After != nil {
		from = pathOf(*f.After).hour
	}
	keys, _, err := s.kv.Keys(s.hourDirPrefix(), "", s.readOptions(ctx, false))
	if err != nil {
		return nil, s.wrap(err)
	}
	hours := make([]string, 0, len(keys))
	for _, k := range keys {
		if h := strings.TrimPrefix(k, s.hourDirPrefix()); h != "" && h <= bound && h >= from {
			hours = append(hours, h)
		}
	}
	sort.Strings(hours)
	for _, hour := range hours {
		keys, _, err := s.kv.Keys(s.hourPrefix(hour), "", s.readOptions(ctx, false))
		if err != nil {
			return nil, s.wrap(err)
		}
		if len(keys) == 0 {
			s.pruneHour(ctx, hour)
			continue
		}
		var entries []store.Position
		for _, k := range keys {
			p, ok := s.positionOfKey(k)
			if !ok || !p.SubmittedAt.Before(f.SubmittedBefore) {
				continue
			}
			if f.After != nil && !store.OldestFirst.Before(*f.After, p) {
				continue
			}
			entries = append(entries, p)
		}
		sort.Slice(entries, func(i, j int) bool { return store.OldestFirst.Before(entries[i], entries[j]) })
		for len(entries) > 0 && !page.Full() {
			n := len(entries)
			if f.Limit > 0 {
				n = min(n, max(f.Limit, oldestMinFetch))
			}
			if _, err := s.offerEntries(ctx, f, page, entries[:n]); err != nil {
				return nil, err
			}
			entries = entries[n:]
		}
		if page.Full() {
			break
		}
	}
	return page.Records(), nil
}

// oldestMinFetch: the oldest-first walk reads at least this many tasks at
// once (one read transaction holds kvtxn.MaxOps), as the sweep's filter may
// keep few of them (old tasks still running).
const oldestMinFetch = walkMinFetch

// offerEntries reads the entries' tasks and offers those f keeps to page
// (while it is not full), returning how many it offered; an entry whose
// task is gone is healed, one whose task moved skipped. Both walks read
// their entries through it.
func (s *Store) offerEntries(ctx context.Context, f store.Filter, page *store.Page, take []store.Position) (int, error) {
	ids := make([]string, len(take))
	for i, p := range take {
		ids[i] = p.ID
	}
	recs, err := s.getMany(ctx, ids)
	if err != nil {
		return 0, err
	}
	byID := make(map[string]store.Record, len(recs))
	for _, r := range recs {
		byID[r.Task.GetSpec().GetId()] = r
	}
	kept := 0
	for _, p := range take {
		rec, ok := byID[p.ID]
		if !ok {
			s.healEntry(ctx, p) // its task is gone
			continue
		}
		if got := store.PositionOf(rec.Task); got.ID != p.ID || !got.SubmittedAt.Equal(p.SubmittedAt) {
			continue // moved since the listing: its new entry counts
		}
		if f.Match(rec.Task) && !page.Full() {
			page.Offer(rec)
			kept++
		}
	}
	return kept, nil
}
