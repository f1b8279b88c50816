package fx

import (
	"bytes"
	"errors"
	"io"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func day(s string) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return d
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func parseFile(t *testing.T, name string) []Rate {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rates, err := ParseECB(f)
	if err != nil {
		t.Fatalf("ParseECB(%s): %v", name, err)
	}
	return rates
}

func find(rates []Rate, cur, date string) (decimal.Decimal, bool) {
	for _, r := range rates {
		if r.Currency == cur && r.Date.Equal(day(date)) {
			return r.PerEUR, true
		}
	}
	return decimal.Decimal{}, false
}

func checkWellFormed(t *testing.T, rates []Rate) {
	t.Helper()
	for i, r := range rates {
		if r.Date.Location() != time.UTC || !r.Date.Equal(DateOf(r.Date)) {
			t.Errorf("rate %d: date %v is not UTC midnight", i, r.Date)
		}
		if err := checkCode(r.Currency); err != nil || r.Currency == Base {
			t.Errorf("rate %d: currency %q", i, r.Currency)
		}
		if err := checkRate(r.PerEUR); err != nil {
			t.Errorf("rate %d: %v", i, err)
		}
		if i > 0 {
			p := rates[i-1]
			if !(p.Date.Before(r.Date) || p.Date.Equal(r.Date) && p.Currency < r.Currency) {
				t.Errorf("rates %d and %d out of order or repeated: %v %v", i-1, i, p, r)
			}
		}
	}
}

// parseChecked parses testdata/name, checks its rates are well formed and
// wants n of them.
func parseChecked(t *testing.T, name string, n int) []Rate {
	t.Helper()
	rates := parseFile(t, name)
	checkWellFormed(t, rates)
	if len(rates) != n {
		t.Fatalf("%d rates, want %d", len(rates), n)
	}
	return rates
}

func TestParseECBHistorical(t *testing.T) {
	// 10 dates x 6 currencies with values; BGN, CYP and HRK are all N/A.
	rates := parseChecked(t, "eurofxref-hist.csv", 60)
	for _, r := range rates {
		if r.Currency == "BGN" || r.Currency == "CYP" || r.Currency == "HRK" {
			t.Errorf("N/A parsed as a rate: %+v", r)
		}
	}
	if got := rates[0].Date; !got.Equal(day("2026-11-12")) {
		t.Errorf("first date %v, want 2026-11-12 (sorted ascending)", got)
	}
	for _, c := range []struct{ cur, date, want string }{
		{"USD", "2026-11-25", "1.1587"},
		{"JPY", "2026-11-20", "179.88"},
		{"GBP", "2026-11-24", "0.8804"},
		{"IDR", "2026-11-23", "19281.5"},
		{"CZK", "2026-11-12", "24.196"},
	} {
		got, ok := find(rates, c.cur, c.date)
		if !ok || !got.Equal(dec(c.want)) {
			t.Errorf("%s on %s = %v (found %v), want %s", c.cur, c.date, got, ok, c.want)
		}
	}
}

func TestParseECBDaily(t *testing.T) {
	rates := parseChecked(t, "eurofxref.csv", 29)
	for _, r := range rates {
		if !r.Date.Equal(day("2026-11-25")) {
			t.Fatalf("date %v, want 2026-11-25", r.Date)
		}
	}
	// The two files agree on the day they share.
	hist := parseFile(t, "eurofxref-hist.csv")
	shared := 0
	for _, r := range rates {
		if h, ok := find(hist, r.Currency, "2026-11-25"); ok {
			shared++
			if !h.Equal(r.PerEUR) {
				t.Errorf("%s: daily %v, historical %v", r.Currency, r.PerEUR, h)
			}
		}
	}
	if shared != 6 {
		t.Errorf("%d currencies shared with the historical file, want 6", shared)
	}
}

func TestParseECBVariants(t *testing.T) {
	want := []Rate{
		{day("2026-11-04"), "GBP", dec("0.8761")},
		{day("2026-11-04"), "USD", dec("1.1495")},
	}
	for name, in := range map[string]string{
		"historical":              "Date,USD,GBP,\n2026-11-04,1.1495,0.8761,\n",
		"daily":                   "Date, USD, GBP, \n04 November 2026, 1.1495, 0.8761, \n",
		"daily, one-digit day":    "Date, USD, GBP, \n4 November 2026, 1.1495, 0.8761, \n",
		"CRLF":                    "Date,USD,GBP,\r\n2026-11-04,1.1495,0.8761,\r\n",
		"byte order mark":         "\uFEFFDate,USD,GBP,\n2026-11-04,1.1495,0.8761,\n",
		"no trailing comma":       "Date,USD,GBP\n2026-11-04,1.1495,0.8761\n",
		"rows without the comma":  "Date,USD,GBP,\n2026-11-04,1.1495,0.8761\n",
		"no final newline":        "Date,USD,GBP,\n2026-11-04,1.1495,0.8761,",
		"blank lines":             "Date,USD,GBP,\n\n2026-11-04,1.1495,0.8761,\n\n",
		"N/A column":              "Date,USD,CYP,GBP,\n2026-11-04,1.1495,N/A,0.8761,\n",
		"row of N/A":              "Date,USD,GBP,\n2026-11-05,N/A,N/A,\n2026-11-04,1.1495,0.8761,\n",
		"quoted":                  "\"Date\",\"USD\",\"GBP\",\n\"2026-11-04\",\"1.1495\",\"0.8761\",\n",
		"spaces around (hist)":    "Date , USD , GBP ,\n2026-11-04 , 1.1495 , 0.8761 ,\n",
		"lower-case header date":  "date,USD,GBP,\n2026-11-04,1.1495,0.8761,\n",
		"trailing zeros and plus": "Date,USD,GBP,\n2026-11-04,+1.14950,0.876100,\n",
	} {
		t.Run(name, func(t *testing.T) {
			got, err := ParseECB(strings.NewReader(in))
			if err != nil {
				t.Fatalf("ParseECB: %v", err)
			}
			if len(got) != len(want) {
				t.Fatalf("got %v, want %v", got, want)
			}
			for i := range want {
				if !got[i].Date.Equal(want[i].Date) || got[i].Date.Location() != time.UTC ||
					got[i].Currency != want[i].Currency || !got[i].PerEUR.Equal(want[i].PerEUR) {
					t.Errorf("rate %d = %+v, want %+v", i, got[i], want[i])
				}
			}
		})
	}
	// Only N/A: no rates, no error (LoadFile is the one that refuses).
	got, err := ParseECB(strings.NewReader("Date,USD,\n2026-11-04,N/A,\n"))
	if err != nil || len(got) != 0 {
		t.Fatalf("all N/A: %v, %v", got, err)
	}
}

func TestParseECBErrors(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		line, col  int
		wantSubstr string
	}{
		{"empty", "", 0, 0, "empty input"},
		{"not ECB", "Day,USD,\n2026-11-04,1.1,\n", 1, 1, "want Date"},
		{"no currency", "Date,\n2026-11-04,\n", 1, 1, "no currency"},
		{"unknown currency", "Date,USD,XYZ,\n2026-11-04,1.1,2.2,\n", 1, 3, `"XYZ" is not a known ISO 4217`},
		{"lower-case currency", "Date,usd,\n2026-11-04,1.1,\n", 1, 2, "upper-case"},
		{"long code", "Date,USDX,\n2026-11-04,1.1,\n", 1, 2, "3-letter"},
		{"EUR column", "Date,USD,EUR,\n2026-11-04,1.1,1,\n", 1, 3, "base currency"},
		{"repeated currency", "Date,USD,GBP,USD,\n2026-11-04,1.1,0.8,1.1,\n", 1, 4, "currency USD repeats column 2"},
		{"empty header in the middle", "Date,USD,,GBP,\n2026-11-04,1.1,,0.8,\n", 1, 3, "empty currency code"},
		{"bad date", "Date,USD,\n2026-11-04,1.1,\n2026-13-01,1.1,\n", 3, 1, `date "2026-13-01"`},
		{"bad daily date", "Date, USD, \n25 Novembre 2026, 1.1, \n", 2, 1, `date "25 Novembre 2026"`},
		{"US date", "Date,USD,\n11/25/2026,1.1,\n", 2, 1, "neither"},
		{"text rate", "Date,USD,JPY,\n2026-11-04,1.1495,abc,\n", 2, 3, `rate "abc" is not a number`},
		{"exponent", "Date,USD,\n2026-11-04,1.1e0,\n", 2, 2, "not a number"},
		{"thousands separator", "Date,IDR,\n2026-11-04,\"19,345.67\",\n", 2, 2, "not a number"},
		{"decimal comma", "Date,USD,\n2026-11-04,\"1,1495\",\n", 2, 2, "not a number"},
		{"empty rate", "Date,USD,GBP,\n2026-11-04,,0.8,\n", 2, 2, "empty rate"},
		{"zero rate", "Date,USD,\n2026-11-04,0.0000,\n", 2, 2, "not positive"},
		{"negative rate", "Date,USD,GBP,\n2026-11-04,1.1,-0.8761,\n", 2, 3, "rate -0.8761 is not positive"},
		{"too precise", "Date,USD,\n2026-11-04,1.123456789,\n", 2, 2, "more than 8 decimal places"},
		{"too large", "Date,USD,\n2026-11-04,12345678901,\n", 2, 2, "more than 10 integer digits"},
		{"repeated date", "Date,USD,\n2026-11-05,1.1,\n2026-11-04,1.1,\n2026-11-05,1.2,\n", 4, 1, "date 2026-11-05 repeats line 2"},
		{"repeated date, both layouts", "Date,USD,\n2026-11-05,1.1,\n5 November 2026,1.1,\n", 3, 1, "repeats line 2"},
		{"short row", "Date,USD,GBP,\n2026-11-04,1.1\n", 2, 0, "2 fields, the header has 4"},
		{"long row", "Date,USD,\n2026-11-04,1.1,0.8,3\n", 2, 0, "4 fields, the header has 3"},
		{"value under the trailing comma", "Date,USD,\n2026-11-04,1.1,0.8\n", 2, 3, "empty header"},
		{"bad quote", "Date,USD,\n2026-11-04,\"1.1\n", 2, 0, "quote"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseECB(strings.NewReader(tt.in))
			if err == nil {
				t.Fatalf("ParseECB = %v, want an error", got)
			}
			if got != nil {
				t.Errorf("rates returned with the error: %v", got)
			}
			pe, ok := errors.AsType[*ParseError](err)
			if !ok {
				t.Fatalf("error %v (%T) is not a *ParseError", err, err)
			}
			if pe.Line != tt.line || pe.Column != tt.col {
				t.Errorf("error at line %d column %d, want line %d column %d: %v", pe.Line, pe.Column, tt.line, tt.col, err)
			}
			if !strings.Contains(err.Error(), tt.wantSubstr) {
				t.Errorf("error %q does not say %q", err, tt.wantSubstr)
			}
			if tt.line > 0 && !strings.Contains(err.Error(), "line ") {
				t.Errorf("error %q does not name its line", err)
			}
			if tt.col > 0 && !strings.Contains(err.Error(), "column ") {
				t.Errorf("error %q does not name its column", err)
			}
		})
	}
}

