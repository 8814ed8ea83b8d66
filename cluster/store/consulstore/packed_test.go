package consulstore

import (
	"bytes"
	"compress/gzip"
	"errors"
	"testing"
)

func TestPackRecord(t *testing.T) {
	small := bytes.Repeat([]byte{0x0a, 0x01, 'x'}, 100)
	if got, err := packRecord(small); err != nil || !bytes.Equal(got, small) {
		t.Fatalf("a small record is stored as it is: got %d bytes, %v", len(got), err)
	}
	large := bytes.Repeat([]byte("\x3a\x1e\x0a\x0cbatch-000123\x22\x09transient\x32\x07running"), packAbove/30+10)
	packed, err := packRecord(large)
	if err != nil || !bytes.HasPrefix(packed, gzipMagic) || len(packed) > len(large)/5 {
		t.Fatalf("a large record is packed: %d bytes of %d (%v)", len(packed), len(large), err)
	}
	for _, v := range [][]byte{small, large, packed} {
		got, err := unpackRecord(v)
		if err != nil || !bytes.Equal(got, map[bool][]byte{true: small, false: large}[bytes.Equal(v, small)]) {
			t.Fatalf("unpacking %d bytes: %d bytes, %v", len(v), len(got), err)
		}
	}
	if _, err := unpackRecord(append(append([]byte{}, gzipMagic...), "not gzip"...)); err == nil {
		t.Fatal("a corrupt packed value unpacked")
	}
	var bomb bytes.Buffer
	w := gzip.NewWriter(&bomb)
	zeros := make([]byte, 1<<20)
	for range unpackLimit>>20 + 1 {
		_, _ = w.Write(zeros)
	}
	_ = w.Close()
	if _, err := unpackRecord(bomb.Bytes()); !errors.Is(err, errPackedTooLarge) {
		t.Fatalf("a value of %d bytes that unpacks past the limit: %v", bomb.Len(), err)
	}
}
