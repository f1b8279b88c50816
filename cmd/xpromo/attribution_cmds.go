package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/xpromo/xpromo/app/admin"
	"github.com/xpromo/xpromo/domain/attribution"
)

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
