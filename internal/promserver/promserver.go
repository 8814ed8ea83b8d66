package promserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/granary-rt/granary/internal/testnode"
)

// ErrNoBinary: no prometheus binary was found. Its text says how to get one.
var ErrNoBinary = errors.New("no prometheus binary: run `make test` (installs Debian's prometheus package) or `apt-get install prometheus`, or set PROMETHEUS_BIN")

// ErrNoPromtool: no promtool binary was found.
var ErrNoPromtool = errors.New("no promtool binary: run `make test` (installs Debian's prometheus package, which has it) or `apt-get install prometheus`, or set PROMTOOL_BIN")

// Promtool is Prometheus' promtool: $PROMTOOL_BIN, else promtool next to
// Binary, else promtool on PATH.
func Promtool() (string, error) {
	if p := os.Getenv("PROMTOOL_BIN"); p != "" {
		if !executable(p) {
			return "", fmt.Errorf("PROMTOOL_BIN=%s is not an executable file: %w", p, ErrNoPromtool)
		}
		return p, nil
	}
	if bin, err := Binary(); err == nil {
		p := filepath.Join(filepath.Dir(bin), "promtool")
		if executable(p) {
			return p, nil
		}
	}
	p, err := exec.LookPath("promtool")
	if err != nil {
		return "", ErrNoPromtool
	}
	return p, nil
}

// executable reports whether p is a file with an execute bit set.
func executable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().Perm()&0o111 != 0
}

// Binary is the prometheus binary tests run: $PROMETHEUS_BIN, else
// prometheus on PATH.
func Binary() (string, error) {
	if p := os.Getenv("PROMETHEUS_BIN"); p != "" {
		if !executable(p) {
			return "", fmt.Errorf("PROMETHEUS_BIN=%s is not an executable file: %w", p, ErrNoBinary)
		}
		return p, nil
	}
	p, err := exec.LookPath("prometheus")
	if err != nil {
		return "", ErrNoBinary
	}
	return p, nil
}

// Options configure the server.
type Options struct {
	// Targets are the host:port addresses to scrape (GET /metrics over
	// HTTP), all in one job, "granary".
	Targets []string
	// ScrapeInterval is how often each target is scraped; 0: 500ms, so a
	// test sees a change within a second.
	ScrapeInterval time.Duration
	// BearerTokenFile, if set, is sent with every scrape, as a production
	// scrape configuration of nodes with tokens does.
	BearerTokenFile string
	// RuleFiles are rule files to load (rule_files:), evaluated every
	// ScrapeInterval.
	RuleFiles []string
}

// Server is a running Prometheus server.
type Server struct {
	// Addr is the host:port of its web API.
	Addr    string
	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string
}

// Start starts a Prometheus server scraping opts.Targets and waits until it
// is ready. It fails the test if no binary is found (skipping it under
// -short). The server is killed, by PID, when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if testing.Short() {
			t.Skipf("-short: %v", err)
		}
		t.Fatalf("promserver: %v", err)
	}
	if opts.ScrapeInterval <= 0 {
		opts.ScrapeInterval = 500 * time.Millisecond
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(config(opts)), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: testnode.FreeAddr(t), exited: make(chan struct{}), logPath: filepath.Join(dir, "prometheus.log")}
	logFile, err := os.Create(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	s.cmd = exec.Command(bin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+s.Addr,
		"--log.level=warn",
	)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("promserver: starting %s: %v", bin, err)
	}
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		<-s.exited
		if t.Failed() {
			t.Logf("prometheus log:\n%s", s.log())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + s.Addr + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-s.exited:
			t.Fatalf("promserver: prometheus exited before it was ready:\n%s", s.log())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("promserver: prometheus not ready on %s within 30s (%v):\n%s", s.Addr, err, s.log())
		}
	}
}

// config is the server's prometheus.yml.
func config(opts Options) string {
	var b strings.Builder
	iv := opts.ScrapeInterval.String()
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  scrape_timeout: %s\n  evaluation_interval: %s\n", iv, iv, iv)
	if len(opts.RuleFiles) > 0 {
		b.WriteString("rule_files:\n")
		for _, f := range opts.RuleFiles {
			fmt.Fprintf(&b, "  - %q\n", f)
		}
	}
	b.WriteString("scrape_configs:\n  - job_name: granary\n")
	if opts.BearerTokenFile != "" {
		fmt.Fprintf(&b, "    authorization:\n      credentials_file: %s\n", opts.BearerTokenFile)
	}
	b.WriteString("    static_configs:\n      - targets:\n")
	for _, tg := range opts.Targets {
		fmt.Fprintf(&b, "          - %q\n", tg)
	}
	return b.String()
}

func (s *Server) log() string {
	data, _ := os.ReadFile(s.logPath)
	return string(data)
}

// get reads an endpoint of Prometheus' HTTP API into data, its answer's
// "data" field.
func (s *Server) get(ctx context.Context, path string, data any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+s.Addr+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var r struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("%d %s", resp.StatusCode, body)
	}
	if r.Status != "success" {
		return errors.New(r.Error)
	}
	return json.Unmarshal(r.Data, data)
}

// Rule is a loaded rule as Prometheus reports it (GET /api/v1/rules).
type Rule struct {
	Name string `json:"name"`
	// Health is "ok" once evaluated without error ("unknown" before).
	Health    string `json:"health"`
	LastError string `json:"lastError"`
	// State is an alerting rule's: inactive, pending or firing.
	State string `json:"state"`
}

// Rules are the rules Prometheus has loaded, of every group.
func (s *Server) Rules(ctx context.Context) ([]Rule, error) {
	var data struct {
		Groups []struct {
			Rules []Rule `json:"rules"`
		} `json:"groups"`
	}
	if err := s.get(ctx, "/api/v1/rules", &data); err != nil {
		return nil, fmt.Errorf("promserver: rules: %w", err)
	}
	var out []Rule
	for _, g := range data.Groups {
		out = append(out, g.Rules...)
	}
	return out, nil
}

// Sample is one series of an instant vector: its labels and value.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Query evaluates an instant PromQL query now, over the HTTP API
// (GET /api/v1/query). A scalar result is one Sample without labels.
func (s *Server) Query(ctx context.Context, q string) ([]Sample, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := s.get(ctx, "/api/v1/query?query="+url.QueryEscape(q), &data); err != nil {
		return nil, fmt.Errorf("promserver: %s: %w", q, err)
	}
	r := struct {
		Data struct {
			ResultType string
			Result     json.RawMessage
		}
	}{}
	r.Data.ResultType, r.Data.Result = data.ResultType, data.Result
	switch r.Data.ResultType {
	case "vector":
		var vec []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(r.Data.Result, &vec); err != nil {
			return nil, err
		}
		out := make([]Sample, 0, len(vec))
		for _, v := range vec {
			f, err := parseValue(v.Value[1])
			if err != nil {
				return nil, fmt.Errorf("promserver: %s: %w", q, err)
			}
			out = append(out, Sample{Labels: v.Metric, Value: f})
		}
		return out, nil
	case "scalar":
		var sc [2]any
		if err := json.Unmarshal(r.Data.Result, &sc); err != nil {
			return nil, err
		}
		f, err := parseValue(sc[1])
		if err != nil {
			return nil, err
		}
		return []Sample{{Value: f}}, nil
	}
	return nil, fmt.Errorf("promserver: %s: result type %q", q, r.Data.ResultType)
}

func parseValue(v any) (float64, error) {
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("value %v is not a string", v)
	}
	return strconv.ParseFloat(s, 64)
}
