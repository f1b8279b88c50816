package web

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"golang.org/x/text/currency"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/number"
)

// locale formats numbers, money and percentages for one reader, from the
// Accept-Language header. Dates stay ISO (YYYY-MM-DD) for every reader.
type locale struct {
	tag     language.Tag
	p       *message.Printer
	decimal string // the decimal separator
}

func newLocale(acceptLanguage string) *locale {
	tag := language.English
	if tags, _, err := language.ParseAcceptLanguage(acceptLanguage); err == nil && len(tags) > 0 {
		if b, conf := tags[0].Base(); conf != language.No && b.String() != "und" {
			tag = tags[0]
		}
	}
	p := message.NewPrinter(tag)
	sep := "."
	if s := p.Sprintf("%.1f", 1.5); len(s) >= 3 {
		sep = s[1 : len(s)-1]
	}
	return &locale{tag: tag, p: p, decimal: sep}
}

// Lang is the page's lang attribute.
func (l *locale) Lang() string { return l.tag.String() }

// Int groups the digits of a count: 1,234,567 or 1.234.567.
func (l *locale) Int(v int64) string { return l.p.Sprintf("%d", v) }

// Decimal writes d exactly (no float on the way) with digits decimals,
// rounded half-even, in the reader's notation.
func (l *locale) Decimal(d decimal.Decimal, digits int32) string {
	s := d.StringFixedBank(digits)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, _ := strings.Cut(s, ".")
	out := intPart
	if n, err := strconv.ParseInt(intPart, 10, 64); err == nil {
		out = l.p.Sprintf("%d", n)
	}
	if frac != "" {
		out += l.decimal + frac
	}
	if neg && strings.ContainsAny(out, "123456789") {
		out = "-" + out
	}
	return out
}

// Money writes an amount in its currency: symbol (as the locale spells
// it) and the currency's minor-unit decimals. An unknown code is written
// after the amount as it is.
func (l *locale) Money(d decimal.Decimal, code string) string {
	u, err := currency.ParseISO(code)
	if err != nil {
		return strings.TrimSpace(l.Decimal(d, 2) + " " + code)
	}
	scale, _ := currency.Standard.Rounding(u)
	return l.p.Sprint(currency.Symbol(u)) + "\u00a0" + l.Decimal(d, int32(scale))
}

// Percent writes a share (0.123 -> 12.3%).
func (l *locale) Percent(v float64) string {
	return l.p.Sprint(number.Percent(v, number.MaxFractionDigits(1)))
}

// Change writes a relative change with its sign (+12.3%).
func (l *locale) Change(v float64) string {
	s := l.Percent(v)
	if v > 0 {
		s = "+" + s
	}
	return s
}

// Float writes a plain ratio with two decimals.
func (l *locale) Float(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	return l.Decimal(decimal.NewFromFloat(v), 2)
}

// rawValue is the value as the API's JSON has it, as a string: decimals
// as decimal strings, dates as YYYY-MM-DD, counts as integers, ratios as
// encoding/json writes a float64, null as "".
func rawValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case decimal.Decimal:
		return x.String()
	case time.Time:
		return x.Format(time.DateOnly)
	case uint64:
		return strconv.FormatUint(x, 10)
	case int64:
		return strconv.FormatInt(x, 10)
	case uint32:
		return strconv.FormatUint(uint64(x), 10)
	case int:
		return strconv.Itoa(x)
	case bool:
		return strconv.FormatBool(x)
	case float64:
		b, err := json.Marshal(x)
		if err != nil {
			return ""
		}
		return string(b)
	}
	b, _ := json.Marshal(v)
	return strings.Trim(string(b), `"`)
}
