package consulstore_test

import (
	"testing"

	"github.com/granary-rt/granary/cluster/store"
	"github.com/granary-rt/granary/cluster/store/consulstore"
	"github.com/granary-rt/granary/cluster/store/storetest"
	"github.com/granary-rt/granary/internal/testconsul"
)

func TestConformance(t *testing.T) {
	agent := testconsul.Start(t, testconsul.Options{})
	n := 0
	storetest.Run(t, func(t *testing.T) store.Store {
		n++
		s, err := consulstore.New(agent.Client(), consulstore.DefaultConfig("conf"+string(rune('a'+n))))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
