package actors

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sync"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// EncodeCheckpoint is how TaskContext.Checkpoint encodes a value: protojson
// for a proto message (as CodecFor does), JSON otherwise, so the status
// and the console can show it and a handler's next version can read it.
func EncodeCheckpoint(v any) ([]byte, error) {
	if m, ok := v.(proto.Message); ok {
		return protojson.Marshal(m)
	}
	return json.Marshal(v)
}

// DecodeCheckpoint decodes data, saved by EncodeCheckpoint, into v, a
// pointer. Unlike a payload it decodes leniently (unknown fields are
// ignored): a checkpoint saved by an older version of the handler must
// still resume the newer one.
func DecodeCheckpoint(data []byte, v any) error {
	if m, ok := v.(proto.Message); ok {
		return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(data, m)
	}
	return json.Unmarshal(data, v)
}

// Resume returns the task's last checkpoint as a T, and whether there was
// one: the typed form of TaskContext.LastCheckpoint, for handlers made
// with Task or MustTask. T may be a pointer to a proto message.
//
//	step, _, err := actors.Resume[int](ctx) // 0 on the first attempt
//	for ; step < 100; step++ {
//		work(step)
//		if err := actors.SaveCheckpoint(ctx, step+1); err != nil {
//			return out, err
//		}
//	}
func Resume[T any](ctx TaskContext) (T, bool, error) {
	var zero T
	if _, ok := any(zero).(proto.Message); ok {
		msg := reflect.New(reflect.TypeOf(zero).Elem()).Interface()
		found, err := ctx.LastCheckpoint(msg)
		if err != nil || !found {
			return zero, found, wrapResume(ctx, err)
		}
		return msg.(T), true, nil
	}
	var v T
	found, err := ctx.LastCheckpoint(&v)
	if err != nil {
		return zero, found, wrapResume(ctx, err)
	}
	return v, found, nil
}

func wrapResume(ctx TaskContext, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("task %s: reading its checkpoint: %w", ctx.TaskID(), err)
}

// SaveCheckpoint is TaskContext.Checkpoint with the value's type checked
// at compile time (the T that Resume reads back).
func SaveCheckpoint[T any](ctx TaskContext, v T) error { return ctx.Checkpoint(v) }

// MemoryCheckpoints keeps checkpoints in memory, with no fence and no
// bound: embed it in a TaskContext of your tests to run handlers without
// a node (one value shared by the attempts you run through it shows what
// a retried attempt resumes from).
type MemoryCheckpoints struct {
	mu   sync.Mutex
	data []byte
}

// Checkpoint implements TaskContext.
func (m *MemoryCheckpoints) Checkpoint(v any) error {
	data, err := EncodeCheckpoint(v)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data = data
	return nil
}

// LastCheckpoint implements TaskContext.
func (m *MemoryCheckpoints) LastCheckpoint(v any) (bool, error) {
	m.mu.Lock()
	data := m.data
	m.mu.Unlock()
	if len(data) == 0 {
		return false, nil
	}
	return true, DecodeCheckpoint(data, v)
}
