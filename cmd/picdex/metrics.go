package main

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/picdex/picdex/index"
	"github.com/picdex/picdex/index/cache"
	"github.com/picdex/picdex/index/tier"
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

// replicaCollector exports a shard server's replicas at scrape time: each
// one's indexer counters, applied offset and lag.
type replicaCollector struct {
	hosted                                      map[[2]int]*hostedReplica
	indexed, skipped, applied, lag, up, contact *prometheus.Desc
}

func newReplicaCollector(hosted map[[2]int]*hostedReplica) *replicaCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("picdex_replica_"+name, help, []string{"generation", "shard"}, nil)
	}
	return &replicaCollector{hosted: hosted,
		indexed: d("records_indexed_total", "Shard-log records written to the replica."),
		skipped: d("records_skipped_total", "Shard-log records the replica already held (a router's re-sends)."),
		applied: d("applied_offset", "One past the last shard-log offset applied."),
		lag:     d("lag", "Shard-log messages not applied yet."),
		up:      d("ready", "1 once the replica has caught up with its shard log."),
		contact: d("broker_contact_age_seconds", "Time since the broker last told the replica its partition's end (its lag is that old; -1: never)."),
	}
}

func (c *replicaCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.indexed, c.skipped, c.applied, c.lag, c.up, c.contact} {
		ch <- d
	}
}

func (c *replicaCollector) Collect(ch chan<- prometheus.Metric) {
	for k, h := range c.hosted {
		g, s := strconv.Itoa(k[0]), strconv.Itoa(k[1])
		ready := 0.0
		if h.rep.Ready() {
			ready = 1
		}
		ch <- prometheus.MustNewConstMetric(c.indexed, prometheus.CounterValue, float64(h.rep.Stats.Indexed.Load()), g, s)
		ch <- prometheus.MustNewConstMetric(c.skipped, prometheus.CounterValue, float64(h.rep.Stats.Skipped.Load()), g, s)
		ch <- prometheus.MustNewConstMetric(c.applied, prometheus.GaugeValue, float64(h.rep.Applied()), g, s)
		ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(h.rep.Lag()), g, s)
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, ready, g, s)
		age := -1.0
		if at := h.rep.Contact(); !at.IsZero() {
			age = time.Since(at).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(c.contact, prometheus.GaugeValue, age, g, s)
	}
}

// tierCollector exports a query server's view: the result cache's
// counters and each replica's calls, failures and ejection, and each
// shard's hedges and retries.
type tierCollector struct {
	t                                                *tier.Tier
	cache                                            *cache.Searcher
	hits, misses, collapsed, evictions, entries      *prometheus.Desc
	calls, failures, outstanding, ejected, healthy   *prometheus.Desc
	hedges, hedgesWon, retries, generation, servable *prometheus.Desc
	batches, batchedCalls                            *prometheus.Desc
}

func newTierCollector(t *tier.Tier, c *cache.Searcher) *tierCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("picdex_query_"+name, help, labels, nil)
	}
	return &tierCollector{t: t, cache: c,
		hits:         d("cache_hits_total", "Searches answered from the result cache."),
		misses:       d("cache_misses_total", "Searches the result cache ran."),
		collapsed:    d("cache_collapsed_total", "Searches that waited for an identical one running (collapsed forwarding)."),
		evictions:    d("cache_evictions_total", "Results evicted from the result cache."),
		entries:      d("cache_entries", "Results in the result cache."),
		calls:        d("replica_calls_total", "Shard calls sent to a replica.", "shard", "replica"),
		failures:     d("replica_failures_total", "Shard calls a replica failed.", "shard", "replica"),
		outstanding:  d("replica_outstanding", "Shard calls a replica has not answered yet.", "shard", "replica"),
		ejected:      d("replica_ejected", "1 while a replica is ejected after failing calls in a row.", "shard", "replica"),
		healthy:      d("replica_healthy", "1 while a replica's shard server answers its health checks.", "shard", "replica"),
		hedges:       d("hedges_total", "Shard calls hedged to a second replica past the shard's recent p95.", "shard"),
		hedgesWon:    d("hedges_won_total", "Hedged calls the second replica answered first.", "shard"),
		retries:      d("retries_total", "Failed shard calls retried on another replica.", "shard"),
		generation:   d("live_generation", "The generation searches run on."),
		servable:     d("ready", "1 when every shard of the live generation has a healthy, caught-up replica."),
		batches:      d("batches_total", "Requests to a shard server that carried several shard calls of one search.", "server"),
		batchedCalls: d("batched_calls_total", "Shard calls that travelled in those requests.", "server"),
	}
}

func (c *tierCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.hits, c.misses, c.collapsed, c.evictions, c.entries, c.calls, c.failures,
		c.outstanding, c.ejected, c.healthy, c.hedges, c.hedgesWon, c.retries, c.generation, c.servable, c.batches, c.batchedCalls} {
		ch <- d
	}
}

func (c *tierCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	flag := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	if c.cache != nil {
		st := c.cache.Stats()
		counter(c.hits, st.Hits)
		counter(c.misses, st.Misses)
		counter(c.collapsed, st.Collapsed)
		counter(c.evictions, st.Evictions)
		gauge(c.entries, float64(st.Entries))
	}
	for _, s := range c.t.Sets() {
		st := s.Stats()
		for _, m := range st.Members {
			counter(c.calls, m.Calls, st.Shard, m.ID)
			counter(c.failures, m.Failures, st.Shard, m.ID)
			gauge(c.outstanding, float64(m.Outstanding), st.Shard, m.ID)
			gauge(c.ejected, flag(m.Ejected), st.Shard, m.ID)
			gauge(c.healthy, flag(m.Healthy), st.Shard, m.ID)
		}
		counter(c.hedges, st.Hedges, st.Shard)
		counter(c.hedgesWon, st.HedgesWon, st.Shard)
		counter(c.retries, st.Retries, st.Shard)
	}
	for _, s := range c.t.Servers() {
		counter(c.batches, s.Batches.Batches, s.URL)
		counter(c.batchedCalls, s.Batches.Calls, s.URL)
	}
	if g, ok := c.t.Generation(); ok {
		gauge(c.generation, float64(g.ID))
	}
	gauge(c.servable, flag(c.t.Ready(context.Background()) == nil))
}

// fanoutCollector exports how a fan-out's searches ran: term statistics
// kept or asked for, searches run again on stale statistics, and cheap
// searches that waited for their turn.
type fanoutCollector struct {
	stats                         func() index.FanoutStats
	cached, rounds, stale, waited *prometheus.Desc
}

func newFanoutCollector(stats func() index.FanoutStats) *fanoutCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("picdex_search_"+name, help, nil, nil)
	}
	return &fanoutCollector{stats: stats,
		cached: d("stats_cached_total", "Searches scored with term statistics kept from earlier ones (no statistics round)."),
		rounds: d("stats_rounds_total", "Searches that asked every shard for term statistics first."),
		stale:  d("stats_stale_total", "Searches run again because a shard changed while scored with kept statistics."),
		waited: d("waited_total", "Cheap searches that waited for their turn (all turns were taken)."),
	}
}

func (c *fanoutCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.cached, c.rounds, c.stale, c.waited} {
		ch <- d
	}
}

func (c *fanoutCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	for d, v := range map[*prometheus.Desc]uint64{c.cached: st.StatsCached, c.rounds: st.StatsRounds, c.stale: st.StatsStale, c.waited: st.Waited} {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
}
