package membership

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"
)

// FuzzHeldRecords: member keys are written by whoever holds the cluster's
// key prefix, so their values are untrusted input. Whatever bytes a key
// holds, decoding never panics, keeps only session-held keys under the
// prefix with a bounded value naming an instance, and a record a member
// writes decodes as written.
func FuzzHeldRecords(f *testing.F) {
	valid, _ := json.Marshal(memberRecord{Instance: "i-1", Addr: "127.0.0.1:7000", HTTPAddr: "127.0.0.1:8080",
		Kinds: []string{"echo"}, Version: "v1", Remoting: "mtls:00", Draining: true})
	f.Add("n1", "s-1", valid)
	f.Add("n2", "", valid)
	f.Add("../n3", "s-1", []byte(`{"instance":""}`))
	f.Add("n4", "s-1", []byte(`{"instance":"x","kinds":[1,2]}`))
	f.Add("n5", "s-1", []byte(`null`))
	f.Add("n6", "s-1", []byte(strings.Repeat(`{"instance":"x"`, 100)))
	const prefix = "granary/c/members/"
	f.Fuzz(func(t *testing.T, id, session string, value []byte) {
		pairs := api.KVPairs{
			{Key: prefix + id, Session: session, Value: value},
			{Key: "granary/other/members/" + id, Session: "s-9", Value: valid},
			nil,
		}
		got := heldRecords(prefix, pairs)
		if len(got) > 1 {
			t.Fatalf("%d records from one key under the prefix: %v", len(got), got)
		}
		for name, r := range got {
			if name != id || session == "" || r.Instance == "" || len(value) > maxRecordBytes {
				t.Fatalf("kept %q (instance %q) from key %q, session %q, %d bytes", name, r.Instance, id, session, len(value))
			}
		}
		var want memberRecord
		if session != "" && len(value) <= maxRecordBytes && json.Unmarshal(value, &want) == nil && want.Instance != "" {
			if _, ok := got[id]; !ok {
				t.Fatalf("a held, well-formed record of %q was dropped: %s", id, value)
			}
		}
		if r, ok := got[id]; ok && id == "n1" && string(value) == string(valid) && (!r.Draining || r.Instance != "i-1" || len(r.Kinds) != 1) {
			t.Fatalf("the member's own record decoded as %+v", r)
		}
	})
}

// FuzzRemotingMTLS: any CA file's contents give a digest of the same
// shape, the same for the same contents.
func FuzzRemotingMTLS(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("not a PEM file"))
	f.Fuzz(func(t *testing.T, pemBytes []byte) {
		d := RemotingMTLS(pemBytes)
		if !strings.HasPrefix(d, "mtls:") || len(d) != len("mtls:")+32 || len(d) > MaxRemotingBytes || d != RemotingMTLS(pemBytes) {
			t.Fatalf("RemotingMTLS = %q", d)
		}
	})
}
