package fx

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"golang.org/x/text/currency"
)

// MaxInput is the largest ECB file ParseECB reads. The full history
// (eurofxref-hist.csv, every business day since 1999) is about 2 MB.
const MaxInput = 50 << 20

// MaxScale is the most decimal places a rate may have: fx_rates.per_eur is
// numeric(18, 8). ECB rates have at most 6 significant digits.
const MaxScale = 8

// maxIntDigits is the most integer digits numeric(18, 8) holds.
const maxIntDigits = 18 - MaxScale

// Base is the currency the ECB quotes every rate against.
const Base = "EUR"

// Rate is one ECB euro reference rate: PerEUR units of Currency buy one
// euro on Date.
type Rate struct {
	Date     time.Time // UTC midnight
	Currency string    // ISO 4217, upper case
	PerEUR   decimal.Decimal
}

// ParseError is a problem with one place in an ECB file. Line and Column
// are 1-based; Column counts fields (column 1 is the date). Line 0 means
// the input as a whole.
type ParseError struct {
	Path   string // the file, when known (LoadFile sets it)
	Line   int
	Column int
	Field  string // the column's header ("Date", "USD"), when known
	Err    error
}

func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString("fx: ")
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ", column %d", e.Column)
			if e.Field != "" {
				fmt.Fprintf(&b, " (%s)", e.Field)
			}
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *ParseError) Unwrap() error { return e.Err }

// ErrTooLarge is returned (inside a ParseError) for input over MaxInput.
var ErrTooLarge = fmt.Errorf("input is larger than %d MB", MaxInput>>20)

// Date layouts: eurofxref-hist.csv writes 2026-11-25, eurofxref.csv
// writes 25 November 2026.
var dateLayouts = []string{"2006-01-02", "2 January 2006"}

// numberRe is a plain decimal number as the ECB writes it (no exponent,
// no thousands separator); a leading sign is let through so that a
// negative rate gets its own message.
var numberRe = regexp.MustCompile(`^[+-]?[0-9]+(\.[0-9]+)?$`)

// ParseECB reads an ECB euro reference rate CSV in either published layout:
// the historical file (eurofxref-hist.csv: "Date,USD,JPY,...," with a
// trailing comma, dates like 2026-11-25, N/A where a currency has no rate)
// or the daily file (eurofxref.csv: "Date, USD, JPY, ..., " with spaces,
// dates like 25 November 2026). N/A cells are skipped. The result is
// sorted by date, then currency.
//
// Any bad cell fails the whole parse with a *ParseError naming its line and
// column: an unparsable date, a rate that is not a plain decimal number, is
// zero or negative or does not fit numeric(18, 8), a header that is not an
// ISO 4217 code (or is EUR, or repeats), a repeated date, or input larger
// than MaxInput.
func ParseECB(r io.Reader) ([]Rate, error) {
	lr := &limitReader{r: r, n: MaxInput}
	cr := csv.NewReader(lr)
	cr.FieldsPerRecord = -1 // checked here, with a better message
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true

	read := func() ([]string, error) {
		rec, err := cr.Read()
		if lr.over {
			return nil, &ParseError{Err: ErrTooLarge}
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, &ParseError{Line: pe.Line, Err: fmt.Errorf("%w (at byte %d of the line)", pe.Err, pe.Column)}
			}
			if err == io.EOF {
				return nil, err
			}
			return nil, fmt.Errorf("fx: read: %w", err)
		}
		return rec, nil
	}

	hdr, err := read()
	if err == io.EOF {
		return nil, &ParseError{Err: errors.New("empty input: no header line")}
	}
	if err != nil {
		return nil, err
	}
	hline, _ := cr.FieldPos(0)
	cols, err := parseHeader(hdr, hline)
	if err != nil {
		return nil, err
	}

	var out []Rate
	seen := map[time.Time]int{} // date -> line
	for {
		rec, err := read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		// A row has a cell per header column; the trailing comma's empty
		// cell may be missing.
		if n := len(rec); n != len(cols) && !(n == len(cols)-1 && cols[n] == "") {
			return nil, &ParseError{Line: line, Err: fmt.Errorf("%d fields, the header has %d", n, len(cols))}
		}
		cellErr := func(i int, err error) error {
			return &ParseError{Line: line, Column: i + 1, Field: cols[i], Err: err}
		}
		d, err := parseDate(strings.TrimSpace(rec[0]))
		if err != nil {
			return nil, cellErr(0, err)
		}
		if prev, ok := seen[d]; ok {
			return nil, cellErr(0, fmt.Errorf("date %s repeats line %d", d.Format(time.DateOnly), prev))
		}
		seen[d] = line
		for i := 1; i < len(rec); i++ {
			v := strings.TrimSpace(rec[i])
			if cols[i] == "" {
				if v != "" {
					return nil, cellErr(i, fmt.Errorf("value %q under an empty header", clip(v)))
				}
				continue
			}
			if strings.EqualFold(v, "N/A") {
				continue
			}
			p, err := parseRate(v)
			if err != nil {
				return nil, cellErr(i, err)
			}
			out = append(out, Rate{Date: d, Currency: cols[i], PerEUR: p})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Date.Equal(out[j].Date) {
			return out[i].Date.Before(out[j].Date)
		}
		return out[i].Currency < out[j].Currency
	})
	return out, nil
}

