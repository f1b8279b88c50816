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
	figuresJSON
	FXRates string `json:"fx_rates"`
}

// figuresJSON are the figures of a line or a total as lineJSON and
// totalJSON write them, in that order.
type figuresJSON struct {
	NewUsers int64  `json:"new_users"`
	Revenue  string `json:"revenue"`
	CPA      string `json:"cpa"`
	RevShare string `json:"revshare"`
	WeOwe    string `json:"we_owe"`
	TheyOwe  string `json:"they_owe"`
	Net      string `json:"net"`
}

func figuresToJSON(f Figures, cur string) figuresJSON {
	return figuresJSON{NewUsers: f.NewUsers, Revenue: fixed(f.Revenue, cur), CPA: fixed(f.CPA, cur), RevShare: fixed(f.RevShare, cur),
		WeOwe: fixed(f.WeOwe, cur), TheyOwe: fixed(f.TheyOwe, cur), Net: fixed(f.Net, cur)}
}

func (j figuresJSON) figures() (Figures, error) {
	f := Figures{NewUsers: j.NewUsers}
	for _, a := range []struct {
		dst *decimal.Decimal
		s   string
	}{{&f.Revenue, j.Revenue}, {&f.CPA, j.CPA}, {&f.RevShare, j.RevShare},
		{&f.WeOwe, j.WeOwe}, {&f.TheyOwe, j.TheyOwe}, {&f.Net, j.Net}} {
		d, err := decimal.NewFromString(a.s)
		if err != nil {
			return Figures{}, err
		}
		*a.dst = d
	}
	return f, nil
}

// MarshalJSON writes the line's canonical JSON.
func (l Line) MarshalJSON() ([]byte, error) {
	return marshal(lineJSON{
		Kind: l.Kind, AdjustsPeriod: l.AdjustsPeriod, Partnership: l.Partnership, Partner: l.Partner,
		Country: l.Country, Direction: l.Direction, Currency: l.Currency, TermsVersion: l.TermsVersion,
		figuresJSON: figuresToJSON(l.Figures, l.Currency), FXRates: l.FXRates,
	})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (l *Line) UnmarshalJSON(b []byte) error {
	var j lineJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	f, err := j.figures()
	if err != nil {
		return fmt.Errorf("line %s %s: %w", j.Partnership, j.Direction, err)
	}
	*l = Line{Kind: j.Kind, AdjustsPeriod: j.AdjustsPeriod, Partnership: j.Partnership, Partner: j.Partner,
		Country: j.Country, Direction: j.Direction, Currency: j.Currency, TermsVersion: j.TermsVersion,
		Figures: f, FXRates: j.FXRates}
	return nil
}

type totalJSON struct {
	Currency string `json:"currency"`
	figuresJSON
}

// MarshalJSON writes the total with decimals as strings.
func (t Total) MarshalJSON() ([]byte, error) {
	return marshal(totalJSON{Currency: t.Currency, figuresJSON: figuresToJSON(t.Figures, t.Currency)})
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