func TestParseECBErrorMessage(t *testing.T) {
	_, err := ParseECB(strings.NewReader("Date,USD,JPY,\n2026-11-04,1.1495,abc,\n"))
	want := `fx: line 2, column 3 (JPY): rate "abc" is not a number`
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %s", err, want)
	}
}

// spaces is an endless header cell.
type spaces struct{}

func (spaces) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

func TestParseECBTooLarge(t *testing.T) {
	_, err := ParseECB(io.MultiReader(strings.NewReader("Date,USD"), spaces{}))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("error %v, want ErrTooLarge", err)
	}
	if !strings.Contains(err.Error(), "larger than 50 MB") {
		t.Errorf("error %q", err)
	}
}

func TestLimitReader(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int64
		over bool
	}{
		{"0123456789", 10, false},
		{"0123456789", 11, false},
		{"0123456789", 9, true},
		{"", 0, false},
		{"x", 0, true},
	} {
		l := &limitReader{r: strings.NewReader(tt.in), n: tt.n}
		b, err := io.ReadAll(l)
		if tt.over {
			if !errors.Is(err, ErrTooLarge) {
				t.Errorf("%q limit %d: %q, %v; want ErrTooLarge", tt.in, tt.n, b, err)
			}
			continue
		}
		if err != nil || string(b) != tt.in {
			t.Errorf("%q limit %d: %q, %v", tt.in, tt.n, b, err)
		}
	}
}

