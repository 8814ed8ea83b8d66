package grains

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/granary-rt/granary/messages"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// TestEncodeRecordIsProtoEncoding: the hand-written encoder writes what
// proto's deterministic encoder writes, so records stay readable by any
// version, for records with and without each field.
func TestEncodeRecordIsProtoEncoding(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	blob := func(max int) []byte {
		b := make([]byte, rng.IntN(max+1))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return b
	}
	for i := range 500 {
		rec := &messages.GrainStateRecord{State: blob(300)}
		for range rng.IntN(40) {
			rec.Applied = append(rec.Applied, &messages.AppliedRequest{Id: fmt.Sprintf("%x", blob(40)), Reply: blob(200), Digest: blob(16)})
		}
		for range rng.IntN(3) {
			rec.Reminders = append(rec.Reminders, &messages.StoredReminder{Name: fmt.Sprint(rng.IntN(100)), DueUnixNano: rng.Int64(), PeriodNanos: rng.Int64N(2), Payload: blob(20)})
		}
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		got, err := encodeRecord(rec)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("record %d: encoded %x, proto encodes %x", i, got, want)
		}
		back := &messages.GrainStateRecord{}
		if err := proto.Unmarshal(got, back); err != nil || !proto.Equal(back, rec) {
			t.Fatalf("record %d: decoded %v (%v), want %v", i, back, err, rec)
		}
	}
}

// BenchmarkEncodeRecord: a counter's record, 32 applied requests.
func BenchmarkEncodeRecord(b *testing.B) {
	rec := &messages.GrainStateRecord{State: []byte(`{"value":12345}`)}
	for i := range keepApplied {
		rec.Applied = append(rec.Applied, &messages.AppliedRequest{Id: fmt.Sprintf("%032x", i), Reply: []byte(`{"value":12345,"member":"s1","activation":"0123456789abcdef"}`)})
	}
	b.Run("hand", func(b *testing.B) {
		for b.Loop() {
			_, _ = encodeRecord(rec)
		}
	})
	b.Run("proto", func(b *testing.B) {
		for b.Loop() {
			_, _ = proto.MarshalOptions{Deterministic: true}.Marshal(rec)
		}
	})
}

// TestEncodeRecordKnowsEveryField: a field added to GrainStateRecord or
// AppliedRequest in messages/grain.proto would be silently dropped by the
// hand-written encoder (the random records above never set it): this fails
// first, naming the field, so the encoder is taught it with the change.
func TestEncodeRecordKnowsEveryField(t *testing.T) {
	known := map[string][]protowire.Number{
		"GrainStateRecord": {recordStateField, recordAppliedField, recordRemindersField},
		"AppliedRequest":   {appliedIDField, appliedReplyField, appliedDigestField},
	}
	for _, m := range []proto.Message{&messages.GrainStateRecord{}, &messages.AppliedRequest{}} {
		md := m.ProtoReflect().Descriptor()
		want := known[string(md.Name())]
		fields := md.Fields()
		if fields.Len() != len(want) {
			t.Errorf("%s has %d fields; encodeRecord writes %v: teach it the new ones", md.Name(), fields.Len(), want)
		}
		for i := range fields.Len() {
			f := fields.Get(i)
			if !slices.Contains(want, protowire.Number(f.Number())) {
				t.Errorf("%s.%s (field %d) is not written by encodeRecord", md.Name(), f.Name(), f.Number())
			}
		}
	}
}
