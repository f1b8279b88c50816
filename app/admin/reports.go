package admin

// The read side: reports, report time zones, the hourly rollup
// (statements are in statements.go).

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/xpromo/xpromo/reports"
)

// Report prints report name over p, broken down by by, in format.
func (e *Env) Report(ctx context.Context, name string, p reports.Params, by, format string) error {
	return e.withConn(ctx, func(conn driver.Conn) error {
		snap, err := e.snapshot(ctx)
		if err != nil {
			return err
		}
		env, err := reports.NewEnv(ctx, conn, e.pg, snap)
		if err != nil {
			return err
		}
		t, err := reports.Registry[name].Run(ctx, env, p, by)
		if err != nil {
			return err
		}
		return t.Write(e.Out, format)
	})
}

// SetZone sets the time zone country's report days are in.
func (e *Env) SetZone(ctx context.Context, country, tz string) error {
	country = strings.ToUpper(country)
	return e.withConn(ctx, func(driver.Conn) error {
		if err := reports.SetZone(ctx, e.pg, country, tz, e.Actor); err != nil {
			return err
		}
		fmt.Fprintf(e.Out, "%s: report days are now in %s\n", country, tz)
		return nil
	})
}

// ListZones prints the countries with a time zone set.
func (e *Env) ListZones(ctx context.Context) error {
	return e.withConn(ctx, func(driver.Conn) error {
		zones, err := reports.LoadZones(ctx, e.pg)
		if err != nil {
			return err
		}
		for _, k := range sortedKeys(zones) {
			fmt.Fprintf(e.Out, "%s\t%s\n", k, zones[k])
		}
		return nil
	})
}

// RebuildRollup refills the hourly hits rollup from the hits.
func (e *Env) RebuildRollup(ctx context.Context) error {
	return e.withConn(ctx, func(conn driver.Conn) error {
		start := time.Now()
		rows, hits, err := reports.RebuildRollup(ctx, conn)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Out, "hits_hourly rebuilt in %s: %d rows for %d hits\n", time.Since(start).Round(time.Millisecond), rows, hits)
		return nil
	})
}

// ReportQuery is a report's period, filters and format as text, the
// flags of xpromo report NAME.
type ReportQuery struct {
	From, To, Granularity, Compare string // dates YYYY-MM-DD
	Countries                      string // comma-separated ISO alpha-2
	Partner, Partnership, By       string
	Format                         string // table, csv, json or xlsx
	IncludeBots                    bool
}

// Params reads q into reports.Params, or says which flag is wrong.
func (q *ReportQuery) Params() (reports.Params, error) {
	var p reports.Params
	var err error
	if p.From, p.To, err = ParseDays(q.From, q.To); err != nil {
		return p, err
	}
	p.Granularity, p.Compare, p.IncludeBots = q.Granularity, q.Compare, q.IncludeBots
	if q.Countries != "" {
		for _, cc := range strings.Split(q.Countries, ",") {
			p.Countries = append(p.Countries, strings.ToUpper(strings.TrimSpace(cc)))
		}
	}
	p.Partner = strings.TrimSpace(q.Partner)
	if q.Partnership != "" {
		p.Partnerships = []string{strings.TrimSpace(q.Partnership)}
	}
	switch q.Format {
	case reports.FormatTable, reports.FormatCSV, reports.FormatJSON, reports.FormatXLSX:
	default:
		return p, fmt.Errorf("--format %q: want table, csv, json or xlsx", q.Format)
	}
	return p, p.Validate()
}

// ParseDays reads the days --from and --to (YYYY-MM-DD), or says which
// is wrong.
func ParseDays(from, to string) (first, last time.Time, err error) {
	if first, err = time.Parse(time.DateOnly, from); err != nil {
		return first, last, fmt.Errorf("--from %q: want YYYY-MM-DD", from)
	}
	if last, err = time.Parse(time.DateOnly, to); err != nil {
		return first, last, fmt.Errorf("--to %q: want YYYY-MM-DD", to)
	}
	return first, last, nil
}
