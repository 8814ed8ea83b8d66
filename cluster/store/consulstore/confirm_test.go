package consulstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/store/consulstore"
	"github.com/granary-rt/granary/cluster/store/storetest"
	"github.com/granary-rt/granary/internal/testconsul"
)

// TestConfirmReadsTheStoreItself: a pushed change is confirmed at the
// revision the store holds (or a later one), refused at a revision it never
// held, and the store's layout stays the store's: the node asks the store
// (store.Confirmer), not Consul's keys.
func TestConfirmReadsTheStoreItself(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	s := newStore(t, agent, consulstore.DefaultConfig("confirm"))
	ctx := context.Background()
	rec, _, err := s.Create(ctx, storetest.NewTask("t1", "m1"))
	if err != nil {
		t.Fatal(err)
	}
	if store.CapabilitiesOf(s).Confirmer == nil {
		t.Fatal("consulstore does not report store.Confirmer")
	}
	got, err := s.Confirm(ctx, "t1", rec.Revision)
	if err != nil || got.Revision != rec.Revision || got.Task.GetSpec().GetId() != "t1" {
		t.Fatalf("Confirm at the stored revision: %+v, %v", got, err)
	}
	if _, err := s.Confirm(ctx, "t1", rec.Revision+1000); err == nil {
		t.Error("Confirm at a revision the store never held succeeded")
	}
	if _, err := s.Confirm(ctx, "nope", 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Confirm of a task never stored: %v, want ErrNotFound", err)
	}
}
