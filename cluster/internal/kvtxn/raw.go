package kvtxn

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/hashicorp/consul/api"
)

// Endpoint is where a Batcher sends its transactions itself, instead of
// through consul/api's KV.Txn: the body is written by hand (keys quoted,
// values base64-encoded straight into one pooled buffer) and the answer
// decoded into the few fields a unit's results use. consul/api encodes a
// transaction by reflection into a buffer that doubles as it grows, and
// copies it to the connection through a fresh 32 KiB buffer; for a batch
// of grain records (3 KB each) that was most of the bytes the member
// allocated per state write (GrainStateWrites). Make one with
// EndpointOf.
type Endpoint struct {
	client *http.Client
	url    string // scheme://host:port/v1/txn[?dc=]
	token  string
}

// EndpointOf is the Endpoint of the Consul agent cfg names, and false
// when cfg uses something only consul/api implements (a unix socket, a
// token file, HTTP basic auth, a namespace, an admin partition or a path
// prefix): the batcher then keeps using KV.Txn. Address and Scheme are read as
// api.NewClient reads them; cfg.HttpClient is used as is, otherwise an
// HTTP client over cfg.Transport with cfg.TLSConfig.
func EndpointOf(cfg *api.Config) (*Endpoint, bool) {
	if cfg == nil || cfg.TokenFile != "" || cfg.HttpAuth != nil || cfg.Namespace != "" || cfg.Partition != "" || cfg.PathPrefix != "" {
		return nil, false
	}
	addr, scheme := cfg.Address, cfg.Scheme
	if addr == "" {
		addr = api.DefaultConfig().Address
	}
	if s, rest, ok := strings.Cut(addr, "://"); ok {
		switch s {
		case "https":
			scheme = "https"
		case "http": // as api.NewClient: never back to http if https was asked for
		default: // unix://, or what api.NewClient refuses
			return nil, false
		}
		addr = rest
	}
	// A path: a reverse proxy's prefix, or a unix socket's path once
	// api.NewClient has read the config.
	if addr == "" || strings.Contains(addr, "/") {
		return nil, false
	}
	if scheme == "" {
		scheme = "http"
	}
	client := cfg.HttpClient
	if client == nil {
		transport := cfg.Transport
		if transport == nil {
			transport = api.DefaultConfig().Transport
		}
		var err error
		if client, err = api.NewHttpClient(transport, cfg.TLSConfig); err != nil {
			return nil, false
		}
	}
	u := scheme + "://" + addr + "/v1/txn"
	if cfg.Datacenter != "" {
		u += "?dc=" + url.QueryEscape(cfg.Datacenter)
	}
	return &Endpoint{client: client, url: u, token: cfg.Token}, true
}

// bodies are the pooled buffers transactions are encoded into.
var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// txn sends ops as one transaction, answering as KV.Txn does: ok true
// when committed (resp.Results), false when refused (resp.Errors), err
// when Consul could not be reached or answered otherwise.
func (e *Endpoint) txn(ctx context.Context, ops api.KVTxnOps) (bool, *api.KVTxnResponse, error) {
	body := bodies.Get().(*bytes.Buffer)
	defer func() {
		if body.Cap() <= 2*MaxBytes {
			body.Reset()
			bodies.Put(body)
		}
	}()
	body.Reset()
	body.Write(appendTxn(body.AvailableBuffer(), ops))
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, e.url, bytes.NewReader(body.Bytes()))
	if err != nil {
		return false, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if e.token != "" {
		req.Header.Set("X-Consul-Token", e.token)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return false, nil, err
	}
	defer resp.Body.Close()
	// The answer is read into the same buffer: the request body is sent.
	body.Reset()
	if _, err := body.ReadFrom(resp.Body); err != nil {
		return false, nil, fmt.Errorf("kvtxn: reading Consul's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusConflict {
		msg := bytes.TrimSpace(body.Bytes())
		if len(msg) > 512 {
			msg = msg[:512]
		}
		return false, nil, fmt.Errorf("kvtxn: Consul answered %s: %s", resp.Status, msg)
	}
	var answer struct {
		Results []struct{ KV *api.KVPair }
		Errors  api.TxnErrors
	}
	if err := json.Unmarshal(body.Bytes(), &answer); err != nil {
		return false, nil, fmt.Errorf("kvtxn: decoding Consul's answer: %w", err)
	}
	out := &api.KVTxnResponse{Errors: answer.Errors, Results: make([]*api.KVPair, 0, len(answer.Results))}
	for _, r := range answer.Results {
		if r.KV != nil {
			out.Results = append(out.Results, r.KV)
		}
	}
	return resp.StatusCode == http.StatusOK, out, nil
}

// appendTxn appends ops as the body of PUT /v1/txn, as consul/api would
// send them (TxnOps of KV operations; zero fields left out).
func appendTxn(b []byte, ops api.KVTxnOps) []byte {
	b = append(b, '[')
	for i, op := range ops {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"KV":{"Verb":`...)
		b = appendString(b, string(op.Verb))
		b = append(b, `,"Key":`...)
		b = appendString(b, op.Key)
		if op.Value != nil {
			b = append(b, `,"Value":"`...)
			b = base64.StdEncoding.AppendEncode(b, op.Value)
			b = append(b, '"')
		}
		if op.Flags != 0 {
			b = append(b, `,"Flags":`...)
			b = strconv.AppendUint(b, op.Flags, 10)
		}
		if op.Index != 0 {
			b = append(b, `,"Index":`...)
			b = strconv.AppendUint(b, op.Index, 10)
		}
		if op.Session != "" {
			b = append(b, `,"Session":`...)
			b = appendString(b, op.Session)
		}
		if op.Namespace != "" {
			b = append(b, `,"Namespace":`...)
			b = appendString(b, op.Namespace)
		}
		if op.Partition != "" {
			b = append(b, `,"Partition":`...)
			b = appendString(b, op.Partition)
		}
		b = append(b, "}}"...)
	}
	return append(b, ']')
}

// appendString appends s as a JSON string: plain ASCII as is, anything
// else as encoding/json writes it.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
