package statements

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/shopspring/decimal"
	"golang.org/x/text/currency"
)

// MinorUnit is the number of decimals of code's minor unit by ISO 4217 as
// golang.org/x/text/currency's Standard rounding knows it (EUR 2, JPY 0,
// KWD 3).
func MinorUnit(code string) (int32, error) {
	u, err := currency.ParseISO(code)
	if err != nil {
		return 0, fmt.Errorf("currency %q: %w", code, err)
	}
	scale, _ := currency.Standard.Rounding(u)
	return int32(scale), nil
}

// Round rounds d half-even (banker's rounding) to code's minor unit:
// 2.345 EUR is 2.34, 2.355 EUR is 2.36, 0.5 JPY is 0, 1.5 JPY is 2.
func Round(d decimal.Decimal, code string) (decimal.Decimal, error) {
	s, err := MinorUnit(code)
	if err != nil {
		return d, err
	}
	return d.RoundBank(s), nil
}

// fixed formats d with exactly code's minor-unit decimals ('.' point, no
// thousands separator); d is rounded already. An unknown code keeps d's
// own digits.
func fixed(d decimal.Decimal, code string) string {
	s, err := MinorUnit(code)
	if err != nil {
		return d.String()
	}
	return d.StringFixedBank(s)
}

// lineJSON is a line as stored and exported: decimals as strings with the
// currency's minor-unit decimals. Its field order is the canonical order.
type lineJSON struct {
	Kind          string `json:"kind"`
	AdjustsPeriod string `json:"adjusts_period"`
	Partnership   string `json:"partnership"`
	Partner       string `json:"partner"`
	Country       string `json:"country"`
	Direction     string `json:"direction"`
	Currency      string `json:"currency"`
	TermsVersion  uint32 `json:"terms_version"`
	NewUsers      int64  `json:"new_users"`
	Revenue       string `json:"revenue"`
	CPA           string `json:"cpa"`
	RevShare      string `json:"revshare"`
	WeOwe         string `json:"we_owe"`
	TheyOwe       string `json:"they_owe"`
	Net           string `json:"net"`
	FXRates       string `json:"fx_rates"`
}

// MarshalJSON writes the line's canonical JSON.
func (l Line) MarshalJSON() ([]byte, error) {
	c := l.Currency
	return marshal(lineJSON{
		Kind: l.Kind, AdjustsPeriod: l.AdjustsPeriod, Partnership: l.Partnership, Partner: l.Partner,
		Country: l.Country, Direction: l.Direction, Currency: c, TermsVersion: l.TermsVersion,
		NewUsers: l.NewUsers, Revenue: fixed(l.Revenue, c), CPA: fixed(l.CPA, c), RevShare: fixed(l.RevShare, c),
		WeOwe: fixed(l.WeOwe, c), TheyOwe: fixed(l.TheyOwe, c), Net: fixed(l.Net, c), FXRates: l.FXRates,
	})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (l *Line) UnmarshalJSON(b []byte) error {
	var j lineJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	out := Line{Kind: j.Kind, AdjustsPeriod: j.AdjustsPeriod, Partnership: j.Partnership, Partner: j.Partner,
		Country: j.Country, Direction: j.Direction, Currency: j.Currency, TermsVersion: j.TermsVersion,
		NewUsers: j.NewUsers, FXRates: j.FXRates}
	for _, f := range []struct {
		dst *decimal.Decimal
		s   string
	}{{&out.Revenue, j.Revenue}, {&out.CPA, j.CPA}, {&out.RevShare, j.RevShare},
		{&out.WeOwe, j.WeOwe}, {&out.TheyOwe, j.TheyOwe}, {&out.Net, j.Net}} {
		d, err := decimal.NewFromString(f.s)
		if err != nil {
			return fmt.Errorf("line %s %s: %w", j.Partnership, j.Direction, err)
		}
		*f.dst = d
	}
	*l = out
	return nil
}

type totalJSON struct {
	Currency string `json:"currency"`
	NewUsers int64  `json:"new_users"`
	Revenue  string `json:"revenue"`
	CPA      string `json:"cpa"`
	RevShare string `json:"revshare"`
	WeOwe    string `json:"we_owe"`
	TheyOwe  string `json:"they_owe"`
	Net      string `json:"net"`
}

// MarshalJSON writes the total with decimals as strings.
func (t Total) MarshalJSON() ([]byte, error) {
	c := t.Currency
	return marshal(totalJSON{Currency: c, NewUsers: t.NewUsers, Revenue: fixed(t.Revenue, c), CPA: fixed(t.CPA, c),
		RevShare: fixed(t.RevShare, c), WeOwe: fixed(t.WeOwe, c), TheyOwe: fixed(t.TheyOwe, c), Net: fixed(t.Net, c)})
}

// canonicalLines is the canonical JSON of lines (compact, the fields in
// lineJSON's order, lines in statement order) that Hash is taken of.
func canonicalLines(ls []Line) ([]byte, error) {
	if ls == nil {
		ls = []Line{}
	}
	return marshal(ls)
}

// marshal is json.Marshal without HTML escaping ("USD>EUR" stays as it
// is).
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
