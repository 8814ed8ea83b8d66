package kvtxn

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/granary-rt/granary/internal/testconsul"
	"github.com/hashicorp/consul/api"
)

// TestAppendTxnIsConsulAPIEncoding: the hand-written body says what
// consul/api's encoding of the same operations says (zero fields aside),
// keys with quotes, controls and non-ASCII runes included.
func TestAppendTxnIsConsulAPIEncoding(t *testing.T) {
	ops := api.KVTxnOps{
		{Verb: api.KVCheckSession, Key: "granary/c/grains/counter/c1", Session: "0b5c3c53-1f0e-4f1c-9d9a-4e8f4c8b2f11"},
		{Verb: api.KVCAS, Key: "granary/c/grainstate/counter/c%2F1", Value: []byte("\x00\x01state\xff"), Index: 42},
		{Verb: api.KVSet, Key: "quote\"back\\slash\nline\ttab\u2028é☃", Value: []byte{}, Flags: 7},
		{Verb: api.KVDelete, Key: "bad\xffutf8"},
		{Verb: api.KVCAS, Key: "ns", Value: []byte("v"), Namespace: "team", Partition: "p1"},
	}
	want, err := json.Marshal(txnOpsOf(ops))
	if err != nil {
		t.Fatal(err)
	}
	got := appendTxn(nil, ops)
	if !json.Valid(got) {
		t.Fatalf("not JSON: %s", got)
	}
	if g, w := nonZero(t, got), nonZero(t, want); !reflect.DeepEqual(g, w) {
		t.Errorf("body\n%v\nconsul/api sends\n%v", g, w)
	}
}

// txnOpsOf is ops as consul/api's KV.Txn sends them.
func txnOpsOf(ops api.KVTxnOps) api.TxnOps {
	out := make(api.TxnOps, len(ops))
	for i, op := range ops {
		out[i] = &api.TxnOp{KV: op}
	}
	return out
}

// nonZero decodes a transaction body, leaving out fields of zero value.
func nonZero(t *testing.T, body []byte) []map[string]any {
	var ops []map[string]map[string]any
	if err := json.Unmarshal(body, &ops); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	out := make([]map[string]any, len(ops))
	for i, op := range ops {
		out[i] = map[string]any{}
		for k, v := range op["KV"] {
			if v != nil && v != "" && v != float64(0) {
				out[i][k] = v
			}
		}
	}
	return out
}

// TestEndpointSendsTokenOverTLS: an agent with ACLs in default-deny mode
// serving HTTPS only takes the batcher's transactions through an Endpoint
// made of an https address, its CA and a token; without the token Consul
// refuses them (permission denied).
func TestEndpointSendsTokenOverTLS(t *testing.T) {
	const token = "5e1f2c44-2b5e-4c1a-9e8f-0c7f3a6d9b21"
	agent := testconsul.Start(t, testconsul.Options{ACLToken: token, TLS: true})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		token string
		ok    bool
	}{{token, true}, {"", false}} {
		ep, ok := EndpointOf(&api.Config{Address: agent.HTTPAddr(), Scheme: "https", Token: tc.token, TLSConfig: api.TLSConfig{CAFile: agent.CAFile()}})
		if !ok {
			t.Fatal("no endpoint for https with a CA and a token")
		}
		b := New(nil, Config{Endpoint: ep})
		r := b.Do(ctx, api.KVTxnOps{{Verb: api.KVCAS, Key: "tls/k", Value: []byte("v"), Index: 0}})
		b.Close()
		switch {
		case tc.ok && (r.Err != nil || !r.OK || len(r.Results) != 1 || r.Results[0].Key != "tls/k" || r.Results[0].ModifyIndex == 0):
			t.Fatalf("with the token: ok %v, results %v, errors %+v, err %v", r.OK, r.Results, r.Errors, r.Err)
		case !tc.ok && (r.OK || r.Err == nil && len(r.Errors) == 0):
			t.Fatalf("without a token the write went through: ok %v, errors %+v, err %v", r.OK, r.Errors, r.Err)
		}
	}
	p, _, err := agent.Client().KV().Get("tls/k", nil)
	if err != nil || p == nil || string(p.Value) != "v" {
		t.Fatalf("stored: %v, %v", p, err)
	}
}

// TestEndpointOfLeavesTheRestToConsulAPI: what only consul/api
// implements keeps the batcher on KV.Txn; addresses read as api.NewClient
// reads them.
func TestEndpointOfLeavesTheRestToConsulAPI(t *testing.T) {
	for name, cfg := range map[string]*api.Config{
		"nil":         nil,
		"unix socket": {Address: "unix:///run/consul.sock"},
		"token file":  {Address: "127.0.0.1:8500", TokenFile: "/etc/consul/token"},
		"basic auth":  {Address: "127.0.0.1:8500", HttpAuth: &api.HttpBasicAuth{Username: "u"}},
		"namespace":   {Address: "127.0.0.1:8500", Namespace: "team"},
		"partition":   {Address: "127.0.0.1:8500", Partition: "p1"},
		"path prefix": {Address: "http://127.0.0.1:8500/consul"},
		"socket path": {Address: "/run/consul.sock"}, // unix:// once api.NewClient has read it
		"other":       {Address: "ftp://127.0.0.1:8500"},
	} {
		if _, ok := EndpointOf(cfg); ok {
			t.Errorf("%s: an endpoint", name)
		}
	}
	for addr, want := range map[string]string{
		"127.0.0.1:8500":           "http://127.0.0.1:8500/v1/txn",
		"https://127.0.0.1:8501":   "https://127.0.0.1:8501/v1/txn",
		"http://consul.internal:1": "http://consul.internal:1/v1/txn",
	} {
		ep, ok := EndpointOf(&api.Config{Address: addr})
		if !ok || ep.url != want {
			t.Errorf("%s: %v %v, want %s", addr, ep, ok, want)
		}
	}
	if ep, ok := EndpointOf(&api.Config{Address: "http://127.0.0.1:8501", Scheme: "https"}); !ok || ep.url != "https://127.0.0.1:8501/v1/txn" {
		t.Errorf("https asked for, http:// address: %v %v", ep, ok)
	}
	if ep, ok := EndpointOf(&api.Config{Address: "127.0.0.1:8500", Datacenter: "eu 1"}); !ok || ep.url != "http://127.0.0.1:8500/v1/txn?dc=eu+1" {
		t.Errorf("datacenter: %v %v", ep, ok)
	}
}

// TestEndpointErrors: an unreachable agent is an error (the unit may
// have landed), not a refusal.
func TestEndpointErrors(t *testing.T) {
	ep, _ := EndpointOf(&api.Config{Address: "127.0.0.1:1"})
	b := New(nil, Config{Endpoint: ep})
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r := b.Do(ctx, api.KVTxnOps{{Verb: api.KVSet, Key: "k", Value: []byte("v")}}); r.Err == nil || r.OK || errors.Is(r.Err, ErrClosed) {
		t.Fatalf("ok %v, err %v", r.OK, r.Err)
	}
}
