package main

// xpromo serve and xpromo ingest: their flags, bound to app.Config and
// app.IngestConfig; package app builds and runs what they describe. And
// xpromo migrate, the schema they need.

import (
	"context"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/xpromo/xpromo/app"
	"github.com/xpromo/xpromo/app/admin"
	"github.com/xpromo/xpromo/domain/attribution"
	"github.com/xpromo/xpromo/lib/secrets"
)

func serveCmd() *cobra.Command {
	var c app.Config
	var shared common
	f := newFlags("serve", "serve [flags]", `
Runs the tracker: GET /r/{code} (click, 302 to the link with xp_click added),
GET /p.gif (view or conversion, 1x1 GIF), /healthz, /readyz and /metrics, and
the management API under /v1 (catalog, tokens, audit, POST /v1/conversions).
Each answer goes out once its hit is durable in Redis, or in the spill journal
under --state-dir when Redis does not answer within --commit-timeout. Unless
--ingest=false it also runs the ingester that writes hits to ClickHouse.
SIGTERM or Ctrl-C: stop accepting, finish answers, flush, drain the ingester.`)
	shared.register(f, true)
	f.String(&c.HTTPAddr, "http-addr", ":8080", "listen address")
	f.String(&c.TrustedProxies, "trusted-proxies", "127.0.0.0/8,::1/128", "comma-separated CIDRs whose X-Forwarded-For is believed")
	f.String(&c.DataDir, "state-dir", ".data/tracker", "directory of the spill journal and the catalog copy (one running tracker per directory)")
	f.Bool(&c.Ingest, "ingest", true, "also run the ingester in this process")
	f.Duration(&c.CommitTimeout, "commit-timeout", 5*time.Millisecond, "how long a group of hits may wait for Redis before it is journaled")
	f.Int(&c.CommitWorkers, "commit-workers", 1, "group commits in flight at once, one Redis stream each (1 gives the largest groups; more can help when Redis is far away)")
	f.Float(&c.APIRate, "api-rate", app.DefAPIRate, "management API: requests per second per token, also its burst (0: no limit)")
	f.Float(&c.APIIPRate, "api-ip-rate", app.DefAPIIPRate, "management API: requests per second per client address, before authentication, also its burst (0: no limit)")
	f.String(&c.PublicURL, "public-url", "", "public base URL of this tracker for tracking links shown by the API, e.g. https://go.example.com (empty: the API request's scheme and host)")
	f.String(&c.PprofAddr, "pprof-addr", "", "serve Go's /debug/pprof on this address, e.g. 127.0.0.1:6060 (empty: off)")
	f.String(&c.SecretKeyFile, "secret-key-file", secrets.DefaultFile(), "server key that seals partners' postback secrets, used when "+secrets.EnvKey+" is not set (the same key as xpromo partner secret uses); created when missing")
	f.Duration(&c.AttributeEvery, "attribute-every", time.Minute, "how often the attribution of the current and previous month is recomputed (0: never; see xpromo attribute)")
	f.String(&c.RetainHits, "retain-hits", "off", app.RetainHitsUsage+" (checked every hour)")
	f.String(&c.ReportingCur, "reporting-currency", attribution.DefaultReportingCurrency, "currency revenue is also stated in (ISO 4217)")
	f.Duration(&c.CatalogRefresh, "catalog-refresh", 2*time.Second, "how often the link catalog is reloaded")
	f.Duration(&c.ShutdownWait, "shutdown-timeout", 15*time.Second, "bound on each shutdown step")
	registerBatching(f, &c.Batching)
	registerHTTPLimits(f, &c.HTTPLimits)
	return f.run(func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		c.RedisURL, c.ClickHouseURL, c.PostgresURL, c.KeyPrefix, c.Clock = shared.RedisURL, shared.ClickHouseURL, shared.PostgresURL, shared.KeyPrefix, clock
		if err := c.Validate(); err != nil {
			return err
		}
		log, err := shared.Logger(stderr)
		if err != nil {
			return err
		}
		return app.Serve(ctx, &c, log)
	})
}

// registerHTTPLimits binds the flags of l.
func registerHTTPLimits(f *flags, l *app.HTTPLimits) {
	f.Duration(&l.ReadHeaderTimeout, "read-header-timeout", app.DefReadHeaderTimeout, "a client must send its request headers within this (slow clients are cut)")
	f.Duration(&l.ReadTimeout, "read-timeout", app.DefReadTimeout, "a client must send its whole request, body included, within this")
	f.Duration(&l.WriteTimeout, "write-timeout", app.DefWriteTimeout, "an answer must be written within this")
	f.Duration(&l.IdleTimeout, "idle-timeout", app.DefIdleTimeout, "an idle keep-alive connection is closed after this")
	f.Int(&l.MaxHeaderBytes, "max-header-bytes", app.DefMaxHeaderBytes, "request headers larger than this are refused with 431")
}

// registerBatching binds the ingester's batching flags to c.
func registerBatching(f *flags, c *app.Batching) {
	f.Int(&c.BatchSize, "batch-size", 50000, "ingest: rows per ClickHouse insert at most (10k-100k is efficient)")
	f.Duration(&c.FlushInterval, "flush-interval", time.Second, "ingest: write a smaller batch after this long")
	f.Duration(&c.ClaimIdle, "claim-idle", 30*time.Second, "ingest: take over entries another ingester left unacknowledged this long")
}

func ingestCmd() *cobra.Command {
	var c common
	var cfg app.IngestConfig
	var gcPercent int
	f := newFlags("ingest", "ingest [flags]", `
Reads the hit streams in Redis with a consumer group and writes them to
ClickHouse in batches, acknowledging entries only after the insert. Several
ingesters may run at once; entries a crashed one left behind are taken over
after --claim-idle and never counted twice. SIGTERM drains the current batch.`)
	c.noCatalog = true
	c.register(f, true)
	registerBatching(f, &cfg.Batching)
	f.String(&cfg.MetricsAddr, "metrics-addr", "", "serve /metrics and /healthz on this address (empty: off)")
	f.String(&cfg.PprofAddr, "pprof-addr", "", "serve Go's /debug/pprof on this address, e.g. 127.0.0.1:6061 (empty: off)")
	f.Int(&gcPercent, "gc-percent", app.DefIngestGCPercent, "Go garbage collector target (as GOGC, which wins when set): higher trades memory for CPU; -1 turns the collector off")
	return f.run(func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		if err := app.SetGCPercent(gcPercent); err != nil {
			return err
		}
		cfg.RedisURL, cfg.ClickHouseURL, cfg.KeyPrefix = c.RedisURL, c.ClickHouseURL, c.KeyPrefix
		if err := cfg.Validate(); err != nil {
			return err
		}
		log, err := c.Logger(stderr)
		if err != nil {
			return err
		}
		return app.Ingest(ctx, &cfg, log)
	})
}

func migrateCmd() *cobra.Command {
	var c common
	var cluster string
	var status bool
	f := newFlags("migrate", "migrate [flags]", `
Creates the database if needed and applies every embedded migration not yet
recorded in the xpromo_migrations table. Safe to run again at any time.`)
	c.register(f, false)
	f.String(&cluster, "cluster", "", "run DDL ON CLUSTER this cluster (empty for a single server)")
	f.Bool(&status, "status", false, "only list migrations and whether each is applied")
	return c.run(f, func(ctx context.Context, e *admin.Env) error {
		log, err := c.Logger(e.Err)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		return e.Migrate(ctx, cluster, status, log)
	})
}