// parseHeader checks the header and returns its column names; an empty
// name is allowed only last (the ECB's trailing comma).
func parseHeader(hdr []string, line int) ([]string, error) {
	cols := make([]string, len(hdr))
	for i, h := range hdr {
		h = strings.TrimSpace(h)
		if i == 0 {
			h = strings.TrimPrefix(h, "\uFEFF") // a UTF-8 byte order mark
		}
		cols[i] = h
	}
	herr := func(i int, err error) error {
		return &ParseError{Line: line, Column: i + 1, Field: clip(cols[i]), Err: err}
	}
	if !strings.EqualFold(cols[0], "Date") {
		return nil, herr(0, fmt.Errorf("header starts with %q, want Date: not an ECB euro reference rate file", clip(cols[0])))
	}
	cols[0] = "Date"
	seen := map[string]int{}
	for i := 1; i < len(cols); i++ {
		c := cols[i]
		if c == "" {
			if i == len(cols)-1 {
				continue
			}
			return nil, herr(i, errors.New("empty currency code in the header"))
		}
		if err := checkCode(c); err != nil {
			return nil, herr(i, err)
		}
		if c == Base {
			return nil, herr(i, errors.New("EUR is the base currency and cannot have a rate"))
		}
		if prev, ok := seen[c]; ok {
			return nil, herr(i, fmt.Errorf("currency %s repeats column %d", c, prev))
		}
		seen[c] = i + 1
	}
	if len(seen) == 0 {
		return nil, herr(0, errors.New("header names no currency"))
	}
	return cols, nil
}

// checkCode accepts an upper-case ISO 4217 code that golang.org/x/text
// knows (including the ones the ECB quoted before they were replaced, such
// as CYP, ROL or TRL).
func checkCode(c string) error {
	if len(c) != 3 || strings.ToUpper(c) != c {
		return fmt.Errorf("currency %q is not a 3-letter upper-case ISO 4217 code", clip(c))
	}
	u, err := currency.ParseISO(c)
	if err != nil || u.String() != c || c == "XXX" || c == "XTS" {
		return fmt.Errorf("currency %q is not a known ISO 4217 code", c)
	}
	return nil
}

func parseDate(s string) (time.Time, error) {
	for _, l := range dateLayouts {
		if d, err := time.Parse(l, s); err == nil {
			return d, nil // time.Parse without a zone gives UTC
		}
	}
	return time.Time{}, fmt.Errorf("date %q is neither 2026-11-25 nor 25 November 2026", clip(s))
}

func parseRate(s string) (decimal.Decimal, error) {
	if s == "" {
		return decimal.Decimal{}, errors.New("empty rate (the ECB writes N/A for a missing one)")
	}
	if !numberRe.MatchString(s) {
		return decimal.Decimal{}, fmt.Errorf("rate %q is not a number", clip(s))
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("rate %q is not a number", clip(s))
	}
	if err := checkRate(d); err != nil {
		return decimal.Decimal{}, err
	}
	return d, nil
}

// checkRate accepts what fx_rates.per_eur stores exactly: positive, at
// most MaxScale decimal places and maxIntDigits integer digits.
func checkRate(d decimal.Decimal) error {
	if d.Sign() <= 0 {
		return fmt.Errorf("rate %s is not positive", d)
	}
	if !d.Equal(d.Truncate(MaxScale)) {
		return fmt.Errorf("rate %s has more than %d decimal places", d, MaxScale)
	}
	if d.Truncate(0).NumDigits() > maxIntDigits {
		return fmt.Errorf("rate %s has more than %d integer digits", d, maxIntDigits)
	}
	return nil
}

// clip shortens a value quoted in an error.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// limitReader reads at most n bytes and notes whether r had more.
type limitReader struct {
	r    io.Reader
	n    int64
	over bool
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.over {
		return 0, ErrTooLarge
	}
	if l.n <= 0 {
		// Probe for one more byte: exactly n bytes is fine.
		var one [1]byte
		k, err := io.ReadFull(l.r, one[:])
		if k > 0 {
			l.over = true
			return 0, ErrTooLarge
		}
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		return 0, err
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	k, err := l.r.Read(p)
	l.n -= int64(k)
	return k, err
}
