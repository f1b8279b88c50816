package statements

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/xpromo/xpromo/domain/fx"
)

// ErrMissingRates: revenue in a currency other than its terms currency
// needs an ECB rate that is not loaded (none on or before its day, or the
// latest older than fx.MaxAgeDays). The error is a *MissingRatesError
// listing every currency and day missing; a statement is neither built
// nor closed until they are loaded, rather than pricing that revenue at
// zero.
var ErrMissingRates = errors.New("missing ECB rates")

// MissingRate is one currency's rate missing for one day (the
// conversions' UTC day).
type MissingRate struct {
	Currency string
	Day      time.Time
}

// MissingRatesError lists the missing rates, by day then currency.
type MissingRatesError struct {
	Missing []MissingRate
}

func (e *MissingRatesError) Error() string {
	parts := make([]string, len(e.Missing))
	for i, m := range e.Missing {
		parts[i] = m.Currency + " on " + m.Day.Format(time.DateOnly)
	}
	return fmt.Sprintf("%v: no ECB rate (on the day or up to %d days before) for %s; load the rates (xpromo fx load FILE) and try again",
		ErrMissingRates, fx.MaxAgeDays, strings.Join(parts, ", "))
}

func (e *MissingRatesError) Is(target error) bool { return target == ErrMissingRates }

// add records missing rates, keeping the list sorted and without repeats.
func (e *MissingRatesError) add(ms ...MissingRate) {
	for _, m := range ms {
		dup := false
		for _, h := range e.Missing {
			if h.Currency == m.Currency && h.Day.Equal(m.Day) {
				dup = true
				break
			}
		}
		if !dup {
			e.Missing = append(e.Missing, m)
		}
	}
	sort.Slice(e.Missing, func(i, j int) bool {
		a, b := e.Missing[i], e.Missing[j]
		if !a.Day.Equal(b.Day) {
			return a.Day.Before(b.Day)
		}
		return a.Currency < b.Currency
	})
}

// missingOf returns the rates whose absence made converting from one
// currency to another on day fail with err; nil when err is another error.
func missingOf(table *fx.Table, err error, from, to string, day time.Time) []MissingRate {
	if !errors.Is(err, fx.ErrNoRate) && !errors.Is(err, fx.ErrStaleRate) {
		return nil
	}
	var out []MissingRate
	for _, c := range []string{from, to} {
		if _, _, err := table.PerEUR(c, day); errors.Is(err, fx.ErrNoRate) || errors.Is(err, fx.ErrStaleRate) {
			out = append(out, MissingRate{c, day})
		}
	}
	return out
}

// takeMissing moves the rates err names into acc (created when needed)
// and returns a nil error for them; any other error is returned as it is.
func takeMissing(acc *MissingRatesError, err error) (*MissingRatesError, error) {
	var m *MissingRatesError
	if !errors.As(err, &m) {
		return acc, err
	}
	if acc == nil {
		acc = &MissingRatesError{}
	}
	acc.add(m.Missing...)
	return acc, nil
}
