package attribution

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/fx"
	"github.com/xpromo/xpromo/lib/chdb"
	"github.com/xpromo/xpromo/schema"
)

// Job recomputes the attribution of the conversions of a period from the
// stored clicks, conversions and terms, and writes one row per conversion
// to the attributions table (the newest computation wins). It is run for
// every open period, so late clicks and corrected terms change the result
// until the period is closed.
type Job struct {
	conn driver.Conn
	cat  *catalog.Store
	fx   *fx.Store
	log  *slog.Logger
	now  func() time.Time
	// ReportingCurrency is what revenue is also stated in (ISO 4217).
	ReportingCurrency string
}

// DefaultReportingCurrency is the reporting currency when none is set.
const DefaultReportingCurrency = "EUR"

// NewJob returns a Job.
func NewJob(conn driver.Conn, cat *catalog.Store, rates *fx.Store, log *slog.Logger) *Job {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Job{conn: conn, cat: cat, fx: rates, log: log, now: time.Now, ReportingCurrency: DefaultReportingCurrency}
}

// The scales of attributions.revenue_rep (Decimal(18, 6)) and fx_rate
// (Decimal(18, 10)), schema/0025: Decimal64, since a GROUP BY over a
// Decimal128 crashes ClickHouse 18.16.
const (
	revRepScale = 6
	fxRateScale = 10
)

var (
	revRepLimit = decimal.New(1, 18-revRepScale) // 10^12: integer digits of Decimal(18, 6)
	fxRateLimit = decimal.New(1, 18-fxRateScale) // 10^8
)

// storedFX rounds a conversion to what attributions stores, half-even
// (the driver would truncate), and reports whether it fits: a rate of
// zero marks a conversion without a reporting amount, so an amount too
// large for the column is left unconverted rather than failing the batch.
func storedFX(c fx.Converted) (amount, rate decimal.Decimal, ok bool) {
	amount, rate = c.Amount.RoundBank(revRepScale), c.Rate.RoundBank(fxRateScale)
	if amount.Abs().GreaterThanOrEqual(revRepLimit) || rate.GreaterThanOrEqual(fxRateLimit) || rate.Sign() <= 0 {
		return decimal.Zero, decimal.Zero, false
	}
	return amount, rate, true
}

// Summary says what a run did.
type Summary struct {
	Conversions int            `json:"conversions"` // attributed (in the period)
	Context     int            `json:"context"`     // earlier conversions read for users' and orders' history
	Clicks      int            `json:"clicks"`      // candidate clicks read
	Outcomes    map[string]int `json:"outcomes"`
	Unconverted int            `json:"unconverted"` // revenue without an FX rate (reporting amount left 0)
}

// The queries bind every value. Candidate clicks are only those a
// conversion of the run can reach: by click id, visitor or fingerprint.
const (
	selectConversions = `SELECT id, ts, toString(type), source, user_id, order_id, click_id, visitor, fingerprint,
 existing, duplicate, amount, currency, country
FROM conversions WHERE ts >= ? AND ts < ?`
	selectClicks = `SELECT id, ts, partnership, partner, country, toString(direction), visitor, fingerprint, is_bot
FROM hits
WHERE kind = 'click' AND ts >= ? AND ts < ?
  AND (id IN (SELECT click_id FROM conversions WHERE ts >= ? AND ts < ? AND click_id != '')
    OR visitor IN (SELECT visitor FROM conversions WHERE ts >= ? AND ts < ? AND visitor != '')
    OR fingerprint IN (SELECT fingerprint FROM conversions WHERE ts >= ? AND ts < ? AND fingerprint != ''))`
)

// lookback is how far before a period conversions and clicks are read:
// the longest attribution or revenue window of any terms version, at least
// the defaults.
func lookback(snap *catalog.Snapshot) time.Duration {
	days := max(catalog.DefaultAttributionWindowDays, catalog.DefaultRevenueWindowDays)
	for _, vs := range snap.Terms {
		for _, t := range vs {
			days = max(days, int(t.AttributionWindowDays), int(t.InboundRevenueWindowDays), int(t.OutboundRevenueWindowDays))
		}
	}
	return time.Duration(days) * day
}

