package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keyward/keyward"
)

// metrics are the server's Prometheus metrics, on a registry of its own
// (never the global one). Labels are route patterns, methods, status codes
// and operation names: never an org id, a secret name, a context or a
// token id, so the label set stays small and says nothing about tenants.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	items    *prometheus.CounterVec // encrypt/decrypt/rewrap items by operation and outcome
	itemsBy  map[string][2]prometheus.Counter
	denied   *prometheus.CounterVec // authorization failures by reason
}

func newMetrics(eng *keyward.Engine) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyward_http_requests_total", Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "keyward_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		items: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyward_crypto_items_total",
			Help: "Values processed by encrypt, decrypt and rewrap (batch items counted one by one), by outcome. Encrypt items count nonces used under the data keys.",
		}, []string{"op", "outcome"}),
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyward_auth_failures_total", Help: "Requests refused by authentication (unauthenticated) or policy (forbidden), and rate-limited ones.",
		}, []string{"reason"}),
	}
	m.itemsBy = map[string][2]prometheus.Counter{}
	for _, op := range []string{actionEncrypt, actionDecrypt, actionRewrap} {
		m.itemsBy[op] = [2]prometheus.Counter{m.items.WithLabelValues(op, "ok"), m.items.WithLabelValues(op, "error")}
	}
	m.reg.MustRegister(m.requests, m.latency, m.items, m.denied,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		engineCollector{eng})
	return m
}

// count adds a request's items to the per-operation counters.
func (m *metrics) count(op string, ok, failed int) {
	c := m.itemsBy[op]
	if ok > 0 {
		c[0].Add(float64(ok))
	}
	if failed > 0 {
		c[1].Add(float64(failed))
	}
}

func (m *metrics) observe(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// engineCollector reads the engine's data-key cache counters at scrape time.
type engineCollector struct{ eng *keyward.Engine }

var (
	descMisses    = prometheus.NewDesc("keyward_dek_cache_misses_total", "Data-key cache misses (lookups that read the store). Hits are not counted: hits = keyward_crypto_items_total - misses.", nil, nil)
	descEvictions = prometheus.NewDesc("keyward_dek_cache_evictions_total", "Data keys evicted from the cache.", nil, nil)
	descUnwraps   = prometheus.NewDesc("keyward_dek_unwraps_total", "Data keys unwrapped by the KEK.", nil, nil)
	descLen       = prometheus.NewDesc("keyward_dek_cache_keys", "Data keys held unwrapped in memory now.", nil, nil)
)

func (c engineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMisses, descEvictions, descUnwraps, descLen} {
		ch <- d
	}
}

func (c engineCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.eng.Stats()
	ch <- prometheus.MustNewConstMetric(descMisses, prometheus.CounterValue, float64(st.Misses))
	ch <- prometheus.MustNewConstMetric(descEvictions, prometheus.CounterValue, float64(st.Evictions))
	ch <- prometheus.MustNewConstMetric(descUnwraps, prometheus.CounterValue, float64(st.Unwraps))
	ch <- prometheus.MustNewConstMetric(descLen, prometheus.GaugeValue, float64(st.Len))
}
