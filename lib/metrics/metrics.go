// Package metrics defines the Prometheus metrics of the tracker and the
// ingester, registered on a registry the caller owns (the global one panics
// when a test process builds two servers).
package metrics

import "github.com/prometheus/client_golang/prometheus"

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
	m := &Metrics{
		HitsReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xpromo_hits_received_total", Help: "Hits received by the tracker, by kind.",
		}, []string{"kind"}),
		HitsRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xpromo_hits_rejected_total", Help: "Malformed hits kept in rejected_hits, by reason.",
		}, []string{"reason"}),
		HitsDurable: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xpromo_hits_durable_total", Help: "Hits made durable before their answer, by where (redis or journal).",
		}, []string{"where"}),
		HitsLost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xpromo_hits_lost_total", Help: "Hits answered although neither Redis nor the spill journal could keep them.",
		}),
		HitsReplayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xpromo_hits_replayed_total", Help: "Hits replayed from the spill journal into Redis.",
		}),
		HitsSkipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xpromo_hits_replay_skipped_total", Help: "Journal hits that Redis already had at replay.",
		}),
		GroupSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "xpromo_commit_group_size", Help: "Hits per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		CommitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "xpromo_commit_seconds", Help: "Time to make a group durable.",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 14),
		}),
		AnswerSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "xpromo_http_request_duration_seconds", Help: "Time from a handler's start to its answer, by route.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route"}),
		Spilling: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "xpromo_spilling", Help: "1 while hits go to the spill journal instead of Redis.",
		}),
		JournalBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "xpromo_journal_bytes", Help: "Bytes in the spill journal waiting for replay.",
		}),
		Ingested: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xpromo_ingested_total", Help: "Rows written to ClickHouse, by table.",
		}, []string{"table"}),
		Duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xpromo_ingest_duplicates_total", Help: "Redelivered rows found already stored and not written again.",
		}),
		DeadLettered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xpromo_ingest_dead_lettered_total", Help: "Stream entries moved to the dead-letter stream.",
		}),
		BatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "xpromo_ingest_batch_size", Help: "Rows per ClickHouse insert.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10),
		}),
		BatchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "xpromo_ingest_batch_seconds", Help: "Time to write and acknowledge one batch.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		InsertFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xpromo_ingest_insert_failures_total", Help: "Failed ClickHouse inserts (each retried).",
		}),
		StreamBacklog: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "xpromo_stream_backlog", Help: "Stream entries (each a group of hits) not yet written to ClickHouse.",
		}),
		StreamLag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "xpromo_stream_lag_seconds", Help: "Age of the oldest stream entry not yet written to ClickHouse.",
		}),
	}
	reg.MustRegister(m.HitsReceived, m.HitsRejected, m.HitsDurable, m.HitsLost, m.HitsReplayed,
		m.HitsSkipped, m.GroupSize, m.CommitSeconds, m.Spilling, m.JournalBytes, m.Ingested,
		m.Duplicates, m.DeadLettered, m.BatchSize, m.BatchSeconds, m.InsertFailures,
		m.StreamBacklog, m.StreamLag, m.AnswerSeconds)
	return m
}

// Discard returns metrics registered on a throwaway registry.
func Discard() *Metrics { return New(prometheus.NewRegistry()) }
