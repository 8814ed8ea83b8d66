package tracing

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/granary-rt/granary/cluster/errs"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// ErrUnsupported wraps the error of an environment variable whose value
// New cannot honour: tracing was asked for in a way this build cannot
// deliver, which an operator should hear of at start, not find out from
// an empty Jaeger.
var ErrUnsupported = errors.New("tracing: unsupported OpenTelemetry setting")

// Config configures New. The environment configures the rest (see the
// package documentation).
type Config struct {
	// ServiceName is the resource's service.name unless OTEL_SERVICE_NAME
	// or OTEL_RESOURCE_ATTRIBUTES name one.
	ServiceName string
	// Instance is the resource's service.instance.id: the member id, which
	// tells a trace's members apart in a tracing UI.
	Instance string
}

// ErrInvalidConfig wraps every error of Config.Validate; it wraps
// errs.ErrInvalidConfig.
var ErrInvalidConfig = errs.New("tracing: invalid configuration", errs.ErrInvalidConfig)

// maxAttrBytes bounds ServiceName and Instance: resource attributes travel
// with every exported batch, and a name longer than this is a mistake.
const maxAttrBytes = 255

// DefaultConfig returns the defaults; set Instance to the member id.
func DefaultConfig() Config {
	return Config{
		// "granary": what an operator searches for in a tracing UI; the
		// SDK's own default, unknown_service:<binary>, says nothing.
		ServiceName: "granary",
		// Empty: the member sets its id; without one, spans carry no
		// service.instance.id.
		Instance: "",
	}
}

// Validate reports a name that cannot be a resource attribute, naming the
// field and its value: OTLP carries attribute values as UTF-8 strings,
// and a control character or a huge value is a mistake in the caller.
// A zero ServiceName is allowed (New takes DefaultConfig's).
func (c Config) Validate() error {
	for _, f := range []struct{ name, v string }{{"ServiceName", c.ServiceName}, {"Instance", c.Instance}} {
		switch {
		case len(f.v) > maxAttrBytes:
			return fmt.Errorf("%w: %s is %d bytes, at most %d", ErrInvalidConfig, f.name, len(f.v), maxAttrBytes)
		case !utf8.ValidString(f.v) || strings.ContainsFunc(f.v, unicode.IsControl):
			return fmt.Errorf("%w: %s %q is not printable UTF-8", ErrInvalidConfig, f.name, f.v)
		}
	}
	return nil
}

// Provider is a trace.TracerProvider: the SDK's, exporting over OTLP/HTTP,
// when the environment turns tracing on; a no-op one otherwise.
type Provider struct {
	trace.TracerProvider
	sdk      *sdktrace.TracerProvider // nil when off
	shutOnce sync.Once
	shutErr  error
}

// New builds the provider the environment asks for (see the package
// documentation). Off, it costs nothing: no exporter, no goroutine.
//
// A zero ServiceName takes DefaultConfig's; a Config Validate refuses is
// an error wrapping ErrInvalidConfig.
func New(ctx context.Context, cfg Config) (*Provider, error) {
	if cfg.ServiceName == "" {
		cfg.ServiceName = DefaultConfig().ServiceName
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	on, err := enabled(os.LookupEnv)
	if err != nil || !on {
		return &Provider{TracerProvider: noop.NewTracerProvider()}, err
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", cfg.ServiceName)}
	if cfg.Instance != "" {
		attrs = append(attrs, attribute.String("service.instance.id", cfg.Instance))
	}
	// Later detectors win: the environment's names override the defaults.
	res, err := resource.New(ctx, resource.WithAttributes(attrs...), resource.WithTelemetrySDK(), resource.WithFromEnv())
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	exp, err := otlptracehttp.New(ctx) // endpoint, headers, TLS… from OTEL_EXPORTER_OTLP_*
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP/HTTP exporter: %w", err)
	}
	sdk := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &Provider{TracerProvider: sdk, sdk: sdk}, nil
}

// Enabled reports whether spans are recorded and exported.
func (p *Provider) Enabled() bool { return p != nil && p.sdk != nil }

// Shutdown exports the spans still queued, within ctx, and stops the
// exporter. Safe to call twice; off, it does nothing.
func (p *Provider) Shutdown(ctx context.Context) error {
	if !p.Enabled() {
		return nil
	}
	p.shutOnce.Do(func() { p.shutErr = p.sdk.Shutdown(ctx) })
	return p.shutErr
}

// enabled decides from the environment whether to trace. It is a pure
// function of lookup, so its table test needs no process environment.
func enabled(lookup func(string) (string, bool)) (bool, error) {
	get := func(k string) string { v, _ := lookup(k); return strings.TrimSpace(v) }
	if strings.EqualFold(get("OTEL_SDK_DISABLED"), "true") {
		return false, nil
	}
	on := get("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
	if exporters := get("OTEL_TRACES_EXPORTER"); exporters != "" {
		on = false
		for _, e := range strings.Split(exporters, ",") {
			switch e = strings.ToLower(strings.TrimSpace(e)); e {
			case "none":
				return false, nil
			case "otlp":
				on = true
			default:
				return false, fmt.Errorf("%w: OTEL_TRACES_EXPORTER=%q: this build exports traces over OTLP only (otlp or none)", ErrUnsupported, exporters)
			}
		}
	}
	if !on {
		return false, nil
	}
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := get(k); p != "" {
			if p != "http/protobuf" {
				return false, fmt.Errorf("%w: %s=%q: this build speaks OTLP over HTTP with protobuf (http/protobuf) only", ErrUnsupported, k, p)
			}
			break // the traces-specific one, if set, decides
		}
	}
	if err := checkSampler(get("OTEL_TRACES_SAMPLER"), get("OTEL_TRACES_SAMPLER_ARG")); err != nil {
		return false, err
	}
	return true, nil
}

// checkSampler refuses a sampler the SDK would replace with its default
// after a line on stderr: a ratio meant to cut the cost would silently
// trace everything.
func checkSampler(name, arg string) error {
	switch strings.ToLower(name) {
	case "", "always_on", "always_off", "parentbased_always_on", "parentbased_always_off":
		return nil
	case "traceidratio", "parentbased_traceidratio":
		if arg == "" {
			return nil
		}
		if r, err := strconv.ParseFloat(arg, 64); err != nil || r < 0 || r > 1 {
			return fmt.Errorf("%w: OTEL_TRACES_SAMPLER_ARG=%q: want a ratio between 0 and 1", ErrUnsupported, arg)
		}
		return nil
	}
	return fmt.Errorf("%w: OTEL_TRACES_SAMPLER=%q: want always_on, always_off, traceidratio or their parentbased_ forms", ErrUnsupported, name)
}
