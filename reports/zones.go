package reports

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/lib/pgdb"
)

// LoadZones reads the countries' time zones (country_settings, in
// PostgreSQL).
func LoadZones(ctx context.Context, db *pgxpool.Pool) (map[string]*time.Location, error) {
	rows, err := db.Query(ctx, `SELECT country, timezone FROM country_settings`)
	if err != nil {
		return nil, fmt.Errorf("load time zones: %w", err)
	}
	type setting struct{ Country, Timezone string }
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[setting])
	if err != nil {
		return nil, fmt.Errorf("load time zones: %w", err)
	}
	out := map[string]*time.Location{}
	for _, r := range got {
		loc, err := time.LoadLocation(r.Timezone)
		if err != nil || r.Timezone == "" || r.Timezone == "Local" {
			continue // refused when set; a zone a newer tzdata renamed falls back to UTC
		}
		out[r.Country] = loc
	}
	return out, nil
}

// upsertZone sets a country's zone; version counts the edits.
const upsertZone = `INSERT INTO country_settings (country, timezone, updated_at, updated_by)
VALUES ($1, $2, $3, $4)
ON CONFLICT (country) DO UPDATE SET timezone = EXCLUDED.timezone, updated_at = EXCLUDED.updated_at,
    updated_by = EXCLUDED.updated_by, version = country_settings.version + 1`

// SetZone stores country's time zone.
func SetZone(ctx context.Context, db *pgxpool.Pool, country, tz, actor string) error {
	if catalog.ValidCountry("country", country) != nil {
		return fmt.Errorf("country %q is not an ISO 3166-1 alpha-2 code", country)
	}
	if _, err := time.LoadLocation(tz); err != nil || tz == "" || tz == "Local" {
		return fmt.Errorf("time zone %q: want an IANA name such as Europe/Berlin", tz)
	}
	if _, err := db.Exec(ctx, upsertZone, country, tz, time.Now().UTC().Truncate(time.Second), actor); err != nil {
		return fmt.Errorf("set time zone: %w", err)
	}
	return nil
}

// zoneRetry is how long Zones answers from its copy, without trying
// PostgreSQL again, after a read found it unavailable: a report does
// not wait for a connect attempt per request during an outage.
const zoneRetry = 5 * time.Second

// Zones reads the countries' time zones for the reports a server answers
// and keeps the last copy read. While PostgreSQL is unavailable the
// reports go on in the zones of that copy, as they go on from the
// tracker's copy of the catalog: a zone changes seldom, and a change is
// itself a write to PostgreSQL. Safe for concurrent use.
type Zones struct {
	db  *pgxpool.Pool
	log *slog.Logger
	now func() time.Time

	mu       sync.Mutex
	last     map[string]*time.Location // nil until a read succeeds
	failedAt time.Time                 // the last read that found PostgreSQL unavailable
}

// NewZones returns a Zones reading db; log may be nil.
func NewZones(db *pgxpool.Pool, log *slog.Logger) *Zones {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Zones{db: db, log: log, now: time.Now}
}

// WithClock sets the clock of the retry pause (tests); it returns z.
func (z *Zones) WithClock(now func() time.Time) *Zones {
	z.now = now
	return z
}

// Load returns the zones as PostgreSQL holds them now, or, while it is
// unavailable, as they were last read. Without a copy, or on any other
// error, it returns the error.
func (z *Zones) Load(ctx context.Context) (map[string]*time.Location, error) {
	z.mu.Lock()
	last, pause := z.last, !z.failedAt.IsZero() && z.now().Sub(z.failedAt) < zoneRetry
	z.mu.Unlock()
	if last != nil && pause {
		return last, nil
	}
	got, err := LoadZones(ctx, z.db)
	z.mu.Lock()
	defer z.mu.Unlock()
	switch {
	case err == nil:
		z.last, z.failedAt = got, time.Time{}
		return got, nil
	case z.last != nil && pgdb.Unavailable(err):
		if z.failedAt.IsZero() {
			z.log.Warn("reports: PostgreSQL is unavailable; using the time zones read before", "err", err)
		}
		z.failedAt = z.now()
		return z.last, nil
	}
	return nil, err
}

// Env is NewEnv with the zones of z.
func (z *Zones) Env(ctx context.Context, conn driver.Conn, snap *catalog.Snapshot) (*Env, error) {
	zones, err := z.Load(ctx)
	if err != nil {
		return nil, err
	}
	return &Env{Conn: conn, Catalog: snap, Zones: zones}, nil
}
