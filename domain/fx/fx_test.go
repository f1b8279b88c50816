package fx

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func histTable(t *testing.T) *Table {
	t.Helper()
	tab, err := NewTable(parseFile(t, "eurofxref-hist.csv"))
	if err != nil {
		t.Fatalf("NewTable: %v", err)
	}
	return tab
}

func at(s string) time.Time {
	ts, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return ts
}

type convertCase struct {
	name     string
	amount   string
	from, to string
	at       time.Time
	amt      string // want
	rate     string
	rateDate string
	err      error // want errors.Is; the other fields are then ignored
	errText  []string
}

func runConvert(t *testing.T, tab *Table, tests []convertCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tab.Convert(dec(tt.amount), tt.from, tt.to, tt.at)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("Convert = %+v, %v; want %v", got, err, tt.err)
				}
				for _, s := range tt.errText {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not say %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Convert: %v", err)
			}
			if !got.Amount.Equal(dec(tt.amt)) {
				t.Errorf("amount %v, want %s", got.Amount, tt.amt)
			}
			if !got.Rate.Equal(dec(tt.rate)) {
				t.Errorf("rate %v, want %s", got.Rate, tt.rate)
			}
			if !got.RateDate.Equal(day(tt.rateDate)) || got.RateDate.Location() != time.UTC {
				t.Errorf("rate date %v, want %s UTC", got.RateDate, tt.rateDate)
			}
		})
	}
}

func convertCases() []convertCase {
	return []convertCase{
		{name: "EUR to USD", amount: "100", from: "EUR", to: "USD", at: at("2026-11-25T12:00:00Z"),
			amt: "115.87", rate: "1.1587", rateDate: "2026-11-25"},
		{name: "USD to EUR", amount: "115.87", from: "USD", to: "EUR", at: at("2026-11-25T23:59:59Z"),
			amt: "100", rate: "0.863036161215", rateDate: "2026-11-25"},
		{name: "USD to GBP via EUR", amount: "100", from: "USD", to: "GBP", at: at("2026-11-25T08:00:00Z"),
			amt: "76.055061707086", rate: "0.760550617071", rateDate: "2026-11-25"},
		{name: "GBP to JPY, large result", amount: "1000", from: "GBP", to: "JPY", at: at("2026-11-25T08:00:00Z"),
			amt: "205651.063829787234", rate: "205.651063829787", rateDate: "2026-11-25"},
		{name: "cents stay unrounded", amount: "0.01", from: "EUR", to: "IDR", at: at("2026-11-25T08:00:00Z"),
			amt: "193.4567", rate: "19345.67", rateDate: "2026-11-25"},
		{name: "negative amount (a refund)", amount: "-100", from: "EUR", to: "USD", at: at("2026-11-25T12:00:00Z"),
			amt: "-115.87", rate: "1.1587", rateDate: "2026-11-25"},
		{name: "Saturday uses Friday", amount: "250", from: "USD", to: "EUR", at: at("2026-11-21T10:00:00Z"),
			amt: "216.806868441592", rate: "0.867227473766", rateDate: "2026-11-20"},
		{name: "Sunday uses Friday", amount: "100", from: "EUR", to: "USD", at: at("2026-11-22T23:59:59Z"),
			amt: "115.31", rate: "1.1531", rateDate: "2026-11-20"},
		{name: "the UTC date counts, not the local one", amount: "100", from: "EUR", to: "USD",
			at:  at("2026-11-23T00:30:00+02:00"), // Sunday 22:30 UTC
			amt: "115.31", rate: "1.1531", rateDate: "2026-11-20"},
		{name: "a date after the last rate", amount: "100", from: "EUR", to: "USD", at: at("2026-11-30T00:00:00Z"),
			amt: "115.87", rate: "1.1587", rateDate: "2026-11-25"},
		{name: "same currency", amount: "12.345", from: "USD", to: "USD", at: at("2026-11-22T15:00:00Z"),
			amt: "12.345", rate: "1", rateDate: "2026-11-22"},
		{name: "same currency needs no rate", amount: "7", from: "SEK", to: "SEK", at: at("2030-01-01T00:00:00Z"),
			amt: "7", rate: "1", rateDate: "2030-01-01"},
		{name: "EUR to EUR", amount: "7", from: "EUR", to: "EUR", at: at("2026-11-22T15:00:00Z"),
			amt: "7", rate: "1", rateDate: "2026-11-22"},
		{name: "more than 7 days after the last rate", amount: "1", from: "EUR", to: "USD", at: at("2026-12-03T00:00:00Z"),
			err: ErrStaleRate, errText: []string{"USD", "2026-12-03", "2026-11-25", "7 days"}},
		{name: "before the first rate", amount: "1", from: "USD", to: "EUR", at: at("2026-11-11T12:00:00Z"),
			err: ErrNoRate, errText: []string{"USD", "2026-11-11"}},
		{name: "currency with no rates", amount: "1", from: "EUR", to: "SEK", at: at("2026-11-25T12:00:00Z"),
			err: ErrNoRate, errText: []string{"SEK", "2026-11-25"}},
		{name: "currency only N/A in the file", amount: "1", from: "BGN", to: "EUR", at: at("2026-11-25T12:00:00Z"),
			err: ErrNoRate, errText: []string{"BGN"}},
		{name: "unknown code", amount: "1", from: "XYZ", to: "EUR", at: at("2026-11-25T12:00:00Z"),
			err: ErrUnknownCurrency, errText: []string{"XYZ"}},
		{name: "unknown code, same on both sides", amount: "1", from: "ABC", to: "ABC", at: at("2026-11-25T12:00:00Z"),
			err: ErrUnknownCurrency, errText: []string{"ABC"}},
		{name: "lower case", amount: "1", from: "EUR", to: "usd", at: at("2026-11-25T12:00:00Z"),
			err: ErrUnknownCurrency, errText: []string{"usd"}},
		{name: "empty code", amount: "1", from: "", to: "USD", at: at("2026-11-25T12:00:00Z"),
			err: ErrUnknownCurrency},
	}
}

