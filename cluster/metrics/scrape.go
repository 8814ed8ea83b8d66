package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// readAtScrape is a gauge family whose values a function reports when
// Prometheus scrapes. It has one label or none (label "").
type readAtScrape struct {
	desc  *prometheus.Desc
	label bool
	read  atomic.Pointer[func(report func(value string, n int))]
}

func newReadAtScrape(name, help string, label ...string) *readAtScrape {
	return &readAtScrape{desc: prometheus.NewDesc(name, help, label, nil), label: len(label) > 0}
}

func (r *readAtScrape) set(f func(report func(string, int))) { r.read.Store(&f) }

// Describe implements prometheus.Collector.
func (r *readAtScrape) Describe(ch chan<- *prometheus.Desc) { ch <- r.desc }

// Collect implements prometheus.Collector.
func (r *readAtScrape) Collect(ch chan<- prometheus.Metric) {
	f := r.read.Load()
	if f == nil || *f == nil {
		return
	}
	(*f)(func(value string, n int) {
		if r.label {
			ch <- prometheus.MustNewConstMetric(r.desc, prometheus.GaugeValue, float64(n), value)
		} else {
			ch <- prometheus.MustNewConstMetric(r.desc, prometheus.GaugeValue, float64(n))
		}
	})
}