// Lookback is how far before a period Run reads conversions; clicks are
// read up to twice as far back (hit retention must keep them).
func Lookback(snap *catalog.Snapshot) time.Duration { return lookback(snap) }

type storedConv struct {
	Conversion
	country string
}

// Run attributes the conversions that happened in [from, to).
func (j *Job) Run(ctx context.Context, from, to time.Time) (Summary, error) {
	const op = "attribute"
	from, to = from.UTC().Truncate(time.Second), to.UTC().Truncate(time.Second)
	if !to.After(from) {
		return Summary{}, fmt.Errorf("%s: empty period %s..%s", op, from, to)
	}
	snap, err := j.cat.Load(ctx)
	if err != nil {
		return Summary{}, fmt.Errorf("%s: %w", op, err)
	}
	back := from.Add(-lookback(snap))
	convs, err := j.conversions(ctx, back, to)
	if err != nil {
		return Summary{}, fmt.Errorf("%s: %w", op, err)
	}
	// Clicks can precede the earliest conversion by an attribution window.
	clicks, err := j.clicks(ctx, back.Add(-lookback(snap)), to, back)
	if err != nil {
		return Summary{}, fmt.Errorf("%s: %w", op, err)
	}
	terms := func(ps string, at time.Time) (catalog.Terms, bool) {
		return catalog.TermsInForce(snap.Terms[ps], at)
	}
	in := make([]Conversion, len(convs))
	for i := range convs {
		in[i] = convs[i].Conversion
	}
	results := Attribute(clicks, in, terms)

	var rates *fx.Table
	if j.fx != nil {
		if rates, err = j.fx.Rates(ctx, from, to); err != nil {
			return Summary{}, fmt.Errorf("%s: fx rates: %w", op, err)
		}
	}
	byID := make(map[string]*Click, len(clicks))
	for i := range clicks {
		byID[clicks[i].ID] = &clicks[i]
	}
	sum := Summary{Clicks: len(clicks), Outcomes: map[string]int{}}
	now := j.now().UTC()
	batch, err := j.conn.PrepareBatch(ctx, schema.Attributions.Insert())
	if err != nil {
		return Summary{}, fmt.Errorf("%s: %w", op, err)
	}
	defer batch.Close()
	for i, r := range results {
		cv := convs[i]
		if cv.Time.Before(from) {
			sum.Context++
			continue // history only: attributed in its own period
		}
		sum.Conversions++
		sum.Outcomes[r.Outcome]++
		// The country is the partnership's (whose manager the credit
		// belongs to); an unattributed conversion keeps its own.
		partner, country, direction := "", cv.country, "none"
		if c := byID[r.Click]; c != nil {
			partner, country, direction = c.Partner, c.Country, c.Direction
		}
		if ps, ok := snap.Partnerships[r.Partnership]; ok {
			country = ps.Country
		}
		revRep, rate, rateDate := decimal.Zero, decimal.Zero, time.Unix(0, 0).UTC()
		if !r.Revenue.IsZero() && r.Currency != "" {
			if rates == nil {
				sum.Unconverted++
			} else if cvt, err := rates.Convert(r.Revenue, r.Currency, j.ReportingCurrency, cv.Time); err != nil {
				sum.Unconverted++
				j.log.Warn("attribution: no FX rate; reporting amount left 0", "conversion", cv.ID, "currency", r.Currency, "err", err)
			} else if rep, rt, ok := storedFX(cvt); !ok {
				sum.Unconverted++
				j.log.Warn("attribution: the reporting amount or rate does not fit its column; reporting amount left 0",
					"conversion", cv.ID, "currency", r.Currency, "amount", cvt.Amount, "rate", cvt.Rate)
			} else {
				revRep, rate, rateDate = rep, rt, cvt.RateDate
			}
		}
		overlaps := r.Overlaps
		if overlaps == nil {
			overlaps = []string{}
		}
		if err := batch.Append(cv.ID, cv.Time, cv.Type, cv.Source, cv.UserID, cv.OrderID, r.Outcome,
			r.Partnership, partner, country, direction, r.Click, r.Model, r.Match, r.TermsVersion, overlaps,
			r.Revenue, r.Currency, revRep, j.ReportingCurrency, rate, rateDate, now.Truncate(time.Second), uint64(now.UnixNano())); err != nil {
			return Summary{}, fmt.Errorf("%s: %w", op, err)
		}
	}
	if sum.Conversions > 0 {
		if err := batch.Send(); err != nil {
			return Summary{}, fmt.Errorf("%s: write: %w", op, err)
		}
	}
	return sum, nil
}

