package main

import (
	"context"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/xpromo/xpromo/app/admin"
)

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
