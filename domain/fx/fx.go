// Package fx reads the European Central Bank's euro reference rates,
// stores them in PostgreSQL (table fx_rates) and converts amounts between
// currencies with them.
//
// Every ECB rate is a number of currency units per one euro, so EUR is the
// base and any other pair is crossed through it:
//
//	amount_to = amount_from / perEUR[from] * perEUR[to]
//
// Precision: conversion keeps full precision. The multiplication is exact
// and the one division is rounded half away from zero to DivScale (12)
// decimal places with decimal.DivRound, about 10^-12 of a unit, far below
// any minor unit. Nothing here rounds to cents: rounding to a currency's
// minor unit happens once, on statement lines, after amounts are summed.
package fx

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/shopspring/decimal"
)

// DivScale is the number of decimal places a division keeps.
const DivScale = 12

// MaxAgeDays is how much older than the conversion date the rate used may
// be. The ECB publishes on TARGET business days only, so a weekend or a
// holiday uses the last business day before it; a longer gap means the
// rates were not loaded, and Convert refuses rather than use a stale rate.
const MaxAgeDays = 7

// Errors from Convert and PerEUR, for errors.Is.
var (
	ErrUnknownCurrency = errors.New("unknown currency")
	ErrNoRate          = errors.New("no rate")
	ErrStaleRate       = errors.New("rate too old")
	ErrOutOfRange      = errors.New("date outside the loaded range")
)

// Converted is the result of a conversion.
type Converted struct {
	Amount   decimal.Decimal // in the target currency, not rounded to minor units
	Rate     decimal.Decimal // target units per source unit (perEUR[to] / perEUR[from])
	RateDate time.Time       // the ECB date of the rates used (the older one for a cross rate); UTC midnight
}

type point struct {
	date   time.Time
	perEUR decimal.Decimal
}

// Table holds rates in memory for conversions. It is safe for concurrent
// use once built.
type Table struct {
	from, to time.Time // dates Convert accepts; zero when unbounded
	rates    map[string][]point
}

// NewTable builds a table from rates (in any order), accepting any
// conversion date. Store.Rates builds one limited to the dates it loaded.
func NewTable(rates []Rate) (*Table, error) {
	t := &Table{rates: map[string][]point{}}
	for _, r := range rates {
		if err := checkStorable(r); err != nil {
			return nil, err
		}
		t.rates[r.Currency] = append(t.rates[r.Currency], point{r.Date, r.PerEUR})
	}
	for c, ps := range t.rates {
		sort.Slice(ps, func(i, j int) bool { return ps[i].date.Before(ps[j].date) })
		for i := 1; i < len(ps); i++ {
			if ps[i].date.Equal(ps[i-1].date) {
				return nil, fmt.Errorf("fx: two %s rates for %s", c, ps[i].date.Format(time.DateOnly))
			}
		}
	}
	return t, nil
}

// Len is the number of rates held.
func (t *Table) Len() int {
	n := 0
	for _, ps := range t.rates {
		n += len(ps)
	}
	return n
}

// DateOf is t's calendar date in UTC, as UTC midnight.
func DateOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// PerEUR returns currency's rate for at's UTC date: the one of the latest
// ECB date on or before it, no more than MaxAgeDays older. EUR is 1 on
// at's date.
func (t *Table) PerEUR(cur string, at time.Time) (decimal.Decimal, time.Time, error) {
	d := DateOf(at)
	if err := checkCode(cur); err != nil {
		return decimal.Decimal{}, time.Time{}, fmt.Errorf("fx: %w: %v", ErrUnknownCurrency, err)
	}
	if err := t.covers(d); err != nil {
		return decimal.Decimal{}, time.Time{}, err
	}
	if cur == Base {
		return decimal.NewFromInt(1), d, nil
	}
	ps := t.rates[cur]
	i := sort.Search(len(ps), func(i int) bool { return ps[i].date.After(d) }) - 1
	if i < 0 {
		return decimal.Decimal{}, time.Time{}, fmt.Errorf("fx: %w for %s on or before %s", ErrNoRate, cur, d.Format(time.DateOnly))
	}
	p := ps[i]
	if d.Sub(p.date) > MaxAgeDays*24*time.Hour {
		return decimal.Decimal{}, time.Time{}, fmt.Errorf("fx: %w: the latest %s rate on or before %s is from %s, more than %d days older",
			ErrStaleRate, cur, d.Format(time.DateOnly), p.date.Format(time.DateOnly), MaxAgeDays)
	}
	return p.perEUR, p.date, nil
}

func (t *Table) covers(d time.Time) error {
	if t.from.IsZero() {
		return nil
	}
	if d.Before(t.from) || d.After(t.to) {
		return fmt.Errorf("fx: %w: %s is not within %s..%s", ErrOutOfRange,
			d.Format(time.DateOnly), t.from.Format(time.DateOnly), t.to.Format(time.DateOnly))
	}
	return nil
}

// Convert converts amount from one currency to another with the rates of
// at's UTC date (see PerEUR): amount * perEUR[to] / perEUR[from], the
// division rounded to DivScale places. The same currency on both sides
// gives the amount unchanged, rate 1 and at's date, without needing a rate.
func (t *Table) Convert(amount decimal.Decimal, from, to string, at time.Time) (Converted, error) {
	d := DateOf(at)
	for _, c := range []string{from, to} {
		if err := checkCode(c); err != nil {
			return Converted{}, fmt.Errorf("fx: %w: %v", ErrUnknownCurrency, err)
		}
	}
	if err := t.covers(d); err != nil {
		return Converted{}, err
	}
	if from == to {
		return Converted{Amount: amount, Rate: decimal.NewFromInt(1), RateDate: d}, nil
	}
	pf, df, err := t.PerEUR(from, d)
	if err != nil {
		return Converted{}, err
	}
	pt, dt, err := t.PerEUR(to, d)
	if err != nil {
		return Converted{}, err
	}
	rd := df
	if dt.Before(rd) {
		rd = dt
	}
	return Converted{
		Amount:   amount.Mul(pt).DivRound(pf, DivScale),
		Rate:     pt.DivRound(pf, DivScale),
		RateDate: rd,
	}, nil
}
