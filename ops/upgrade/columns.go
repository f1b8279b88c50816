package upgrade

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// kind is how a column is read, written and written out canonically.
type kind int

const (
	kText      kind = iota
	kTextArr        // Array(String) -> text[]
	kTime           // DateTime -> timestamptz
	kTimeNull       // DateTime, 1970-01-01 00:00:00 meaning none -> timestamptz NULL
	kDate           // Date -> date
	kDateNull       // Date, 1970-01-01 meaning none -> date NULL
	kDecimal        // Decimal(p, s) -> numeric(p, s)
	kInt            // UInt* (read as toInt64) -> integer, bigint
	kBool           // UInt8 -> boolean
	kBytes          // String of raw bytes -> bytea
	kBytesNull      // String of raw bytes, '' meaning none -> bytea NULL
)

type column struct {
	name string
	kind kind
	ch   string // the ClickHouse expression, when not the bare name
}

// table is one catalog table; its first nkey columns are its primary key
// in PostgreSQL.
type table struct {
	name  string
	final bool // read with FINAL (a ReplacingMergeTree)
	nkey  int
	then  string // ClickHouse's order within a key: its first row is copied
	cols  []column
}

func (t table) names() []string {
	out := make([]string, len(t.cols))
	for i, c := range t.cols {
		out[i] = c.name
	}
	return out
}

func (t table) keyNames() []string { return t.names()[:t.nkey] }

func (t table) chQuery() string {
	exprs := make([]string, len(t.cols))
	for i, c := range t.cols {
		switch {
		case c.ch != "":
			exprs[i] = c.ch
		case c.kind == kInt:
			exprs[i] = "toInt64(" + c.name + ")"
		default:
			exprs[i] = c.name
		}
	}
	q := "SELECT " + strings.Join(exprs, ", ") + " FROM " + t.name
	if t.final {
		q += " FINAL"
	}
	// Ordered by key, so duplicates of a key (audit_log) are adjacent.
	q += " ORDER BY " + strings.Join(t.keyNames(), ", ")
	if t.then != "" {
		q += ", " + t.then
	}
	return q
}

// chTargets returns scan destinations for a ClickHouse row of t.
func (t table) chTargets() []any {
	out := make([]any, len(t.cols))
	for i, c := range t.cols {
		switch c.kind {
		case kText, kBytes, kBytesNull:
			out[i] = new(string)
		case kTextArr:
			out[i] = new([]string)
		case kTime, kTimeNull, kDate, kDateNull:
			out[i] = new(time.Time)
		case kDecimal:
			out[i] = new(decimal.Decimal)
		case kInt:
			out[i] = new(int64)
		case kBool:
			out[i] = new(uint8)
		}
	}
	return out
}

// fromCH maps scanned ClickHouse values to the values PostgreSQL stores.
func (t table) fromCH(dst []any) []any {
	out := make([]any, len(t.cols))
	for i, c := range t.cols {
		switch c.kind {
		case kText:
			out[i] = *dst[i].(*string)
		case kTextArr:
			out[i] = nonNil(*dst[i].(*[]string))
		case kTime:
			out[i] = dst[i].(*time.Time).UTC()
		case kTimeNull:
			if v := *dst[i].(*time.Time); v.Unix() != 0 {
				out[i] = v.UTC()
			}
		case kDate:
			out[i] = utcDay(*dst[i].(*time.Time))
		case kDateNull:
			if d := utcDay(*dst[i].(*time.Time)); d.Unix() != 0 {
				out[i] = d
			}
		case kDecimal:
			out[i] = *dst[i].(*decimal.Decimal)
		case kInt:
			out[i] = *dst[i].(*int64)
		case kBool:
			out[i] = *dst[i].(*uint8) != 0
		case kBytes:
			out[i] = []byte(*dst[i].(*string))
		case kBytesNull:
			if v := *dst[i].(*string); v != "" {
				out[i] = []byte(v)
			}
		}
	}
	return out
}