func (j *Job) conversions(ctx context.Context, from, to time.Time) ([]storedConv, error) {
	out, err := chdb.Collect(ctx, j.conn, selectConversions, []any{from, to}, func(r driver.Rows) (storedConv, error) {
		var (
			c                storedConv
			existing, repeat uint8
		)
		err := r.Scan(&c.ID, &c.Time, &c.Type, &c.Source, &c.UserID, &c.OrderID, &c.ClickID, &c.Visitor, &c.Fingerprint,
			&existing, &repeat, &c.Amount, &c.Currency, &c.country)
		c.Time = c.Time.UTC()
		c.Existing, c.Repeat = existing != 0, repeat != 0
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("read conversions: %w", err)
	}
	return out, nil
}

func (j *Job) clicks(ctx context.Context, from, to, convFrom time.Time) ([]Click, error) {
	out, err := chdb.Collect(ctx, j.conn, selectClicks, []any{from, to, convFrom, to, convFrom, to, convFrom, to}, func(r driver.Rows) (Click, error) {
		var (
			c   Click
			bot uint8
		)
		err := r.Scan(&c.ID, &c.Time, &c.Partnership, &c.Partner, &c.Country, &c.Direction, &c.Visitor, &c.Fingerprint, &bot)
		c.Time = c.Time.UTC()
		c.Bot = bot != 0
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("read clicks: %w", err)
	}
	return out, nil
}

// WithClock makes j read the time of its business rules from now
// instead of the wall clock (tests move it); it returns j.
func (j *Job) WithClock(now func() time.Time) *Job {
	j.now = now
	return j
}

// Stored is a conversion's latest attribution as the attributions table
// holds it; decimals and the FX date as their text, as stored.
type Stored struct {
	Conversion   string
	Time         time.Time
	Type         string
	Source       string
	UserID       string
	OrderID      string
	Outcome      string
	Partnership  string
	Partner      string
	Country      string
	Direction    string
	Click        string
	Model        string
	Match        string
	TermsVersion uint32
	Overlaps     []string
	Revenue      string
	Currency     string
	RevenueRep   string
	RepCurrency  string
	FXRate       string
	FXDate       string
	ComputedAt   time.Time
}

// ErrNotStored is Get's answer for a conversion without an attribution:
// unknown, or not yet attributed (the job runs every minute).
var ErrNotStored = errors.New("conversion not attributed")

// FINAL: the newest computation of the conversion wins.
const selectStored = `SELECT conversion, ts, toString(type), source, user_id, order_id, toString(outcome),
 partnership, partner, country, toString(direction), click, model, match, terms_version, overlaps,
 toString(revenue), currency, toString(revenue_rep), rep_currency, toString(fx_rate), toString(fx_date), computed_at
FROM attributions FINAL WHERE conversion = ?`

// Get returns the latest stored attribution of conversion, or ErrNotStored.
func Get(ctx context.Context, conn driver.Conn, conversion string) (Stored, error) {
	var a Stored
	err := conn.QueryRow(ctx, selectStored, conversion).Scan(&a.Conversion, &a.Time, &a.Type, &a.Source, &a.UserID, &a.OrderID, &a.Outcome,
		&a.Partnership, &a.Partner, &a.Country, &a.Direction, &a.Click, &a.Model, &a.Match, &a.TermsVersion, &a.Overlaps,
		&a.Revenue, &a.Currency, &a.RevenueRep, &a.RepCurrency, &a.FXRate, &a.FXDate, &a.ComputedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return Stored{}, ErrNotStored
	}
	if err != nil {
		return Stored{}, fmt.Errorf("get attribution of %s: %w", conversion, err)
	}
	return a, nil
}
