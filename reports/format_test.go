package reports_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/xpromo/xpromo/reports"
)

var sampleRows = []reports.VisitorCountryRow{
	{Partnership: "acme-de", Country: "DE", Partner: "acme", Clicks: 5, UniqueVisitors: 4, Views: 2},
	{Partnership: "acme-fr", Country: "FR", Partner: "acme", Clicks: 0, UniqueVisitors: 0, Views: 7},
	{Partnership: `odd,"name"`, Country: "ZZ", Partner: "we, \"quote\"", Clicks: 18446744073709551615, UniqueVisitors: 1, Views: 0},
}

func TestWritePartnershipsCSV(t *testing.T) {
	tests := []struct {
		name string
		rows []reports.VisitorCountryRow
	}{
		{"rows", sampleRows},
		{"nil", nil},
		{"empty", []reports.VisitorCountryRow{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := reports.WriteVisitorCountries(&b, reports.FormatCSV, tt.rows); err != nil {
				t.Fatalf("WriteVisitorCountries: %v", err)
			}
			if first, _, _ := strings.Cut(b.String(), "\n"); first != "partnership,country,partner,clicks,unique_visitors,views" {
				t.Fatalf("header line %q", first)
			}
			recs, err := csv.NewReader(&b).ReadAll()
			if err != nil {
				t.Fatalf("parse back: %v", err)
			}
			if len(recs) != len(tt.rows)+1 {
				t.Fatalf("%d records, want header + %d rows", len(recs), len(tt.rows))
			}
			for i, r := range tt.rows {
				want := []string{r.Partnership, r.Country, r.Partner, u(r.Clicks), u(r.UniqueVisitors), u(r.Views)}
				if !reflect.DeepEqual(recs[i+1], want) {
					t.Errorf("record %d = %q, want %q", i+1, recs[i+1], want)
				}
			}
		})
	}
}

func u(v uint64) string { return strconv.FormatUint(v, 10) }

func TestWritePartnershipsJSON(t *testing.T) {
	tests := []struct {
		name string
		rows []reports.VisitorCountryRow
	}{
		{"rows", sampleRows},
		{"one", sampleRows[:1]},
		{"nil", nil},
		{"empty", []reports.VisitorCountryRow{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := reports.WriteVisitorCountries(&b, reports.FormatJSON, tt.rows); err != nil {
				t.Fatalf("WriteVisitorCountries: %v", err)
			}
			if len(tt.rows) == 0 {
				if got := strings.TrimSpace(b.String()); got != "[]" {
					t.Fatalf("no rows: %q, want []", got)
				}
				return
			}
			var generic []map[string]any
			if err := json.Unmarshal(b.Bytes(), &generic); err != nil {
				t.Fatalf("decode: %v", err)
			}
			keys := []string{"clicks", "country", "partner", "partnership", "unique_visitors", "views"}
			for i, obj := range generic {
				var got []string
				for k := range obj {
					got = append(got, k)
				}
				if len(got) != len(keys) {
					t.Fatalf("object %d has keys %v, want %v", i, got, keys)
				}
				for _, k := range keys {
					if _, ok := obj[k]; !ok {
						t.Fatalf("object %d lacks %q: %v", i, k, obj)
					}
				}
			}
			var back []reports.VisitorCountryRow
			dec := json.NewDecoder(&b)
			dec.DisallowUnknownFields()
			if err := dec.Decode(&back); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(back, tt.rows) {
				t.Fatalf("decoded %+v, want %+v", back, tt.rows)
			}
		})
	}
}

func TestWritePartnershipsTable(t *testing.T) {
	tests := []struct {
		name   string
		format string
		rows   []reports.VisitorCountryRow
		total  []string // fields of the TOTAL line
	}{
		{"rows", reports.FormatTable, sampleRows[:2], []string{"TOTAL", "5", "9"}},
		{"default format", "", sampleRows[:2], []string{"TOTAL", "5", "9"}},
		{"no rows", reports.FormatTable, nil, []string{"TOTAL", "0", "0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := reports.WriteVisitorCountries(&b, tt.format, tt.rows); err != nil {
				t.Fatalf("WriteVisitorCountries: %v", err)
			}
			lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
			if len(lines) != len(tt.rows)+2 {
				t.Fatalf("%d lines, want header + %d rows + TOTAL:\n%s", len(lines), len(tt.rows), b.String())
			}
			if got := strings.Fields(lines[0]); !reflect.DeepEqual(got, []string{"PARTNERSHIP", "COUNTRY", "PARTNER", "CLICKS", "UNIQUE", "VISITORS", "VIEWS"}) {
				t.Errorf("header %q", lines[0])
			}
			for i, r := range tt.rows {
				want := []string{r.Partnership, r.Country, r.Partner, u(r.Clicks), u(r.UniqueVisitors), u(r.Views)}
				if got := strings.Fields(lines[i+1]); !reflect.DeepEqual(got, want) {
					t.Errorf("line %d = %q, want fields %q", i+1, lines[i+1], want)
				}
			}
			if got := strings.Fields(lines[len(lines)-1]); !reflect.DeepEqual(got, tt.total) {
				t.Errorf("last line %q, want TOTAL row with fields %q", lines[len(lines)-1], tt.total)
			}
			// Columns are aligned: every line is as wide as the header.
			for i, l := range lines {
				if len(strings.TrimRight(l, " ")) != len(strings.TrimRight(lines[0], " ")) {
					t.Errorf("line %d %q is not aligned with the header %q", i, l, lines[0])
				}
			}
		})
	}
}

func TestWritePartnershipsUnknownFormat(t *testing.T) {
	for _, format := range []string{"xml", "CSV", "Json", "tsv", " table"} {
		t.Run(format, func(t *testing.T) {
			var b bytes.Buffer
			err := reports.WriteVisitorCountries(&b, format, sampleRows)
			if err == nil || !strings.Contains(err.Error(), "format") {
				t.Fatalf("WriteVisitorCountries(%q) = %v, want a format error", format, err)
			}
			if b.Len() != 0 {
				t.Fatalf("wrote %q for an unknown format", b.String())
			}
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWritePartnershipsWriteError(t *testing.T) {
	for _, format := range []string{reports.FormatCSV, reports.FormatJSON, reports.FormatTable} {
		t.Run(format, func(t *testing.T) {
			if err := reports.WriteVisitorCountries(failWriter{}, format, sampleRows); err == nil {
				t.Fatalf("WriteVisitorCountries(%s) to a failing writer = nil, want the write error", format)
			}
		})
	}
}
