package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/granary-rt/granary/cluster/store"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// testListPages: List filters by kind, labels and job, orders newest first
// (by submission time, then id) or by id, and pages through a listing
// with Limit and After without losing or repeating a task.
func testListPages(t *testing.T, s store.Store) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	// p00..p09, submitted a second apart except p04 and p05 (same time);
	// kinds alternate, p03 and p06 carry team=a, p07 is in job j.
	for i := range 10 {
		task := NewTask(fmt.Sprintf("p%02d", i), "m1")
		at := t0.Add(time.Duration(i) * time.Second)
		if i == 5 {
			at = t0.Add(4 * time.Second)
		}
		task.Status.SubmittedAt = timestamppb.New(at)
		if i%2 == 1 {
			task.Spec.Kind = "sleep"
		}
		if i == 3 || i == 6 {
			task.Spec.Labels = map[string]string{"team": "a", "tier": fmt.Sprint(i)}
		}
		if i == 7 {
			task.Spec.JobId = "j"
		}
		mustCreate(t, s, task)
	}
	newest := []string{"p09", "p08", "p07", "p06", "p04", "p05", "p03", "p02", "p01", "p00"}
	cases := []struct {
		name string
		f    store.Filter
		want []string
	}{
		{"by id", store.Filter{}, []string{"p00", "p01", "p02", "p03", "p04", "p05", "p06", "p07", "p08", "p09"}},
		{"newest first", store.Filter{Order: store.NewestFirst}, newest},
		{"newest 3", store.Filter{Order: store.NewestFirst, Limit: 3}, newest[:3]},
		{"kind", store.Filter{Kind: "sleep", Order: store.NewestFirst}, []string{"p09", "p07", "p05", "p03", "p01"}},
		{"label", store.Filter{Labels: map[string]string{"team": "a"}}, []string{"p03", "p06"}},
		{"two labels", store.Filter{Labels: map[string]string{"team": "a", "tier": "6"}}, []string{"p06"}},
		{"label value differs", store.Filter{Labels: map[string]string{"team": "b"}}, nil},
		{"job and kind", store.Filter{JobID: "j", Kind: "sleep"}, []string{"p07"}},
		{"job, other kind", store.Filter{JobID: "j", Kind: "echo"}, nil},
		{"owner, kind, limit", store.Filter{Owner: "m1", Kind: "echo", Limit: 2}, []string{"p00", "p02"}},
		{"after, by id", store.Filter{After: &store.Position{ID: "p07"}}, []string{"p08", "p09"}},
		{"after, same time", store.Filter{Order: store.NewestFirst, After: &store.Position{SubmittedAt: t0.Add(4 * time.Second), ID: "p04"}, Limit: 2},
			[]string{"p05", "p03"}},
	}
	for _, c := range cases {
		recs, err := s.List(ctx(t), c.f)
		if err != nil || !equal(ids(recs), c.want) {
			t.Errorf("%s: List = %v, %v; want %v", c.name, ids(recs), err, c.want)
		}
	}
	for _, order := range []store.Order{store.ByID, store.NewestFirst} {
		var got []string
		f := store.Filter{Order: order, Limit: 3}
		for pages := 0; pages < 10; pages++ {
			recs, err := s.List(ctx(t), f)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) == 0 {
				break
			}
			got = append(got, ids(recs)...)
			at := store.PositionOf(recs[len(recs)-1].Task)
			f.After = &at
		}
		all, _ := s.List(ctx(t), store.Filter{Order: order})
		if !equal(got, ids(all)) {
			t.Errorf("order %d: pages of 3 gave %v; want %v", order, got, ids(all))
		}
	}
}
