package consulstore

import (
	"testing"

	"github.com/hashicorp/consul/api"
	"google.golang.org/protobuf/proto"

	"github.com/granary-rt/granary/messages"
)

// FuzzDecode: whatever bytes a key holds (a corrupt record, another
// program's value, an older or newer version's), reading it back gives an
// error or a task, never a panic, and a task it gives marshals again.
func FuzzDecode(f *testing.F) {
	good, _ := proto.Marshal(&messages.Task{Spec: &messages.TaskSpec{Id: "t1", Kind: "k"}, Status: &messages.TaskStatus{Owner: "m1"}})
	f.Add(good, uint64(7))
	f.Add([]byte{0x0a, 0xff, 0xff}, uint64(1))
	f.Add([]byte("not a task"), uint64(0))
	c, err := api.NewClient(api.DefaultConfig()) // never dialled: decode reads no Consul
	if err != nil {
		f.Fatal(err)
	}
	s, err := New(c, DefaultConfig("fuzz"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, value []byte, rev uint64) {
		rec, err := s.decode(&api.KVPair{Key: s.prefix + "tasks/t1", Value: value, ModifyIndex: rev}, true)
		if err != nil {
			return
		}
		if _, err := proto.Marshal(rec.Task); err != nil {
			t.Fatalf("a decoded task does not marshal: %v", err)
		}
	})
}
