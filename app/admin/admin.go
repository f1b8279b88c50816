// Package admin is what the xpromo command's administration commands do
// once their flags are parsed: the catalog (partners, partnerships and
// their terms, links, the audit log), API tokens and postback secrets,
// reports and statements, attribution, erasure, retention, synthetic data
// and the schema. cmd/xpromo parses the command line and calls these;
// they make the same changes as the management API, through the same
// stores, and print what the command shows (output.go holds the table and
// JSON printing they share).
package admin

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/xpromo/xpromo/domain/attribution"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/fx"
	"github.com/xpromo/xpromo/lib/chdb"
	"github.com/xpromo/xpromo/lib/pgdb"
)

// Env is what a workflow runs with.
type Env struct {
	ClickHouseURL string
	PostgresURL   string
	// Clock is the time every business rule reads: whether a month has
	// ended, a link or token has expired, which terms are in force.
	Clock func() time.Time
	// Actor is who the audit log and created_by/revoked_by record.
	Actor string
	// Out takes the command's result, Err its notes and warnings.
	Out, Err io.Writer
	// CatalogChanged and TokensChanged tell running trackers to reload
	// now (nil: they reload at their next refresh).
	CatalogChanged, TokensChanged func(context.Context)

	pg *pgxpool.Pool // set by withConn
}

// withConn runs fn with a ClickHouse connection, and the catalog's
// PostgreSQL pool for e.catalog, both closed afterwards. The pool connects
// at its first use: a command that does not read the catalog does not
// need PostgreSQL.
func (e *Env) withConn(ctx context.Context, fn func(driver.Conn) error) error {
	conn, err := chdb.Open(ctx, e.ClickHouseURL, false)
	if err != nil {
		return err
	}
	defer conn.Close()
	pg, err := pgdb.Connect(e.PostgresURL)
	if err != nil {
		return err
	}
	defer pg.Close()
	e.pg = pg
	defer func() { e.pg = nil }()
	return fn(conn)
}

// catalog is the catalog store (inside withConn); its changes are
// announced.
func (e *Env) catalog() *catalog.Store {
	s := catalog.NewStore(e.pg).WithClock(e.Clock)
	if e.CatalogChanged != nil {
		s.OnChange(e.CatalogChanged)
	}
	return s
}

// snapshot loads the catalog (inside withConn).
func (e *Env) snapshot(ctx context.Context) (*catalog.Snapshot, error) {
	return e.catalog().Load(ctx)
}

// attributionJob is the attribution job on conn, stating revenue in
// currency as well.
func (e *Env) attributionJob(conn driver.Conn, currency string, log *slog.Logger) *attribution.Job {
	job := attribution.NewJob(conn, e.catalog(), fx.NewStore(e.pg).WithClock(e.Clock), log).WithClock(e.Clock)
	job.ReportingCurrency = currency
	return job
}
