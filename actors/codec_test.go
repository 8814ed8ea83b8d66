package actors_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"testing"

	"github.com/granary-rt/granary/actors"
)

type codecReq struct {
	Op   string         `json:"op"`
	N    int            `json:"n,omitempty"`
	Tags []string       `json:"tags,omitempty"`
	More map[string]any `json:"more,omitempty"`
}

// tokenDecode is JSONCodec.Decode as it was, checking for trailing data
// with dec.Token(): the decoder must answer exactly as it does.
func tokenDecode[T any](data []byte) (T, error) {
	var v T
	if len(bytes.TrimSpace(data)) == 0 {
		return v, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return v, fmt.Errorf("unexpected data after the JSON value")
	}
	return v, nil
}

var codecInputs = []string{
	``, ` `, "\n\t", `{}`, `{"op":"add","n":2}`, ` {"op":"add"} `, "{\"op\":\"x\"}\r\n\t ",
	`{"op":"add"} {"op":"again"}`, `{"op":"add"}]`, `{"op":"add"},`, `{"op":"add"}:`, `{"op":"add"}x`, `{"op":"add"}"s"`,
	`{"op":"add"} 1`, "{\"op\":\"add\"}\v", "{\"op\":\"add\"}\f", "{\"op\":\"add\"}\u00a0", `{"op":"add"}}`,
	`{"op":`, `{"nope":1}`, `{"n":"x"}`, `[1]`, `null`, `null x`, `1`, `"s"`, `{"tags":["a"],"more":{"k":[1,{}]}}`,
}

func checkSameDecode(t *testing.T, in []byte) {
	t.Helper()
	got, gerr := actors.JSONCodec[codecReq]{}.Decode(in)
	want, werr := tokenDecode[codecReq](in)
	if fmt.Sprint(gerr) != fmt.Sprint(werr) || !reflect.DeepEqual(got, want) {
		t.Errorf("Decode(%q) = %+v, %v; want %+v, %v", in, got, gerr, want, werr)
	}
	gi, gerr := actors.JSONCodec[int]{}.Decode(in)
	wi, werr := tokenDecode[int](in)
	if fmt.Sprint(gerr) != fmt.Sprint(werr) || gi != wi {
		t.Errorf("Decode[int](%q) = %v, %v; want %v, %v", in, gi, gerr, wi, werr)
	}
}

// TestJSONCodecTrailingData: the strict decoder refuses anything but JSON
// whitespace after the value, as it did with dec.Token().
func TestJSONCodecTrailingData(t *testing.T) {
	for _, in := range codecInputs {
		checkSameDecode(t, []byte(in))
	}
	if _, err := (actors.JSONCodec[codecReq]{}).Decode([]byte(`{"op":"a"} {}`)); err == nil || err.Error() != "unexpected data after the JSON value" {
		t.Errorf("trailing value: %v", err)
	}
}

func FuzzJSONCodec(f *testing.F) {
	for _, in := range codecInputs {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, in []byte) { checkSameDecode(t, in) })
}

// BenchmarkJSONCodecDecode is the strict decode every typed grain call
// and task makes (a typed grain call: twice, the caller's check and the
// activation's).
func BenchmarkJSONCodecDecode(b *testing.B) {
	in := []byte(`{"op":"echo","n":12345,"tags":["bench"]}`)
	c := actors.CodecFor[codecReq]()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Decode(in); err != nil {
			b.Fatal(err)
		}
	}
}
