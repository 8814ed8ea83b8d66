// Package promserver runs a real Prometheus server for integration tests:
// the binary of Debian's `prometheus` package (`make test` installs it
// through internal/scripts/install-prometheus.sh), never its system
// service, started with a configuration of the test's own, its TSDB in a
// temporary directory and its web API on a loopback port, and stopped by
// PID when the test ends. Query reads the server back with PromQL over its
// HTTP API, as an operator's dashboards and alerts would.
//
//	srv := promserver.Start(t, promserver.Options{Targets: []string{n1.HTTP, n2.HTTP}})
//	v, err := srv.Query(ctx, `sum(up)`)
package promserver
