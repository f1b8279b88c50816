// Package metrics defines the Prometheus metrics of the tracker and the
// ingester, registered on a registry the caller owns (the global one panics
// when a test process builds two servers).
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics holds every collector. A nil *Metrics is not allowed; use New.
type Metrics struct {
	HitsReceived  *prometheus.CounterVec // by kind
	HitsRejected  *prometheus.CounterVec // by reason
	HitsDurable   *prometheus.CounterVec // by where: redis, journal
	HitsLost      prometheus.Counter     // answered, but neither Redis nor the journal took them
	HitsReplayed  prometheus.Counter
	HitsSkipped   prometheus.Counter // journal entries found already in Redis at replay
	GroupSize     prometheus.Histogram
	CommitSeconds prometheus.Histogram
	Spilling      prometheus.Gauge
	JournalBytes  prometheus.Gauge
	// AnswerSeconds is the time from a handler's start to its answer, by
	// route: what the service itself adds (time a request waited for the
	// process to read it is not in it).
	AnswerSeconds *prometheus.HistogramVec

	Ingested       *prometheus.CounterVec // by table
	Duplicates     prometheus.Counter     // redelivered rows already stored, not inserted again
	DeadLettered   prometheus.Counter
	BatchSize      prometheus.Histogram
	BatchSeconds   prometheus.Histogram
	InsertFailures prometheus.Counter
	StreamBacklog  prometheus.Gauge // entries written, not yet acknowledged
	StreamLag      prometheus.Gauge // age in seconds of the oldest unacknowledged entry
}

// New creates the collectors and registers them on reg.
func New(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	counter := func(name, help string) prometheus.Counter {
		return f.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	counterBy := func(label, name, help string) *prometheus.CounterVec {
		return f.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{label})
	}
	gauge := func(name, help string) prometheus.Gauge {
		return f.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	histogram := func(buckets []float64, name, help string) prometheus.Histogram {
		return f.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
	}
	return &Metrics{
		HitsReceived:  counterBy("kind", "xpromo_hits_received_total", "Hits received by the tracker, by kind."),
		HitsRejected:  counterBy("reason", "xpromo_hits_rejected_total", "Malformed hits kept in rejected_hits, by reason."),
		HitsDurable:   counterBy("where", "xpromo_hits_durable_total", "Hits made durable before their answer, by where (redis or journal)."),
		HitsLost:      counter("xpromo_hits_lost_total", "Hits answered although neither Redis nor the spill journal could keep them."),
		HitsReplayed:  counter("xpromo_hits_replayed_total", "Hits replayed from the spill journal into Redis."),
		HitsSkipped:   counter("xpromo_hits_replay_skipped_total", "Journal hits that Redis already had at replay."),
		GroupSize:     histogram(prometheus.ExponentialBuckets(1, 2, 12), "xpromo_commit_group_size", "Hits per group commit."),
		CommitSeconds: histogram(prometheus.ExponentialBuckets(0.00005, 2, 14), "xpromo_commit_seconds", "Time to make a group durable."),
		AnswerSeconds: f.NewHistogramVec(prometheus.HistogramOpts{
			Name: "xpromo_http_request_duration_seconds", Help: "Time from a handler's start to its answer, by route.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route"}),
		Spilling:     gauge("xpromo_spilling", "1 while hits go to the spill journal instead of Redis."),
		JournalBytes: gauge("xpromo_journal_bytes", "Bytes in the spill journal waiting for replay."),

		Ingested:       counterBy("table", "xpromo_ingested_total", "Rows written to ClickHouse, by table."),
		Duplicates:     counter("xpromo_ingest_duplicates_total", "Redelivered rows found already stored and not written again."),
		DeadLettered:   counter("xpromo_ingest_dead_lettered_total", "Stream entries moved to the dead-letter stream."),
		BatchSize:      histogram(prometheus.ExponentialBuckets(1, 4, 10), "xpromo_ingest_batch_size", "Rows per ClickHouse insert."),
		BatchSeconds:   histogram(prometheus.ExponentialBuckets(0.001, 2, 14), "xpromo_ingest_batch_seconds", "Time to write and acknowledge one batch."),
		InsertFailures: counter("xpromo_ingest_insert_failures_total", "Failed ClickHouse inserts (each retried)."),
		StreamBacklog:  gauge("xpromo_stream_backlog", "Stream entries (each a group of hits) not yet written to ClickHouse."),
		StreamLag:      gauge("xpromo_stream_lag_seconds", "Age of the oldest stream entry not yet written to ClickHouse."),
	}
}

// Discard returns metrics registered on a throwaway registry.
func Discard() *Metrics { return New(prometheus.NewRegistry()) }
