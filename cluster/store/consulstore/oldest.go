package consulstore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/granary-rt/granary/cluster/store"
)

// listOldest answers f (OldestFirst, with SubmittedBefore) from the
// submission-time index (bytime.go), for the retention sweep: it lists the
// hours from timedir/ up to the bound's, oldest first, and reads only the
// tasks submitted before the bound (getMany), a page's worth at a time,
// until the page is full. A store of 100,000 tasks of which 20 are old
// reads those 20, however many are recent.
//
// An hour a page enters is listed whole (one listing: in steady state an
// hour before the bound is what the sweep deletes). The hour holding
// f.After (the cursor: the sweep's next page) is listed from the cursor's
// own second on, by seconds while they are dense, then by minutes
// (oldestFromCursor): listing that hour whole again for
// each page cost a sweep the square of the hour's tasks (1,000,000 tasks
// submitted within an hour made each page of 512 list 80 MB of keys, a
// sweep deleting them 2,000 such listings; issue #23).
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
		if hour == from {
			err = s.oldestFromCursor(ctx, f, page, hour)
		} else {
			var n int
			if n, err = s.offerOldest(ctx, f, page, s.hourPrefix(hour), ""); err == nil && n == 0 {
				s.pruneHour(ctx, hour)
			}
		}
		if err != nil {
			return nil, err
		}
		if page.Full() {
			break
		}
	}
	return page.Records(), nil
}

// oldestFromCursor offers to page the entries of hour (the one holding
// f.After) after the cursor, until the page is full: second by second from
// the cursor's own while the seconds are dense (a burst: a page is a
// second or two of entries); past a burst, the rest of its minute second
// by second too (a listing of the minute would list the burst again), and
// then each later minute in one listing. If the cursor's own second is
// sparse, the rest of its minute is one listing.
func (s *Store) oldestFromCursor(ctx context.Context, f store.Filter, page *store.Page, hour string) error {
	tp := pathOf(*f.After)
	prefix := s.hourPrefix(hour)
	m, err1 := strconv.Atoi(tp.min)
	sec, err2 := strconv.Atoi(tp.sec)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("consulstore: cursor %s/%s: %w", tp.min, tp.sec, err)
	}
	second := func(at int) string { return fmt.Sprintf("%s%02d/%02d/", prefix, at/60, at%60) }
	minute := func(m int) string { return fmt.Sprintf("%s%02d/", prefix, m) }
	at := m*60 + sec // seconds into the hour, the next to list
	for first := true; at < 3600; first = false {
		n, err := s.offerOldest(ctx, f, page, second(at), "")
		if err != nil || page.Full() {
			return err
		}
		if at++; n >= walkSparse {
			continue
		}
		if first && at%60 != 0 {
			if _, err := s.offerOldest(ctx, f, page, minute(at/60), fmt.Sprintf("%02d", at%60-1)); err != nil || page.Full() {
				return err
			}
			at += 60 - at%60
		}
		for ; at%60 != 0; at++ {
			if _, err := s.offerOldest(ctx, f, page, second(at), ""); err != nil || page.Full() {
				return err
			}
		}
		break
	}
	for m = at / 60; m < 60; m++ {
		if _, err := s.offerOldest(ctx, f, page, minute(m), ""); err != nil || page.Full() {
			return err
		}
	}
	return nil
}

// offerOldest lists the entries under prefix and offers to page, oldest
// first, those submitted before f's bound, after f.After and (afterSec
// set) in a later second than afterSec; it returns how many keys it
// listed.
func (s *Store) offerOldest(ctx context.Context, f store.Filter, page *store.Page, prefix, afterSec string) (int, error) {
	keys, _, err := s.kv.Keys(prefix, "", s.readOptions(ctx, false))
	if err != nil {
		return 0, s.wrap(err)
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
		if afterSec != "" && pathOf(p).sec <= afterSec {
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
			return 0, err
		}
		entries = entries[n:]
	}
	return len(keys), nil
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
