package reports_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/xpromo/xpromo/reports"
)

// sampleTable is a visitors table (no period: the whole range as one).
func sampleTable(rows int) *reports.Table {
	all := [][]any{
		{nil, "acme-de", "acme", "DE", "DE", uint64(5), uint64(4), uint64(2)},
		{nil, "acme-fr", "acme", "FR", "FR", uint64(0), uint64(0), uint64(7)},
		{nil, `odd,"name"`, "we, \"quote\"", "ZZ", "ZZ", uint64(18446744073709551615), uint64(1), uint64(0)},
	}
	return &reports.Table{Report: "visitors", Columns: reports.VisitorsColumns, Rows: append([][]any{}, all[:rows]...)}
}

var visitorsHeader = []string{"period", "partnership", "partner", "country", "visitor_country", "clicks", "unique_visitors", "views"}

func TestWriteVisitorsCSV(t *testing.T) {
	for _, n := range []int{3, 0} {
		tab := sampleTable(n)
		var b bytes.Buffer
		if err := tab.Write(&b, reports.FormatCSV); err != nil {
			t.Fatalf("Write: %v", err)
		}
		recs, err := csv.NewReader(&b).ReadAll()
		if err != nil {
			t.Fatalf("parse back: %v", err)
		}
		if len(recs) != n+1 || !reflect.DeepEqual(recs[0], visitorsHeader) {
			t.Fatalf("records %q, want header %q + %d rows", recs, visitorsHeader, n)
		}
		want := []string{"", `odd,"name"`, "we, \"quote\"", "ZZ", "ZZ", "18446744073709551615", "1", "0"}
		if n == 3 && !reflect.DeepEqual(recs[3], want) {
			t.Errorf("record 3 = %q, want %q", recs[3], want)
		}
	}
}

func TestWriteVisitorsJSON(t *testing.T) {
	var b bytes.Buffer
	if err := sampleTable(3).Write(&b, reports.FormatJSON); err != nil {
		t.Fatalf("Write: %v", err)
	}
	var back struct {
		Report string
		Items  []map[string]any
		Total  int
	}
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if back.Report != "visitors" || back.Total != 3 || len(back.Items) != 3 {
		t.Fatalf("decoded %+v", back)
	}
	for i, obj := range back.Items {
		if len(obj) != len(visitorsHeader) {
			t.Errorf("item %d has keys %v, want %v", i, obj, visitorsHeader)
		}
	}
	if back.Items[0]["partnership"] != "acme-de" || back.Items[0]["visitor_country"] != "DE" || back.Items[0]["clicks"] != 5.0 {
		t.Errorf("item 0 = %v", back.Items[0])
	}
}

func TestWriteVisitorsTable(t *testing.T) {
	for _, format := range []string{reports.FormatTable, ""} {
		var b bytes.Buffer
		if err := sampleTable(2).Write(&b, format); err != nil {
			t.Fatalf("Write: %v", err)
		}
		lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
		if len(lines) != 3 {
			t.Fatalf("%d lines, want header + 2 rows:\n%s", len(lines), b.String())
		}
		if got := strings.Fields(lines[0]); !reflect.DeepEqual(got, []string{"PERIOD", "PARTNERSHIP", "PARTNER", "COUNTRY", "VISITOR", "COUNTRY", "CLICKS", "UNIQUE", "VISITORS", "VIEWS"}) {
			t.Errorf("header %q", lines[0])
		}
		if got := strings.Fields(lines[1]); !reflect.DeepEqual(got, []string{"-", "acme-de", "acme", "DE", "DE", "5", "4", "2"}) {
			t.Errorf("line 1 %q", lines[1])
		}
		// Columns are aligned: every line is as wide as the header.
		for i, l := range lines {
			if len(strings.TrimRight(l, " ")) != len(strings.TrimRight(lines[0], " ")) {
				t.Errorf("line %d %q is not aligned with the header %q", i, l, lines[0])
			}
		}
	}
}

func TestWriteUnknownFormat(t *testing.T) {
	for _, format := range []string{"xml", "CSV", "Json", "tsv", " table"} {
		t.Run(format, func(t *testing.T) {
			var b bytes.Buffer
			err := sampleTable(3).Write(&b, format)
			if err == nil || !strings.Contains(err.Error(), "format") {
				t.Fatalf("Write(%q) = %v, want a format error", format, err)
			}
			if b.Len() != 0 {
				t.Fatalf("wrote %q for an unknown format", b.String())
			}
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteWriteError(t *testing.T) {
	for _, format := range []string{reports.FormatCSV, reports.FormatJSON, reports.FormatTable} {
		t.Run(format, func(t *testing.T) {
			if err := sampleTable(3).Write(failWriter{}, format); err == nil {
				t.Fatalf("Write(%s) to a failing writer = nil, want the write error", format)
			}
		})
	}
}
