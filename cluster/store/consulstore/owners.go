package consulstore

import (
	"context"
	"net/url"
	"sort"
	"strings"

	"github.com/hashicorp/consul/api"
)

// Owners lists the members that own unfinished tasks, from the owner index.
func (s *Store) Owners(ctx context.Context) ([]string, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	prefix := s.prefix + "owners/"
	keys, _, err := s.kv.Keys(prefix, "/", s.readOptions(ctx, false))
	if err != nil {
		return nil, s.wrap(err)
	}
	var out []string
	for _, k := range keys {
		owner, err := url.PathUnescape(strings.TrimSuffix(strings.TrimPrefix(k, prefix), "/"))
		if err == nil && owner != "" {
			out = append(out, owner)
		}
	}
	sort.Strings(out)
	return out, nil
}

// WatchOwned blocks until the set of unfinished tasks owned by owner may
// have changed since index (0 answers at once), and returns their ids with
// the index to wait on next. A member runs it on itself to activate the
// tasks submitted to other members but placed on it, and those it adopted.
func (s *Store) WatchOwned(ctx context.Context, owner string, index uint64) ([]string, uint64, error) {
	if err := s.check(ctx); err != nil {
		return nil, 0, err
	}
	prefix := s.prefix + "owners/" + url.PathEscape(owner) + "/"
	keys, meta, err := s.kv.Keys(prefix, "", (&api.QueryOptions{WaitIndex: index, WaitTime: s.cfg.WatchWait}).WithContext(ctx))
	if err != nil {
		return nil, 0, s.wrap(err)
	}
	ids := make([]string, 0, len(keys))
	for _, k := range keys {
		if id, err := url.PathUnescape(strings.TrimPrefix(k, prefix)); err == nil {
			ids = append(ids, id)
		}
	}
	next := meta.LastIndex
	if next < index {
		next = 0 // Consul's index went back (agent restarted): start over
	}
	return ids, next, nil
}

// TaskKinds returns the kind of each task id (missing ids are left out),
// for placing adopted tasks.
func (s *Store) TaskKinds(ctx context.Context, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	for _, id := range ids {
		rec, err := s.Get(ctx, id)
		if err != nil {
			continue
		}
		out[id] = rec.Task.GetSpec().GetKind()
	}
	return out, nil
}
