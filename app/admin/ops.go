package admin

// Whole-system operations: the schema, erasure, retention, synthetic data.

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/lib/chdb"
	"github.com/xpromo/xpromo/lib/pgdb"
	"github.com/xpromo/xpromo/ops/gen"
	"github.com/xpromo/xpromo/ops/privacy"
	"github.com/xpromo/xpromo/ops/upgrade"
	"github.com/xpromo/xpromo/schema"
	"github.com/xpromo/xpromo/schema/pg"
)

// Migrate creates the databases if needed and applies the migrations not
// yet applied, ClickHouse's (ON CLUSTER cluster unless it is empty) and
// PostgreSQL's, or with status only lists them.
func (e *Env) Migrate(ctx context.Context, cluster string, status bool, log *slog.Logger) error {
	conn, err := chdb.Open(ctx, e.ClickHouseURL, !status)
	if err != nil {
		return err
	}
	defer conn.Close()
	pool, err := pgdb.Open(ctx, e.PostgresURL, !status)
	if err != nil {
		return err
	}
	defer pool.Close()
	if v, err := chdb.ServerVersion(conn); err == nil {
		log.Info("clickhouse server", "version", v.String())
	}
	if status {
		all, err := schema.All()
		if err != nil {
			return err
		}
		applied, _ := schema.Applied(ctx, conn)
		for _, m := range all {
			state := "pending"
			if applied[m.Version] {
				state = "applied"
			}
			fmt.Fprintf(e.Out, "%04d_%s\t%s\n", m.Version, m.Name, state)
		}
		return e.pgStatus(ctx, pool)
	}
	done, err := schema.Migrate(ctx, conn, schema.Options{Cluster: cluster, Log: log})
	if err != nil {
		return err
	}
	if len(done) == 0 {
		fmt.Fprintln(e.Out, "schema is up to date")
	} else {
		fmt.Fprintf(e.Out, "applied %d migration(s): %s\n", len(done), strings.Join(done, ", "))
	}
	done, err = pg.Migrate(ctx, pool)
	if err != nil {
		return err
	}
	if len(done) == 0 {
		fmt.Fprintln(e.Out, "postgres schema is up to date")
	} else {
		fmt.Fprintf(e.Out, "applied %d postgres migration(s): %s\n", len(done), strings.Join(done, ", "))
	}
	return e.copyCatalog(ctx, conn, pool, log)
}

// copyCatalog copies a catalog that earlier releases kept in ClickHouse
// into PostgreSQL (once: later runs copy nothing and verify), and prints
// what it found, unless ClickHouse holds no catalog.
func (e *Env) copyCatalog(ctx context.Context, conn driver.Conn, pool *pgxpool.Pool, log *slog.Logger) error {
	copies, err := upgrade.CopyCatalog(ctx, conn, pool, log)
	if err != nil {
		return err
	}
	rows := 0
	for _, c := range copies {
		rows += c.Source
	}
	if rows == 0 {
		return nil
	}
	fmt.Fprintln(e.Out, "catalog kept in ClickHouse by an earlier release, copied into PostgreSQL and verified:")
	for _, c := range copies {
		if c.Skipped {
			fmt.Fprintf(e.Out, "  %-18s no such table\n", c.Table)
			continue
		}
		fmt.Fprintf(e.Out, "  %-18s %d rows, %d copied now, %d in PostgreSQL, checksum %.12s\n", c.Table, c.Source, c.Copied, c.Target, c.Checksum)
		if c.Kept > 0 {
			fmt.Fprintf(e.Out, "  %-18s %d rows changed in PostgreSQL since the copy: PostgreSQL's kept\n", "", c.Kept)
		}
	}
	return nil
}

// pgStatus lists the PostgreSQL migrations as pg/NNNN_name and their state.
func (e *Env) pgStatus(ctx context.Context, pool *pgxpool.Pool) error {
	all, err := pg.All()
	if err != nil {
		return err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres migrations: %w", err)
	}
	defer conn.Release()
	applied, _ := pg.Applied(ctx, conn.Conn()) // no table yet: all pending
	for _, m := range all {
		state := "pending"
		if applied[m.Version] {
			state = "applied"
		}
		fmt.Fprintf(e.Out, "pg/%04d_%s\t%s\n", m.Version, m.Name, state)
	}
	return nil
}