// pgTargets returns scan destinations for a PostgreSQL row of t.
func (t table) pgTargets() []any {
	out := make([]any, len(t.cols))
	for i, c := range t.cols {
		switch c.kind {
		case kText:
			out[i] = new(string)
		case kTextArr:
			out[i] = new([]string)
		case kTime, kDate:
			out[i] = new(time.Time)
		case kTimeNull, kDateNull:
			out[i] = new(*time.Time)
		case kDecimal:
			out[i] = new(decimal.Decimal)
		case kInt:
			out[i] = new(int64)
		case kBool:
			out[i] = new(bool)
		case kBytes, kBytesNull:
			out[i] = new([]byte)
		}
	}
	return out
}

// fromPG turns scanned PostgreSQL values into the form fromCH gives.
func (t table) fromPG(dst []any) []any {
	out := make([]any, len(t.cols))
	for i, c := range t.cols {
		switch c.kind {
		case kTimeNull, kDateNull:
			if v := *dst[i].(**time.Time); v != nil {
				out[i] = v.UTC()
			}
		case kTextArr:
			out[i] = nonNil(*dst[i].(*[]string))
		case kTime, kDate:
			out[i] = dst[i].(*time.Time).UTC()
		case kBytes, kBytesNull:
			if v := *dst[i].(*[]byte); v != nil {
				out[i] = v
			}
		default:
			// *string, *decimal.Decimal, *int64, *bool
			switch p := dst[i].(type) {
			case *string:
				out[i] = *p
			case *decimal.Decimal:
				out[i] = *p
			case *int64:
				out[i] = *p
			case *bool:
				out[i] = *p
			}
		}
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// utcDay is the calendar day of a Date value as a UTC midnight, whatever
// location the driver gave it.
func utcDay(v time.Time) time.Time {
	y, m, d := v.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// key is the row's primary key as text, columns joined by a NUL: each
// column as PostgreSQL's ::text writes it, since the keys the INSERT
// returns are matched against these.
func (t table) key(vals []any) string {
	parts := make([]string, t.nkey)
	for i := range parts {
		if d, ok := vals[i].(time.Time); ok && t.cols[i].kind == kDate {
			parts[i] = d.Format(time.DateOnly)
			continue
		}
		parts[i] = fmt.Sprint(vals[i])
	}
	return strings.Join(parts, "\x00")
}

// showKey is a key as an error message names it.
func showKey(k string) string { return strings.ReplaceAll(k, "\x00", "/") }

// canonical is the row's canonical text line: every column in a fixed
// format, tab-separated. Both sides' values go through fromCH/fromPG
// first, so equal rows give equal lines.
func (t table) canonical(vals []any) string {
	var b strings.Builder
	for i, c := range t.cols {
		if i > 0 {
			b.WriteByte('\t')
		}
		v := vals[i]
		if v == nil {
			b.WriteString("NULL")
			continue
		}
		switch c.kind {
		case kText:
			b.WriteString(strconv.Quote(v.(string)))
		case kTextArr:
			b.WriteByte('[')
			for j, s := range v.([]string) {
				if j > 0 {
					b.WriteByte(',')
				}
				b.WriteString(strconv.Quote(s))
			}
			b.WriteByte(']')
		case kTime, kTimeNull:
			b.WriteString(v.(time.Time).UTC().Format(time.RFC3339Nano))
		case kDate, kDateNull:
			b.WriteString(v.(time.Time).Format(time.DateOnly))
		case kDecimal:
			b.WriteString(v.(decimal.Decimal).String())
		case kInt:
			b.WriteString(strconv.FormatInt(v.(int64), 10))
		case kBool:
			b.WriteString(strconv.FormatBool(v.(bool)))
		case kBytes, kBytesNull:
			b.WriteString(hex.EncodeToString(v.([]byte)))
		}
	}
	return b.String()
}
