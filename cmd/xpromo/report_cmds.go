package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/xpromo/xpromo/reports"
)

func reportCmd() *cobra.Command {
	var subs []sub
	for _, n := range reports.Names() {
		subs = append(subs, sub{reports.Registry[n].Summary, namedReportCmd(n)})
	}
	return group("report REPORT [flags]", subs...)
}

// reportFlags are the flags every named report takes; the API takes the
// same as query parameters (GET /v1/reports/NAME).
type reportFlags struct {
	from, to, granularity, countries, partner, partnership, compare, by, format string
	bots                                                                        bool
}

func (rf *reportFlags) register(f *flags) {
	now := clock().UTC()
	monthStart := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	f.StringVar(&rf.from, "from", monthStart.Format(time.DateOnly), "first day, YYYY-MM-DD (default: the first of this month)")
	f.StringVar(&rf.to, "to", now.Format(time.DateOnly), "last day, YYYY-MM-DD, included (default: today)")
	f.StringVar(&rf.granularity, "granularity", "", "day, week or month (default: the whole period as one row, its period FROM..TO)")
	f.StringVar(&rf.countries, "country", "", "only these countries, comma-separated ISO alpha-2")
	f.StringVar(&rf.partner, "partner", "", "only this partner")
	f.StringVar(&rf.partnership, "partnership", "", "only this partnership (required for breakdown)")
	f.StringVar(&rf.compare, "compare", "", "previous or year: add the earlier period's figures and the change")
	f.StringVar(&rf.by, "by", "", "breakdown dimension: "+strings.Join(reports.BreakdownDimensions, ", ")+" (sub: the partner's sub= label on the tracking link)")
	f.BoolVar(&rf.bots, "include-bots", false, "count bots' clicks and views too")
	f.StringVar(&rf.format, "format", "table", "table, csv, json or xlsx (binary: redirect it to a file)")
}

// params turns the flags into reports.Params.
func (rf *reportFlags) params() (reports.Params, error) {
	var p reports.Params
	var err error
	if p.From, err = time.Parse(time.DateOnly, rf.from); err != nil {
		return p, fmt.Errorf("%w: --from %q: want YYYY-MM-DD", errUsage, rf.from)
	}
	if p.To, err = time.Parse(time.DateOnly, rf.to); err != nil {
		return p, fmt.Errorf("%w: --to %q: want YYYY-MM-DD", errUsage, rf.to)
	}
	p.Granularity, p.Compare, p.IncludeBots = rf.granularity, rf.compare, rf.bots
	if rf.countries != "" {
		for _, cc := range strings.Split(rf.countries, ",") {
			p.Countries = append(p.Countries, strings.ToUpper(strings.TrimSpace(cc)))
		}
	}
	p.Partner = strings.TrimSpace(rf.partner)
	if rf.partnership != "" {
		p.Partnerships = []string{strings.TrimSpace(rf.partnership)}
	}
	switch rf.format {
	case reports.FormatTable, reports.FormatCSV, reports.FormatJSON, reports.FormatXLSX:
	default:
		return p, fmt.Errorf("%w: --format %q: want table, csv, json or xlsx", errUsage, rf.format)
	}
	if err := p.Validate(); err != nil {
		return p, fmt.Errorf("%w: %v", errUsage, err)
	}
	return p, nil
}

func namedReportCmd(name string) *cobra.Command {
	var c common
	var rf reportFlags
	f := newFlags("report "+name, "report "+name+" [--from DATE] [--to DATE] [--granularity day|week|month] [--country CC,...] [--partner ID] [--partnership ID] [--include-bots] [--compare previous|year] [--format table|csv|json|xlsx]",
		reports.Registry[name].Summary+`.
Days are calendar days in each country's own time zone (`+"`xpromo country set-timezone`"+`,
default UTC). The CLI reads everything (as admin); GET /v1/reports/`+name+` gives the
same figures limited to the reader's token.`)
	c.register(f, false)
	rf.register(f)
	return f.run(func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		p, err := rf.params()
		if err != nil {
			return err
		}
		return c.env(stdout, stderr).Report(ctx, name, p, rf.by, rf.format)
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
	return f.run(func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		if sub == "list" {
			return c.env(stdout, stderr).ListZones(ctx)
		}
		if cc == "" || tz == "" {
			return fmt.Errorf("%w: --country and --timezone are required", errUsage)
		}
		return c.env(stdout, stderr).SetZone(ctx, cc, tz)
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
	return f.run(func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		return c.env(stdout, stderr).RebuildRollup(ctx)
	})
}
