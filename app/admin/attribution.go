package admin

// What the reports read besides the events: the attribution of
// conversions and the exchange rates revenue is converted with.

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/xpromo/xpromo/domain/attribution"
	"github.com/xpromo/xpromo/domain/fx"
)

// Attribute recomputes the attribution of the conversions of the UTC
// days from to (included), stating revenue in currency as well, and
// prints the summary (as JSON with asJSON).
func (e *Env) Attribute(ctx context.Context, from, to time.Time, currency string, asJSON bool, log *slog.Logger) error {
	return e.withConn(ctx, func(conn driver.Conn) error {
		sum, err := e.attributionJob(conn, currency, log).Run(ctx, from, to.AddDate(0, 0, 1))
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(e.Out, sum)
		}
		fmt.Fprintf(e.Out, "attributed %d conversions from %s to %s (%d earlier ones read as history, %d candidate clicks)\n",
			sum.Conversions, from.Format(time.DateOnly), to.Format(time.DateOnly), sum.Context, sum.Clicks)
		for _, o := range []string{attribution.OutcomeNewUser, attribution.OutcomeReturningUser, attribution.OutcomeCredited,
			attribution.OutcomeDuplicate, attribution.OutcomeUnattributed, attribution.OutcomeOutsideWindow, attribution.OutcomeNotCredited} {
			if n := sum.Outcomes[o]; n > 0 {
				fmt.Fprintf(e.Out, "  %-15s %d\n", o, n)
			}
		}
		if sum.Unconverted > 0 {
			fmt.Fprintf(e.Out, "warning: %d conversions have revenue without an FX rate to %s; load rates with `xpromo fx load` and run again\n", sum.Unconverted, currency)
		}
		return nil
	})
}

// LoadRates loads ECB reference rates from file.
func (e *Env) LoadRates(ctx context.Context, file string) error {
	return e.withConn(ctx, func(driver.Conn) error {
		n, dates, err := fx.LoadFile(ctx, fx.NewStore(e.pg).WithClock(e.Clock), file)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Out, "loaded %d rates from %s to %s\n", n, dates[0].Format(time.DateOnly), dates[1].Format(time.DateOnly))
		return nil
	})
}
