package main

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/picdex/picdex/indexer"
)

// statsCollector exports an indexer's Stats at scrape time.
type statsCollector struct {
	stats *indexer.Stats
	ready func() bool

	consumed, indexed, routed, skipped, resent, dead, batch, fresh, lag, up *prometheus.Desc
}

func newStatsCollector(stats *indexer.Stats, ready func() bool) *statsCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("picdex_indexer_"+name, help, labels, nil)
	}
	return &statsCollector{
		stats: stats, ready: ready,
		consumed: d("records_consumed_total", "Records read from the queue."),
		indexed:  d("records_indexed_total", "Records written to their shard."),
		routed:   d("records_routed_total", "Records a router produced to its generation's shard log."),
		skipped:  d("records_skipped_total", "Records a shard already held (replays after a restart or rebalance)."),
		resent:   d("records_resent_total", "Records a shard skipped as a router's re-send, by their origin offset."),
		dead:     d("records_dead_lettered_total", "Records that can never be indexed, sent to the dead-letter queue."),
		batch:    d("batch_seconds", "Time to apply one micro-batch to every shard."),
		fresh:    d("freshness_seconds", "Time from a record's publishing to it being searchable."),
		lag:      d("consumer_lag", "Messages between the last one read and the end of the partition.", "partition"),
		up:       d("ready", "1 when the indexer is connected to its queue."),
	}
}

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.consumed, c.indexed, c.routed, c.skipped, c.resent, c.dead, c.batch, c.fresh, c.lag, c.up} {
		ch <- d
	}
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats
	for d, v := range map[*prometheus.Desc]int64{c.consumed: s.Consumed.Load(), c.indexed: s.Indexed.Load(),
		c.routed: s.Routed.Load(), c.skipped: s.Skipped.Load(), c.resent: s.Resent.Load(), c.dead: s.DeadLettered.Load()} {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	for d, h := range map[*prometheus.Desc]*indexer.Histogram{c.batch: &s.Batch, c.fresh: &s.Freshness} {
		cum, n, sum := h.Snapshot()
		buckets := make(map[float64]uint64, len(cum))
		for i, b := range indexer.Buckets {
			buckets[b] = cum[i]
		}
		ch <- prometheus.MustNewConstHistogram(d, n, sum, buckets)
	}
	for p, lag := range s.Lag() {
		ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(lag), strconv.Itoa(p))
	}
	up := 0.0
	if c.ready() {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up)
}

// newRegistry is a process's one registry (no global state): the
// indexer's metrics, the Go runtime's and the process's. A server adds
// the API's by passing it as api.Options.Registerer.
func newRegistry(stats *indexer.Stats, ready func() bool) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newStatsCollector(stats, ready), collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// metricsHandler serves what reg gathers.
func metricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
