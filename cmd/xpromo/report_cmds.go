package main

// The read side: xpromo report, country (the report days' time zones),
// rollup, statements, and what they read: attribute and fx.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/xpromo/xpromo/app/admin"
	"github.com/xpromo/xpromo/domain/attribution"
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

func statementsCmd() *cobra.Command {
	return group("statements SUBCOMMAND [flags]",
		sub{"compute a month's statement (a draft, or the closed one): --period YYYY-MM", statementsSubCmd("build")},
		sub{"close a month: the statement becomes immutable, later events go to the next open month: --period YYYY-MM", statementsSubCmd("close")},
		sub{"write a month's statement as csv, xlsx or json: --period YYYY-MM --format F [--out DIR|-]", statementsSubCmd("export")})
}

// statementsSubCmd is statements build, close or export.
func statementsSubCmd(sub string) *cobra.Command {
	var c common
	var period, format, out string
	f := newFlags("statements "+sub, "statements "+sub+" --period YYYY-MM [flags]", `
Revenue-split statements per partnership, direction, currency and terms
version: new users, attributed revenue, the CPA and rev-share amounts, what
we owe the partner (inbound) and what the partner owes us (outbound), and
the net. Amounts are rounded half-even to the currency's minor unit per line;
totals are sums of rounded lines (docs/STATEMENTS.md).`)
	c.register(f, false)
	f.StringVar(&period, "period", "", "the month, YYYY-MM (required)")
	switch sub {
	case "build":
		f.StringVar(&format, "format", "table", "table, csv or json")
	case "export":
		f.StringVar(&format, "format", "csv", "csv, xlsx or json")
		f.StringVar(&out, "out", ".", "directory to write the file into (its name carries the period and the hash), or - for standard output")
	}
	return c.run(f, func(ctx context.Context, e *admin.Env) error {
		if period == "" {
			return fmt.Errorf("%w: --period is required (YYYY-MM)", errUsage)
		}
		switch {
		case sub == "build" && !slices.Contains([]string{"table", "", "csv", "json"}, format):
			return fmt.Errorf("%w: --format %q: want table, csv or json", errUsage, format)
		case sub == "export" && !slices.Contains([]string{"csv", "xlsx", "json"}, format):
			return fmt.Errorf("%w: --format %q: want csv, xlsx or json", errUsage, format)
		}
		return e.Statement(ctx, sub, period, format, out)
	})
}

func attributeCmd() *cobra.Command {
	var c common
	var from, to, currency string
	var asJSON bool
	now := clock().UTC()
	monthStart := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	f := newFlags("attribute", "attribute [--from DATE] [--to DATE] [--reporting-currency EUR]", `
Recomputes the attribution of the conversions that happened from --from to
--to (both whole UTC days, inclusive) from the stored clicks, conversions and
partnership terms, and writes one row per conversion to the attributions
table; the newest computation wins. Safe to run again at any time: late
clicks, late conversions and corrected terms change the result.
`+"`xpromo serve`"+` runs it every --attribute-every for the current and the
previous month.`)
	c.register(f, false)
	f.StringVar(&from, "from", monthStart.AddDate(0, -1, 0).Format(time.DateOnly), "first day, YYYY-MM-DD (default: the first of last month)")
	f.StringVar(&to, "to", now.Format(time.DateOnly), "last day, YYYY-MM-DD (default: today)")
	f.String(&currency, "reporting-currency", attribution.DefaultReportingCurrency, "currency revenue is also stated in (ISO 4217)")
	f.BoolVar(&asJSON, "json", false, "print the summary as JSON")
	return c.run(f, func(ctx context.Context, e *admin.Env) error {
		start, end, err := admin.ParseDays(from, to)
		if err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		if end.Before(start) {
			return fmt.Errorf("%w: --to %s is before --from %s", errUsage, to, from)
		}
		currency = strings.ToUpper(currency)
		if len(currency) != 3 {
			return fmt.Errorf("%w: --reporting-currency %q: want an ISO 4217 code", errUsage, currency)
		}
		log, err := c.Logger(e.Err)
		if err != nil {
			return err
		}
		return e.Attribute(ctx, start, end, currency, asJSON, log)
	})
}

func fxCmd() *cobra.Command {
	return group("fx SUBCOMMAND [flags]",
		sub{"load ECB euro reference rates from a CSV file or the ECB's zip of one", fxLoadCmd()})
}

func fxLoadCmd() *cobra.Command {
	var c common
	f := newFlags("fx load", "fx load [flags] FILE.csv", `
Loads the European Central Bank's euro reference rates from FILE.csv: the
historical file (eurofxref-hist.csv) or the daily one (eurofxref.csv), as
downloaded from the ECB, or the ECB's zip of either (eurofxref-hist.zip,
eurofxref.zip), read as it is. Any other kind of file is refused with what
it is. Rates are kept by date; loading a file again
replaces the rates it holds. Conversions use the latest rate on or before
their day (at most 7 days old).`)
	c.register(f, false)
	f.cmd.Args = cobra.ArbitraryArgs
	return c.run(f, func(ctx context.Context, e *admin.Env) error {
		if f.NArg() != 1 || f.Arg(0) == "" {
			return fmt.Errorf("%w: want exactly one FILE.csv, got %d arguments", errUsage, f.NArg())
		}
		return e.LoadRates(ctx, f.Arg(0))
	})
}
