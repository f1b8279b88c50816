package privacy

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/xpromo/xpromo/domain/attribution"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/lib/chdb"
)

// RawTables hold raw hits, partitioned by month (toYYYYMM(ts)): what
// retention drops. Conversions and attributions are kept (statements are
// built from them); hits_hourly keeps the aggregated history.
var RawTables = []string{"hits", "rejected_hits"}

const (
	selectPartitions = `SELECT partition, sum(rows) FROM system.parts
WHERE database = currentDatabase() AND table = ? AND active GROUP BY partition ORDER BY partition`
	dropPartition = `ALTER TABLE %s DROP PARTITION %d`
)

// Period is a retention: years, months and days (calendar arithmetic).
// The zero Period means keep forever.
type Period struct{ Years, Months, Days int }

var periodRe = regexp.MustCompile(`^(\d+)(y|mo|d)$`)

// ParsePeriod reads "13mo", "2y" or "400d"; "", "0" and "off" mean keep
// forever.
func ParsePeriod(s string) (Period, error) {
	switch s {
	case "", "0", "off":
		return Period{}, nil
	}
	m := periodRe.FindStringSubmatch(s)
	if m == nil {
		return Period{}, fmt.Errorf("retention %q: want a number of months, years or days such as 13mo, 2y or 400d (or off)", s)
	}
	n, err := strconv.Atoi(m[1])
	if err != nil || n <= 0 || n > 100*366 {
		return Period{}, fmt.Errorf("retention %q: out of range", s)
	}
	switch m[2] {
	case "y":
		return Period{Years: n}, nil
	case "mo":
		return Period{Months: n}, nil
	}
	return Period{Days: n}, nil
}

// Off reports whether p keeps everything.
func (p Period) Off() bool { return p == Period{} }

func (p Period) String() string {
	switch {
	case p.Off():
		return "off"
	case p.Years > 0:
		return strconv.Itoa(p.Years) + "y"
	case p.Months > 0:
		return strconv.Itoa(p.Months) + "mo"
	}
	return strconv.Itoa(p.Days) + "d"
}

// Cutoff is the instant before which hits are past p at now.
func (p Period) Cutoff(now time.Time) time.Time {
	return now.UTC().AddDate(-p.Years, -p.Months, -p.Days)
}

// AttributionFloor is the earliest instant the attribution of the open
// periods (this month and the previous one, see serve's attribution loop)
// reads clicks from: retention never drops a month after it, whatever it
// is set to.
func AttributionFloor(now time.Time, snap *catalog.Snapshot) time.Time {
	now = now.UTC()
	open := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -1, 0)
	return open.Add(-2 * attribution.Lookback(snap))
}

// Partition is one month of a raw table.
type Partition struct {
	Table string `json:"table"`
	Month uint32 `json:"month"` // YYYYMM
	Rows  uint64 `json:"rows"`
}

// Retention drops the months of raw hits past Keep.
type Retention struct {
	Conn   driver.Conn
	Keep   Period
	Tables []string // default RawTables
}

// Limit is the instant before which whole months are dropped: the cutoff
// of Keep at now, or floor when that is earlier.
func (r *Retention) Limit(now, floor time.Time) time.Time {
	limit := r.Keep.Cutoff(now)
	if !floor.IsZero() && floor.Before(limit) {
		limit = floor
	}
	return limit
}

// Expired lists the partitions whose whole month ended before both the
// cutoff of Keep at now and floor (zero: no floor), oldest first.
func (r *Retention) Expired(ctx context.Context, now, floor time.Time) ([]Partition, error) {
	const op = "retention"
	if r.Keep.Off() {
		return nil, nil
	}
	limit := r.Limit(now, floor)
	tables := r.Tables
	if tables == nil {
		tables = RawTables
	}
	var out []Partition
	for _, table := range tables {
		err := chdb.Each(ctx, r.Conn, selectPartitions, []any{table}, func(rows driver.Rows) error {
			var part string
			var n uint64
			if err := rows.Scan(&part, &n); err != nil {
				return err
			}
			m, err := strconv.ParseUint(part, 10, 32)
			if err != nil || m < 197001 || m > 999912 || m%100 < 1 || m%100 > 12 {
				return nil // not a toYYYYMM partition: not ours to judge
			}
			end := time.Date(int(m/100), time.Month(m%100), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 1, 0)
			if !end.After(limit) {
				out = append(out, Partition{Table: table, Month: uint32(m), Rows: n})
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("%s: list partitions of %s: %w", op, table, err)
		}
	}
	return out, nil
}

// Drop drops the partitions (ALTER TABLE ... DROP PARTITION: whole parts
// are removed at once, no mutation; works on 18.16 and current servers).
func (r *Retention) Drop(ctx context.Context, parts []Partition) error {
	var errs []error
	for _, p := range parts {
		if !chdb.ValidIdent(p.Table) || p.Month < 197001 || p.Month > 999912 {
			errs = append(errs, fmt.Errorf("retention: bad partition %s %d", p.Table, p.Month))
			continue
		}
		if err := r.Conn.Exec(ctx, fmt.Sprintf(dropPartition, p.Table, p.Month)); err != nil {
			errs = append(errs, fmt.Errorf("retention: drop %s %d: %w", p.Table, p.Month, err))
		}
	}
	return errors.Join(errs...)
}
