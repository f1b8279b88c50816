package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/shopspring/decimal"
	"github.com/spf13/cobra"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/fx"
	"github.com/xpromo/xpromo/lib/chdb"
	"github.com/xpromo/xpromo/reports"
	"github.com/xpromo/xpromo/reports/statements"
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
	return f.run(func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		if period == "" {
			return fmt.Errorf("%w: --period is required (YYYY-MM)", errUsage)
		}
		conn, err := chdb.Open(ctx, c.ClickHouseURL, false)
		if err != nil {
			return err
		}
		defer conn.Close()
		snap, err := catalog.NewStore(conn).WithClock(clock).Load(ctx)
		if err != nil {
			return err
		}
		zones, err := reports.LoadZones(ctx, conn)
		if err != nil {
			return err
		}
		src := statements.Source{Conn: conn, Catalog: snap, Zones: zones, Rates: fx.NewStore(conn).WithClock(clock), Now: clock}
		switch sub {
		case "close":
			st, err := statements.Close(ctx, src, period, cliActor())
			if errors.Is(err, statements.ErrClosed) {
				return fmt.Errorf("%s is already closed", period)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "closed %s: statement %s, hash %s, %d lines\n", period, st.ID, st.Hash, len(st.Lines))
			return catalog.NewStore(conn).WithClock(clock).Audit(ctx, catalog.AuditEntry{Actor: cliActor(), Action: "close", Entity: "statement", EntityID: st.ID,
				After: fmt.Sprintf(`{"period":%q,"hash":%q}`, st.Period, st.Hash)})
		}
		st, err := statements.Build(ctx, src, period)
		if err != nil {
			return err
		}
		if sub == "build" {
			switch format {
			case "csv":
				return st.WriteCSV(stdout)
			case "json":
				return st.WriteJSON(stdout)
			case "table", "":
				return writeStatementTable(stdout, st)
			}
			return fmt.Errorf("%w: --format %q: want table, csv or json", errUsage, format)
		}
		write := map[string]func(io.Writer) error{"csv": st.WriteCSV, "xlsx": st.WriteXLSX, "json": st.WriteJSON}[format]
		if write == nil {
			return fmt.Errorf("%w: --format %q: want csv, xlsx or json", errUsage, format)
		}
		if out == "-" {
			return write(stdout)
		}
		path := filepath.Join(out, st.FileName(format))
		fh, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := write(fh); err != nil {
			fh.Close()
			return err
		}
		if err := fh.Close(); err != nil {
			return err
		}
		fmt.Fprintln(stdout, path)
		return nil
	})
}

func writeStatementTable(w io.Writer, st *statements.Statement) error {
	fmt.Fprintf(w, "statement %s (%s)", st.Period, st.Status)
	if st.Status == "closed" {
		fmt.Fprintf(w, " %s, hash %s, closed %s by %s", st.ID, st.Hash, st.ClosedAt.Format("2006-01-02 15:04 MST"), st.ClosedBy)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "KIND\tPARTNERSHIP\tCOUNTRY\tDIRECTION\tCUR\tTERMS\tNEW USERS\tREVENUE\tCPA\tREV SHARE\tWE OWE\tTHEY OWE\tNET\t")
	// money shows an amount with its currency's minor-unit decimals.
	money := func(d decimal.Decimal, cur string) string {
		places, err := statements.MinorUnit(cur)
		if err != nil {
			return d.String()
		}
		return d.StringFixed(places)
	}
	for _, l := range st.Lines {
		kind := l.Kind
		if l.AdjustsPeriod != "" {
			kind += " " + l.AdjustsPeriod
		}
		c := l.Currency
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\tv%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", kind, l.Partnership, l.Country, l.Direction, c,
			l.TermsVersion, l.NewUsers, money(l.Revenue, c), money(l.CPA, c), money(l.RevShare, c), money(l.WeOwe, c), money(l.TheyOwe, c), money(l.Net, c))
	}
	for _, t := range st.Totals {
		c := t.Currency
		fmt.Fprintf(tw, "total\t\t\t\t%s\t\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", c, t.NewUsers, money(t.Revenue, c), money(t.CPA, c), money(t.RevShare, c),
			money(t.WeOwe, c), money(t.TheyOwe, c), money(t.Net, c))
	}
	return tw.Flush()
}
