package tasks

import (
	"context"
	"sync"

	"github.com/granary-rt/granary/cluster/store"
)

// childListings is how many parents' child jobs a walk of a subtree lists
// at once: enough to hide a store round trip per parent on a wide level
// (a fan-out of hundreds of child jobs), few enough not to crowd out the
// supervision writes.
const childListings = 8

// subtreeJobs reads the job records below id by parent, level by level,
// each level with one ListChildJobs per parent on it, levels levels deep
// at most: it reads the subtree's records, not every stored job's. descend
// says whether to list a child's own children (nil: every child's). A job
// met twice (a cycle, which declarations refuse) is listed once.
func (m *Manager) subtreeJobs(ctx context.Context, id string, levels int, descend func(store.JobRecord) bool) (map[string][]store.JobRecord, error) {
	below := map[string][]store.JobRecord{}
	seen := map[string]bool{id: true}
	level := []string{id}
	for range levels {
		if len(level) == 0 {
			break
		}
		kids, err := m.listChildJobs(ctx, level)
		if err != nil {
			return nil, err
		}
		var next []string
		for i, parent := range level {
			below[parent] = kids[i]
			for _, k := range kids[i] {
				kid := k.Job.GetId()
				if !seen[kid] && (descend == nil || descend(k)) {
					seen[kid] = true
					next = append(next, kid)
				}
			}
		}
		level = next
	}
	return below, nil
}

// listChildJobs lists the child jobs of each of parents, childListings
// parents at once; kids[i] are parents[i]'s.
func (m *Manager) listChildJobs(ctx context.Context, parents []string) (kids [][]store.JobRecord, err error) {
	kids = make([][]store.JobRecord, len(parents))
	errs := make([]error, len(parents))
	sem := make(chan struct{}, childListings)
	var wg sync.WaitGroup
	for i, p := range parents {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			kids[i], errs[i] = m.store.ListChildJobs(ctx, p)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return kids, nil
}
