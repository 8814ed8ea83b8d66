package actors_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/granary-rt/granary/actors"
)

// parentTask is a fakeTask that can have children: it records spawns and
// answers awaits from done (a child id absent from it did not complete).
type parentTask struct {
	fakeTask
	mu      sync.Mutex
	spawned []string
	done    map[string][]byte
}

func (p *parentTask) SpawnChild(name, kind string, payload []byte, _ actors.ChildOptions) (actors.Child, error) {
	if err := actors.CheckChildName(name); err != nil {
		return actors.Child{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.spawned = append(p.spawned, name)
	return actors.Child{ID: actors.ChildID(p.TaskID(), name), Name: name, Kind: kind}, nil
}

func (p *parentTask) AwaitChildren(children ...actors.Child) ([]actors.ChildResult, error) {
	out := make([]actors.ChildResult, len(children))
	for i, c := range children {
		out[i] = actors.ChildResult{Child: c, State: "completed", Result: p.done[c.ID]}
		if _, ok := p.done[c.ID]; !ok {
			out[i].State, out[i].Err = "failed", fmt.Errorf("%w: %s failed", actors.ErrChildFailed, c.ID)
		}
	}
	return out, nil
}

func TestSpawnAndAwait(t *testing.T) {
	if _, err := actors.Spawn(fakeTask{Context: context.Background()}, "c", "k", nil, actors.ChildOptions{}); !errors.Is(err, actors.ErrNoChildren) {
		t.Fatalf("Spawn on a context without children: %v; want ErrNoChildren", err)
	}
	p := &parentTask{fakeTask: fakeTask{Context: context.Background()}, done: map[string][]byte{"t1:a": []byte("2"), "t1:b": []byte("3")}}
	specs := []actors.ChildSpec{{Name: "a", Kind: "k"}, {Name: "b", Kind: "k"}, {Name: "bad:name", Kind: "k"}}
	kids, err := actors.SpawnAll(p, specs...)
	if !errors.Is(err, actors.ErrInvalidChild) || kids[0].ID != "t1:a" || kids[1].ID != "t1:b" || len(p.spawned) != 2 {
		t.Fatalf("SpawnAll: %v, %+v, spawned %v; want a and b spawned, the bad name refused", err, kids, p.spawned)
	}
	sums, err := actors.AwaitAll[int](p, kids[:2]...)
	if err != nil || sums[0]+sums[1] != 5 {
		t.Fatalf("AwaitAll: %v, %v", sums, err)
	}
	c, _ := actors.SpawnTyped(p, "c", "k", struct{ X int }{1}, actors.ChildOptions{})
	res, err := actors.Await(p, kids[0], c)
	if !errors.Is(err, actors.ErrChildFailed) || res[0].Err != nil || res[1].State != "failed" || !strings.Contains(err.Error(), "t1:c") {
		t.Fatalf("Await with a failed child: %v, %+v; want its failure joined, the results complete", err, res)
	}
}
