package consulstore

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
)

// Job and schedule records longer than packAbove are stored gzipped. A
// job's record holds an entry per child its supervisor knows (about 40
// bytes each), and Consul refuses a value over 512 KiB: a job of some
// 13,000 tasks could not be written, and its supervisor retried the write
// for good, taking no decision. Those entries repeat the same words and
// compress about tenfold. A protobuf body never starts with gzip's magic
// number (0x1f would be field 3 with wire type 7, which does not exist),
// so a reader tells the two apart without a flag, and records written
// before stay readable. Tasks are not packed: each is small, and on the
// hot path.
const packAbove = 64 << 10

// unpackLimit bounds what a packed value may grow to once unpacked: a
// corrupt (or hostile) value must not make a member allocate without end.
// Far above any record that packs under Consul's 512 KiB.
const unpackLimit = 64 << 20

var gzipMagic = []byte{0x1f, 0x8b}

// errPackedTooLarge: a packed value unpacks past unpackLimit.
var errPackedTooLarge = errors.New("packed record unpacks past the limit")

// packRecord is the value to store for a record's encoded body.
func packRecord(body []byte) ([]byte, error) {
	if len(body) <= packAbove {
		return body, nil
	}
	var b bytes.Buffer
	w, err := gzip.NewWriterLevel(&b, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(body); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// unpackRecord is the encoded body of a stored value, packed or not.
func unpackRecord(v []byte) ([]byte, error) {
	if !bytes.HasPrefix(v, gzipMagic) {
		return v, nil
	}
	r, err := gzip.NewReader(bytes.NewReader(v))
	if err != nil {
		return nil, fmt.Errorf("unpacking: %w", err)
	}
	body, err := io.ReadAll(io.LimitReader(r, unpackLimit+1))
	if err != nil {
		return nil, fmt.Errorf("unpacking: %w", err)
	}
	if len(body) > unpackLimit {
		return nil, fmt.Errorf("%w (%d bytes)", errPackedTooLarge, unpackLimit)
	}
	return body, nil
}