func TestConvert(t *testing.T) {
	runConvert(t, histTable(t), convertCases())
}

func TestConvertGap(t *testing.T) {
	tab, err := NewTable([]Rate{
		{day("2026-11-02"), "CHF", dec("0.93")},
		{day("2026-11-20"), "CHF", dec("0.94")},
		{day("2026-11-09"), "USD", dec("1.15")},
		{day("2026-11-10"), "GBP", dec("0.87")},
	})
	if err != nil {
		t.Fatal(err)
	}
	runConvert(t, tab, []convertCase{
		{name: "exactly 7 days older", amount: "10", from: "EUR", to: "CHF", at: at("2026-11-09T23:00:00Z"),
			amt: "9.3", rate: "0.93", rateDate: "2026-11-02"},
		{name: "8 days older", amount: "10", from: "EUR", to: "CHF", at: at("2026-11-10T00:00:00Z"),
			err: ErrStaleRate, errText: []string{"CHF", "2026-11-10", "2026-11-02", "more than 7 days"}},
		{name: "gap in the source currency of a cross", amount: "10", from: "CHF", to: "GBP", at: at("2026-11-12T00:00:00Z"),
			err: ErrStaleRate, errText: []string{"CHF", "2026-11-12"}},
		{name: "gap in the target currency", amount: "10", from: "EUR", to: "GBP", at: at("2026-11-18T00:00:00Z"),
			err: ErrStaleRate, errText: []string{"GBP", "2026-11-18", "2026-11-10"}},
		{name: "cross rate dated by the older side", amount: "11.5", from: "USD", to: "GBP", at: at("2026-11-10T18:00:00Z"),
			amt: "8.7", rate: "0.75652173913", rateDate: "2026-11-09"},
		{name: "after the gap", amount: "10", from: "CHF", to: "EUR", at: at("2026-11-20T00:00:00Z"),
			amt: "10.638297872340", rate: "1.063829787234", rateDate: "2026-11-20"},
	})
}

func TestConvertPrecision(t *testing.T) {
	tab, err := NewTable([]Rate{{day("2026-11-25"), "USD", dec("3")}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := tab.Convert(dec("1"), "USD", "EUR", day("2026-11-25"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Amount.String() != "0.333333333333" || got.Rate.String() != "0.333333333333" {
		t.Errorf("1/3 = %v (rate %v), want 12 decimal places", got.Amount, got.Rate)
	}
	got, _ = tab.Convert(dec("2"), "USD", "EUR", day("2026-11-25"))
	if got.Amount.String() != "0.666666666667" {
		t.Errorf("2/3 = %v, want rounded half up", got.Amount)
	}
	// Amount is amount*to/from with one division: not amount times the rounded rate.
	got, _ = tab.Convert(dec("3000000"), "USD", "EUR", day("2026-11-25"))
	if !got.Amount.Equal(dec("1000000")) {
		t.Errorf("3,000,000 USD = %v EUR, want exactly 1,000,000", got.Amount)
	}
}

func TestNewTableRejects(t *testing.T) {
	for name, rates := range map[string][]Rate{
		"duplicate":      {{day("2026-11-25"), "USD", dec("1.1")}, {day("2026-11-25"), "USD", dec("1.2")}},
		"EUR":            {{day("2026-11-25"), "EUR", dec("1")}},
		"unknown":        {{day("2026-11-25"), "XYZ", dec("1")}},
		"zero":           {{day("2026-11-25"), "USD", decimal.Zero}},
		"not midnight":   {{at("2026-11-25T10:00:00Z"), "USD", dec("1.1")}},
		"not UTC":        {{time.Date(2026, 11, 25, 0, 0, 0, 0, time.FixedZone("CET", 3600)), "USD", dec("1.1")}},
		"too precise":    {{day("2026-11-25"), "USD", dec("1.000000001")}},
		"before 1970":    {{day("1969-12-31"), "USD", dec("1.1")}},
		"too large rate": {{day("2026-11-25"), "USD", dec("10000000000")}},
	} {
		if _, err := NewTable(rates); err == nil {
			t.Errorf("%s: NewTable accepted %v", name, rates)
		}
	}
}
