package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/xpromo/xpromo/app/admin"
	"github.com/xpromo/xpromo/reports"
)

func reportCmd() *cobra.Command {
	var subs []sub
	for _, n := range reports.Names() {
		subs = append(subs, sub{reports.Registry[n].Summary, namedReportCmd(n)})
	}
	return group("report REPORT [flags]", subs...)
}

// registerReport binds the flags every named report takes to q; the API
// takes the same as query parameters (GET /v1/reports/NAME).
func registerReport(f *flags, q *admin.ReportQuery) {
	now := clock().UTC()
	monthStart := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	f.StringVar(&q.From, "from", monthStart.Format(time.DateOnly), "first day, YYYY-MM-DD (default: the first of this month)")
	f.StringVar(&q.To, "to", now.Format(time.DateOnly), "last day, YYYY-MM-DD, included (default: today)")
	f.StringVar(&q.Granularity, "granularity", "", "day, week or month (default: the whole period as one row, its period FROM..TO)")
	f.StringVar(&q.Countries, "country", "", "only these countries, comma-separated ISO alpha-2")
	f.StringVar(&q.Partner, "partner", "", "only this partner")
	f.StringVar(&q.Partnership, "partnership", "", "only this partnership (required for breakdown)")
	f.StringVar(&q.Compare, "compare", "", "previous or year: add the earlier period's figures and the change")
	f.StringVar(&q.By, "by", "", "breakdown dimension: "+strings.Join(reports.BreakdownDimensions, ", ")+" (sub: the partner's sub= label on the tracking link)")
	f.BoolVar(&q.IncludeBots, "include-bots", false, "count bots' clicks and views too")
	f.StringVar(&q.Format, "format", "table", "table, csv, json or xlsx (binary: redirect it to a file)")
}

func namedReportCmd(name string) *cobra.Command {
	var c common
	var q admin.ReportQuery
	f := newFlags("report "+name, "report "+name+" [--from DATE] [--to DATE] [--granularity day|week|month] [--country CC,...] [--partner ID] [--partnership ID] [--include-bots] [--compare previous|year] [--format table|csv|json|xlsx]",
		reports.Registry[name].Summary+`.
Days are calendar days in each country's own time zone (`+"`xpromo country set-timezone`"+`,
default UTC). The CLI reads everything (as admin); GET /v1/reports/`+name+` gives the
same figures limited to the reader's token.`)
	c.register(f, false)
	registerReport(f, &q)
	return c.run(f, func(ctx context.Context, e *admin.Env) error {
		p, err := q.Params()
		if err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		return e.Report(ctx, name, p, q.By, q.Format)
	})
}

func countryCmd() *cobra.Command {
	return group("country SUBCOMMAND [flags]",
		sub{"set the time zone a country's report days are in: --country CC --timezone Europe/Berlin", countrySubCmd("set-timezone")},
		sub{"list the countries with a time zone set (the others use UTC)", countrySubCmd("list")})
}

// countrySubCmd is country set-timezone or country list.
func countrySubCmd(sub string) *cobra.Command {
	var c common
	var cc, tz string
	f := newFlags("country "+sub, "country "+sub+" [flags]", `
Report periods are calendar days in each country's own time zone; a
country without one uses UTC.`)
	c.register(f, false)
	if sub == "set-timezone" {
		f.StringVar(&cc, "country", "", "ISO 3166-1 alpha-2 code (required)")
		f.StringVar(&tz, "timezone", "", "IANA time zone name, e.g. Europe/Berlin (required)")
	}
	return c.run(f, func(ctx context.Context, e *admin.Env) error {
		if sub == "list" {
			return e.ListZones(ctx)
		}
		if cc == "" || tz == "" {
			return fmt.Errorf("%w: --country and --timezone are required", errUsage)
		}
		return e.SetZone(ctx, cc, tz)
	})
}

func rollupCmd() *cobra.Command {
	return group("rollup SUBCOMMAND [flags]",
		sub{"refill the hourly hits rollup from the hits table (stop ingesting first)", rollupRebuildCmd()})
}

func rollupRebuildCmd() *cobra.Command {
	var c common
	f := newFlags("rollup rebuild", "rollup rebuild [flags]", `
Empties hits_hourly and fills it again from every stored hit. Reports read
the rollup; a materialized view keeps it current with every insert, so this
is needed only for hits stored before the view existed (an upgrade) or after
restoring hits from a backup. Stop every ingester first: hits inserted while
it runs would be counted twice.`)
	c.register(f, false)
	return c.run(f, func(ctx context.Context, e *admin.Env) error { return e.RebuildRollup(ctx) })
}
