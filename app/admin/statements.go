package admin

// Monthly revenue-split statements (docs/STATEMENTS.md).

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/fx"
	"github.com/xpromo/xpromo/reports"
	"github.com/xpromo/xpromo/reports/statements"
)

// Statement is statements build, close or export: the statement of
// period (YYYY-MM), built (sub "build", printed in format), closed
// ("close") or written in format into the directory out ("export"; "-"
// for Out).
func (e *Env) Statement(ctx context.Context, sub, period, format, out string) error {
	return e.withConn(ctx, func(conn driver.Conn) error {
		snap, err := e.snapshot(ctx)
		if err != nil {
			return err
		}
		zones, err := reports.LoadZones(ctx, e.pg)
		if err != nil {
			return err
		}
		src := statements.Source{Conn: conn, PG: e.pg, Catalog: snap, Zones: zones, Rates: fx.NewStore(e.pg).WithClock(e.Clock), Now: e.Clock}
		if sub == "close" {
			return e.closeStatement(ctx, src, period)
		}
		st, err := statements.Build(ctx, src, period)
		if err != nil {
			return err
		}
		if sub == "export" {
			return e.exportStatement(st, format, out)
		}
		if format == "table" || format == "" {
			return writeStatementTable(e.Out, st)
		}
		return statementWriter(st, format)(e.Out)
	})
}

// statementWriter writes st in format: csv, json or xlsx.
func statementWriter(st *statements.Statement, format string) func(io.Writer) error {
	return map[string]func(io.Writer) error{"csv": st.WriteCSV, "xlsx": st.WriteXLSX, "json": st.WriteJSON}[format]
}

func (e *Env) closeStatement(ctx context.Context, src statements.Source, period string) error {
	// A period closed already is told as "2026-10 is already closed:
	// statement st_..., closed at ... by ...".
	st, err := statements.Close(ctx, src, period, e.Actor)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Out, "closed %s: statement %s, hash %s, %d lines\n", period, st.ID, st.Hash, len(st.Lines))
	return e.catalog().Audit(ctx, catalog.AuditEntry{Actor: e.Actor, Action: "close", Entity: "statement", EntityID: st.ID,
		After: fmt.Sprintf(`{"period":%q,"hash":%q}`, st.Period, st.Hash)})
}

// exportStatement writes st in format into the directory out, or to Out
// for "-", and prints the file's path.
func (e *Env) exportStatement(st *statements.Statement, format, out string) error {
	write := statementWriter(st, format)
	if out == "-" {
		return write(e.Out)
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
	fmt.Fprintln(e.Out, path)
	return nil
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
