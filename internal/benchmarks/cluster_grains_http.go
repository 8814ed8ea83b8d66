package benchmarks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/granary-rt/granary/cluster/httpapi"
	"github.com/granary-rt/granary/cluster/placement"
)

// GranaryHTTP is a GranaryPair whose calls come through member a's HTTP
// API, as a client's `POST /v1/grains/{kind}/{id}` reaches a node: the
// handler (httpapi.New, as a node serves it) reads the body, calls
// grains.Host.CallOnce, and writes the answer as JSON. The grain is
// typed_echo (actors.GrainOf, as the stock grains are), on identities
// member b owns, or with local member a's own (as every call of a single
// node, and 1/N of an N-member cluster's). The client is an http.Client
// on loopback with keep-alive, so each call is one request on a warm
// connection.
type GranaryHTTP struct {
	pair   *GranaryPair
	srv    *http.Server
	client *http.Client
	urls   []string
}

// StartGranaryHTTP starts the pair and member a's HTTP API on a loopback
// port, calling identities of a if local, else of b.
func StartGranaryHTTP(ctx context.Context, local bool) (*GranaryHTTP, error) {
	p, err := StartGranaryPair(ctx)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		p.Close()
		return nil, err
	}
	cfg := httpapi.DefaultConfig()
	cfg.Member, cfg.Grains = "a", p.caller
	g := &GranaryHTTP{pair: p, srv: &http.Server{Handler: httpapi.New(nil, cfg), ReadHeaderTimeout: 10 * time.Second},
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * Callers}, Timeout: time.Minute}}
	go func() { _ = g.srv.Serve(ln) }()
	members := []placement.Member{{ID: "a", Kinds: []string{"typed_echo"}}, {ID: "b", Kinds: []string{"typed_echo"}}}
	want := "b"
	if local {
		want = "a"
	}
	for i := 0; len(g.urls) < CallIdentities; i++ {
		id := fmt.Sprintf("echo-%d", i)
		if owner, _ := placement.Owner(members, "typed_echo", id); owner == want {
			g.urls = append(g.urls, "http://"+ln.Addr().String()+"/v1/grains/typed_echo/"+id)
		}
	}
	for i := range g.urls { // activate outside the measurement
		if err := g.Call(ctx, i); err != nil {
			g.Close()
			return nil, fmt.Errorf("granary HTTP warm-up: %w", err)
		}
	}
	return g, nil
}

// Call implements Caller: one POST, its answer checked.
func (g *GranaryHTTP) Call(ctx context.Context, i int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.urls[i%len(g.urls)], bytes.NewReader(echoPayload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := g.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, echoPayload) {
		return fmt.Errorf("unexpected answer %d: %s", resp.StatusCode, body)
	}
	return nil
}

// Close stops the HTTP server and the pair.
func (g *GranaryHTTP) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		_ = g.srv.Close()
	}
	g.client.CloseIdleConnections()
	g.pair.Close()
}
