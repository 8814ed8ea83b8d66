package errs_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/granary-rt/granary/cluster/errs"
)

// TestTableIsOneToOne: each sentinel has one row, each code one sentinel,
// and the protobuf codes are unique where set.
func TestTableIsOneToOne(t *testing.T) {
	codes, protos, grains := map[string]bool{}, map[int32]bool{}, map[int32]bool{}
	for _, w := range errs.Table {
		if codes[w.Code] || (w.Proto != 0 && protos[w.Proto]) || (w.Grain != 0 && grains[w.Grain]) {
			t.Errorf("%v: a code shared with another row: %+v", w.Err, w)
		}
		codes[w.Code], protos[w.Proto], grains[w.Grain] = true, true, true
		if got := errs.Of(fmt.Errorf("op: %w", w.Err)); got.Err != w.Err {
			t.Errorf("Of(%v) = %v", w.Err, got.Err)
		}
		if got, ok := errs.ByCode(w.Code); !ok || got.Err != w.Err {
			t.Errorf("ByCode(%s) = %v, %v", w.Code, got.Err, ok)
		}
	}
	if got := errs.Of(errors.New("plain")); got.Err != errs.ErrInternal || got.HTTP != 500 {
		t.Errorf("an error of no sentinel: %+v, want internal, 500", got)
	}
}

// TestNarrowerSentinels: a package's own sentinel (errs.New) keeps its
// text and matches both itself and the shared meaning, and the local
// meanings answer as the wire meaning they are a case of.
func TestNarrowerSentinels(t *testing.T) {
	notFound := errs.New("task not found", errs.ErrNotFound)
	err := fmt.Errorf("%w: t1", notFound)
	if !errors.Is(err, notFound) || !errors.Is(err, errs.ErrNotFound) || err.Error() != "task not found: t1" {
		t.Errorf("%v: want task-not-found text matching both sentinels", err)
	}
	for _, tc := range []struct {
		err  error
		wire error
	}{
		{errs.ErrFenced, errs.ErrUnavailable},
		{errs.ErrClosed, errs.ErrUnavailable},
		{errs.ErrConflict, errs.ErrInternal},
		{errs.ErrInvalidConfig, errs.ErrInternal},
	} {
		if got := errs.Of(tc.err).Err; got != tc.wire {
			t.Errorf("%v answers as %v, want %v", tc.err, got, tc.wire)
		}
	}
}

func ExampleOf() {
	err := fmt.Errorf("cancel t1: %w", errs.ErrFailedPrecondition)
	w := errs.Of(err)
	fmt.Println(w.HTTP, w.Code)
	// Output: 409 failed_precondition
}