// formatHist writes rates in the historical layout.
func formatHist(rates []Rate) []byte {
	curs := map[string]bool{}
	byDate := map[time.Time]map[string]decimal.Decimal{}
	for _, r := range rates {
		curs[r.Currency] = true
		if byDate[r.Date] == nil {
			byDate[r.Date] = map[string]decimal.Decimal{}
		}
		byDate[r.Date][r.Currency] = r.PerEUR
	}
	var cols []string
	for c := range curs {
		cols = append(cols, c)
	}
	sort.Strings(cols)
	var dates []time.Time
	for d := range byDate {
		dates = append(dates, d)
	}
	sort.Slice(dates, func(i, j int) bool { return dates[i].After(dates[j]) })
	var b bytes.Buffer
	b.WriteString("Date,")
	for _, c := range cols {
		b.WriteString(c + ",")
	}
	b.WriteString("\n")
	for _, d := range dates {
		b.WriteString(d.Format(time.DateOnly) + ",")
		for _, c := range cols {
			if v, ok := byDate[d][c]; ok {
				b.WriteString(v.String() + ",")
			} else {
				b.WriteString("N/A,")
			}
		}
		b.WriteString("\n")
	}
	return b.Bytes()
}

func FuzzParseECB(f *testing.F) {
	for _, name := range []string{"eurofxref-hist.csv", "eurofxref.csv"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"",
		"Date,USD,\n2026-11-04,1.1,\n",
		"Date, USD, \n4 November 2026, 1.1, \n",
		"Date,USD,GBP,\n2026-11-04,N/A,0.8761,\n2026-11-04,1.1,N/A,\n",
		"Date,USD,\n2026-11-04,-1,\n",
		"Date,usd,XYZ,EUR,\n",
		"\uFEFFDate,USD\r\n2026-11-04,\"1.1\"\r\n",
		"Date,USD,\n2026-11-04,1.123456789,\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		rates, err := ParseECB(bytes.NewReader(in))
		if err != nil {
			if rates != nil {
				t.Fatalf("rates with an error: %v", err)
			}
			if _, ok := errors.AsType[*ParseError](err); !ok {
				t.Fatalf("error %v (%T) is not a *ParseError", err, err)
			}
			if !strings.HasPrefix(err.Error(), "fx: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
			return
		}
		checkWellFormed(t, rates)
		if len(rates) == 0 {
			return
		}
		// What was parsed, written back out, parses to the same rates.
		again, err := ParseECB(bytes.NewReader(formatHist(rates)))
		if err != nil {
			t.Fatalf("reparse: %v\n%s", err, formatHist(rates))
		}
		if len(again) != len(rates) {
			t.Fatalf("reparse: %d rates, want %d", len(again), len(rates))
		}
		for i := range rates {
			if !again[i].Date.Equal(rates[i].Date) || again[i].Currency != rates[i].Currency || !again[i].PerEUR.Equal(rates[i].PerEUR) {
				t.Fatalf("reparse: rate %d = %+v, want %+v", i, again[i], rates[i])
			}
		}
	})
}