// Erase erases subject s's events (only shows what it would with
// dryRun), deletes the Redis keys naming the person (redisURL, keys
// under prefix) and attributes again, stating revenue in currency as
// well, the conversions that were credited to the person's clicks.
func (e *Env) Erase(ctx context.Context, s privacy.Subject, dryRun bool, redisURL, prefix, currency string, log *slog.Logger) error {
	return e.withConn(ctx, func(conn driver.Conn) error {
		ropts, err := redis.ParseURL(redisURL)
		if err != nil {
			return fmt.Errorf("redis-url: %w", err)
		}
		rdb := redis.NewClient(ropts)
		defer rdb.Close()
		job := e.attributionJob(conn, strings.ToUpper(currency), log)
		er := &privacy.Eraser{Conn: conn, Redis: rdb, KeyPrefix: prefix, Log: log,
			Reattribute: func(ctx context.Context, from, to time.Time) error { _, err := job.Run(ctx, from, to); return err }}
		plan, err := er.Plan(ctx, s)
		if err != nil {
			return err
		}
		if dryRun {
			fmt.Fprintf(e.Out, "would erase %s: %s\n", subjectName(plan.Subject), plan.Summary())
			return nil
		}
		if plan.Empty() {
			fmt.Fprintf(e.Out, "nothing to erase for %s\n", subjectName(plan.Subject))
			return nil
		}
		res, err := er.Erase(ctx, plan)
		if err != nil {
			return err
		}
		if err := e.catalog().Audit(ctx, res.AuditEntry(e.Actor, plan.Subject)); err != nil {
			return fmt.Errorf("erased, but the audit entry failed: %w", err)
		}
		fmt.Fprintf(e.Out, "erased %s in %s: %s; rollup months rebuilt %v; %d redis key(s) deleted\n",
			subjectName(plan.Subject), res.Took.Round(time.Millisecond), rowsLine(res.Rows), res.Months, res.RedisKeys)
		return nil
	})
}

func subjectName(s privacy.Subject) string {
	if s.UserID != "" {
		return "user " + s.UserID + " (" + s.Source + ")"
	}
	return "visitor " + s.Visitor
}

func rowsLine(rows map[string]uint64) string {
	parts := make([]string, 0, len(rows))
	for _, t := range privacy.Keys() {
		parts = append(parts, fmt.Sprintf("%s %d", t, rows[t]))
	}
	return strings.Join(parts, ", ")
}

// Retention drops the months of raw hits older than keep (with dryRun
// only lists them) and prints what it did.
func (e *Env) Retention(ctx context.Context, keep privacy.Period, dryRun bool) error {
	if keep.Off() {
		fmt.Fprintln(e.Out, "retention is off (--retain-hits): nothing dropped")
		return nil
	}
	return e.withConn(ctx, func(conn driver.Conn) error {
		now := e.Clock()
		parts, limit, err := privacy.ApplyRetention(ctx, conn, e.catalog(), keep, now, dryRun, e.Actor)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Out, "raw hits of months ended before %s go (--retain-hits %s", limit.Format(time.DateOnly), keep)
		if cut := keep.Cutoff(now); limit.Before(cut) {
			fmt.Fprintf(e.Out, " would allow %s, but the attribution of the open months reads clicks back to %s", cut.Format(time.DateOnly), limit.Format(time.DateOnly))
		}
		fmt.Fprintln(e.Out, ")")
		verb := "dropped"
		if dryRun {
			verb = "would drop"
		}
		if len(parts) == 0 {
			fmt.Fprintf(e.Out, "no month of raw hits is older than %s\n", keep)
		}
		for _, p := range parts {
			fmt.Fprintf(e.Out, "%s %s %d (%d rows)\n", verb, p.Table, p.Month, p.Rows)
		}
		return nil
	})
}

// Gen writes the synthetic traffic cfg describes and prints its summary
// with the peak RSS (as JSON with asJSON).
func (e *Env) Gen(ctx context.Context, cfg gen.Config, asJSON bool) error {
	return e.withConn(ctx, func(conn driver.Conn) error {
		sum, err := gen.Run(ctx, conn, catalog.NewStore(e.pg), cfg)
		if err != nil {
			return err
		}
		peak, err := gen.PeakRSS()
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(e.Out, struct {
				gen.Summary
				PeakRSSBytes int64 `json:"peak_rss_bytes"`
			}{sum, peak})
		}
		secs := sum.Total.Seconds()
		fmt.Fprintf(e.Out, "gen seed %d: partners %d, partnerships %d, links %d, terms %d, hits %d (clicks %d, views %d), conversions %d, attributions %d; %d rows in %.1fs (%.0f rows/s; catalog %.1fs, hits+conversions %.1fs at %.0f rows/s, attribution %.1fs); peak RSS %d MiB\n",
			cfg.Seed, sum.Partners, sum.Partnerships, sum.Links, sum.Terms, sum.Hits, sum.Clicks, sum.Views, sum.Conversions, sum.Attributions,
			sum.Rows(), secs, float64(sum.Rows())/secs, sum.CatalogTime.Seconds(), sum.TrafficTime.Seconds(),
			float64(sum.Hits+sum.Conversions)/sum.TrafficTime.Seconds(), sum.AttributionTime.Seconds(), peak>>20)
		return nil
	})
}
