package grains

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/granary-rt/granary/actors"
	"github.com/granary-rt/granary/cluster/errs"
	"github.com/granary-rt/granary/cluster/grainstate"
	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/proto"
)

// StateStore keeps the durable state of grains: grainstate.Store, the
// interface of package cluster/grainstate, which holds its contract, its
// implementations (consulstate, boltstate) and their conformance suite.
type StateStore = grainstate.Store

// ErrStateTooLarge: a grain's state is larger than the store holds
// (grainstate.ErrStateTooLarge).
var ErrStateTooLarge = grainstate.ErrStateTooLarge

// MaxStateBytes bounds a grain's stored state (grainstate.MaxStateBytes).
const MaxStateBytes = grainstate.MaxStateBytes

// keepApplied is how many of the last requests that changed a durable
// grain's state are kept, with their answers, in its stored record: a
// client retries a request within seconds, long before 32 others of the
// same identity have changed it.
const keepApplied = 32

// loadState gives a durable grain its stored state, before its first
// message; ok false: the activation was refused (the caller retries).
func (a *activation) loadState(c actor.Context) bool {
	if !a.keepsRecord() {
		return true
	}
	d, durable := a.grain.(actors.Durable)
	if a.h.cfg.State == nil {
		a.refuse(c, grainErr(messages.GrainErrorCode_GRAIN_ERROR_CODE_INVALID_ARGUMENT,
			fmt.Sprintf("grain kind %s keeps durable state, and member %s has no state store", a.kind.Name(), a.h.cfg.Member), ""))
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.h.cfg.DirectoryTimeout)
	defer cancel()
	data, version, err := a.h.cfg.State.LoadState(ctx, a.kind.Name(), a.identity)
	if err != nil {
		a.refuse(c, grainErr(messages.GrainErrorCode_GRAIN_ERROR_CODE_UNAVAILABLE, "loading the grain's state: "+err.Error(), ""))
		return false
	}
	rec := &messages.GrainStateRecord{}
	if err := proto.Unmarshal(data, rec); err != nil {
		a.refuse(c, grainErr(messages.GrainErrorCode_GRAIN_ERROR_CODE_HANDLER, "the grain's stored record: "+err.Error(), ""))
		return false
	}
	if durable {
		if err := d.LoadState(rec.GetState()); err != nil {
			a.refuse(c, grainErr(messages.GrainErrorCode_GRAIN_ERROR_CODE_HANDLER, "the grain's stored state: "+err.Error(), ""))
			return false
		}
	}
	a.record, a.stateVersion, a.reminders = rec, version, rec.GetReminders()
	return true
}

// appliedReply is the answer to a request whose id this grain already
// applied (a client's retry after a lost answer): the stored reply, or,
// when the id was applied to another request, a CONFLICT: answering it
// with the other request's reply would tell the client its request was
// applied when it never was.
func (a *activation) appliedReply(req *messages.GrainRequest) (*messages.GrainResponse, bool) {
	if a.record == nil || req.GetRequestId() == "" {
		return nil, false
	}
	for _, r := range a.record.GetApplied() {
		if r.GetId() != req.GetRequestId() {
			continue
		}
		if d := r.GetDigest(); len(d) > 0 && !bytes.Equal(d, requestDigest(req)) {
			return grainErr(messages.GrainErrorCode_GRAIN_ERROR_CODE_CONFLICT, fmt.Sprintf(
				"request id %q was already used for another request to %s/%s; a request id names one request: use a new id for a new request",
				req.GetRequestId(), a.kind.Name(), a.identity), ""), true
		}
		return &messages.GrainResponse{Payload: r.GetReply()}, true
	}
	return nil, false
}

// requestDigest identifies a request's content for its applied record:
// the first 16 bytes of the SHA-256 of its payload (collisions need 2^64
// tries; 32 applied requests keep it to 512 bytes a record).
func requestDigest(req *messages.GrainRequest) []byte {
	sum := sha256.Sum256(req.GetPayload())
	return sum[:16]
}

