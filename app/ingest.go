package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/xpromo/xpromo/lib/chdb"
	"github.com/xpromo/xpromo/lib/metrics"
	"github.com/xpromo/xpromo/tracker/ingest"
)

// DefIngestGCPercent is xpromo ingest's default GC target. The ingester
// allocates an object or two per hit and keeps only about two batches: at
// Go's default of 100 the collector took about a third of its CPU, at 400
// about a quarter less CPU in all, for a peak RSS of 0.6-0.8 GB instead of
// about half that at the default batch size (README, "Ingest memory").
const DefIngestGCPercent = 400

// SetGCPercent sets the garbage collector's target to percent (-1: off)
// unless GOGC, which wins, is set.
func SetGCPercent(percent int) error {
	if percent < -1 {
		return fmt.Errorf("gc-percent %d: want -1 (off) or a percentage >= 0", percent)
	}
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(percent)
	}
	return nil
}

// IngestConfig is the configuration of Ingest: the flags of `xpromo
// ingest`.
type IngestConfig struct {
	RedisURL      string
	ClickHouseURL string
	KeyPrefix     string // of every Redis key
	Batching
	MetricsAddr string // serve /metrics and /healthz here (empty: off)
	PprofAddr   string // serve Go's /debug/pprof here (empty: off)
	// AfterInsert, if not nil, runs after each insert, before its entries
	// are acknowledged (the fault suite's kill hook).
	AfterInsert func()
}

// config is the ingester's configuration, its defaults filled in.
func (c *IngestConfig) config() ingest.Config {
	cfg := c.Batching.config(c.KeyPrefix)
	cfg.AfterInsert = c.AfterInsert
	cfg.Defaults()
	return cfg
}

// Validate refuses a configuration the ingester cannot run with.
func (c *IngestConfig) Validate() error {
	cfg := c.config()
	return cfg.Validate()
}

// Ingest runs a standalone ingester, with its metrics and profiler
// endpoints when configured, until ctx ends; it then drains the current
// batch.
func Ingest(ctx context.Context, c *IngestConfig, log *slog.Logger) error {
	if c.AfterInsert == nil {
		var err error
		if c.AfterInsert, err = faultKillAfterInserts(log); err != nil {
			return err
		}
	}
	cfg := c.config()
	ropts, err := redis.ParseURL(c.RedisURL)
	if err != nil {
		return fmt.Errorf("redis-url: %w", err)
	}
	rdb := redis.NewClient(ropts)
	defer rdb.Close()
	ch, err := chdb.Connect(c.ClickHouseURL)
	if err != nil {
		return err
	}
	defer ch.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ing, err := ingest.New(rdb, ch, cfg, log, metrics.New(reg))
	if err != nil {
		return err
	}
	if c.MetricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		srv := &http.Server{Addr: c.MetricsAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		ln, err := net.Listen("tcp", c.MetricsAddr)
		if err != nil {
			return fmt.Errorf("metrics-addr: %w", err)
		}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
	}
	if c.PprofAddr != "" {
		stop, err := servePprof(c.PprofAddr)
		if err != nil {
			return err
		}
		defer stop()
	}
	log.Info("ingesting", "consumer", cfg.Consumer)
	return ing.Run(ctx)
}