// saveState stores a durable grain's state after a message, with the
// request's id and answer, before the answer leaves. It returns nil when
// the state is stored or unchanged, else the answer to give instead: the
// grain then holds its last stored state again, and after a conflict (its
// claim lost, or its state changed elsewhere) or a failed write (which may
// have landed) the activation deactivates, so the next message reloads
// what is stored.
func (a *activation) saveState(c actor.Context, req *messages.GrainRequest, reply []byte) *messages.GrainResponse {
	if !a.keepsRecord() {
		return nil
	}
	state := a.record.GetState()
	if d, ok := a.grain.(actors.Durable); ok {
		var err error
		if state, err = d.State(); err != nil {
			a.revertState()
			return grainErr(messages.GrainErrorCode_GRAIN_ERROR_CODE_HANDLER, "encoding the grain's state: "+err.Error(), "")
		}
	}
	changes := indexChanges(a.record.GetReminders(), a.reminders)
	if bytes.Equal(state, a.record.GetState()) && len(changes) == 0 {
		return nil // unchanged: a retry would change nothing either
	}
	next := &messages.GrainStateRecord{State: state, Applied: a.record.GetApplied(), Reminders: a.reminders}
	if id := req.GetRequestId(); id != "" {
		next.Applied = append(next.Applied, &messages.AppliedRequest{Id: id, Reply: reply, Digest: requestDigest(req)})
		if n := len(next.Applied); n > keepApplied {
			next.Applied = next.Applied[n-keepApplied:]
		}
	}
	data, err := encodeRecord(next)
	if err != nil {
		a.revertState()
		return grainErr(messages.GrainErrorCode_GRAIN_ERROR_CODE_HANDLER, "encoding the grain's record: "+err.Error(), "")
	}
	if len(data) > MaxStateBytes {
		a.revertState()
		return grainErr(messages.GrainErrorCode_GRAIN_ERROR_CODE_HANDLER, fmt.Sprintf("%v: the state would be %d bytes, the limit is %d; the grain keeps its last stored state",
			ErrStateTooLarge, len(data), MaxStateBytes), "")
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.h.cfg.DirectoryTimeout)
	defer cancel()
	var version uint64
	if rs := a.h.reminderIndex; rs != nil && len(changes) > 0 {
		version, err = rs.SaveStateIndexed(ctx, a.kind.Name(), a.identity, a.h.cfg.Member, data, a.stateVersion, changes)
	} else {
		version, err = a.h.cfg.State.SaveState(ctx, a.kind.Name(), a.identity, a.h.cfg.Member, data, a.stateVersion)
	}
	if err == nil {
		a.record, a.stateVersion = next, version
		a.h.reminded(a.kind.Name(), a.identity, changes)
		return nil
	}
	a.revertState()
	if errors.Is(err, errs.ErrInvalidArgument) {
		// The store refused what it can never hold (grainstate.CheckWrite)
		// and changed nothing: the stored record is still this
		// activation's, and a retry would be refused alike.
		return grainErr(messages.GrainErrorCode_GRAIN_ERROR_CODE_HANDLER, "storing the grain's state: "+err.Error()+"; the grain keeps its last stored state", "")
	}
	a.log.Warn("storing the grain's state failed; deactivating", "err", err)
	resp := grainErr(messages.GrainErrorCode_GRAIN_ERROR_CODE_UNAVAILABLE, "storing the grain's state: "+err.Error(), "")
	a.retire(c, resp)
	return resp
}

// revertState gives the grain its last stored state and reminders again.
func (a *activation) revertState() {
	a.reminders = a.record.GetReminders()
	if d, ok := a.grain.(actors.Durable); ok {
		if err := d.LoadState(a.record.GetState()); err != nil {
			a.log.Error("restoring the grain's stored state failed", "err", err)
		}
	}
}

// LocalState is an in-memory StateStore for a single process and tests.
// With Directory set, a write checks that the writer holds the identity's
// claim there, as Consul's does.
type LocalState struct {
	Directory *LocalDirectory

	mu      sync.Mutex
	states  map[string]localState
	version uint64
	index   localIndex
}

type localState struct {
	data    []byte
	version uint64
}

// LoadState implements StateStore.
func (l *LocalState) LoadState(_ context.Context, kind, identity string) ([]byte, uint64, error) {
	if err := grainstate.CheckGrain(kind, identity); err != nil {
		return nil, 0, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.states[kind+"/"+identity]
	return bytes.Clone(s.data), s.version, nil
}

// SaveState implements StateStore.
func (l *LocalState) SaveState(ctx context.Context, kind, identity, member string, data []byte, version uint64) (uint64, error) {
	return l.SaveStateIndexed(ctx, kind, identity, member, data, version, nil)
}

// DeleteState implements StateStore.
func (l *LocalState) DeleteState(_ context.Context, kind, identity string) error {
	if err := grainstate.CheckGrain(kind, identity); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.states, kind+"/"+identity)
	var gone []IndexChange
	for _, e := range l.index.entries[ReminderShard(kind, identity)] {
		if e.Kind == kind && e.Identity == identity {
			gone = append(gone, IndexChange{Name: e.Name})
		}
	}
	if len(gone) > 0 {
		l.version++
		l.indexLocked(kind, identity, gone)
	}
	return nil
}
