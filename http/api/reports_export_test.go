package api

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"

	"github.com/xpromo/xpromo/testkit/testenv"
)

// TestReportCompareAndExports: GET /v1/reports/NAME?compare=previous adds
// NAME_prev and NAME_change for every numeric column; a report without a
// granularity says its period (FROM..TO); format=xlsx is the CSV's cells,
// numbers as number cells.
func TestReportCompareAndExports(t *testing.T) {
	en := setup(t)
	now := testenv.Now().UTC().Truncate(time.Hour)
	yesterday := now.AddDate(0, 0, -1)
	// Today 3 clicks and a view, yesterday 1 click and 2 views.
	var hits []testHit
	for i, h := range []struct {
		at   time.Time
		kind string
	}{{now, "click"}, {now, "click"}, {now, "click"}, {now, "view"}, {yesterday, "click"}, {yesterday, "view"}, {yesterday, "view"}} {
		hits = append(hits, testHit{"x" + string(rune('a'+i)), h.at, h.kind, "ps-de-alpha", "alpha", "v" + string(rune('a'+i))})
	}
	en.insertHits(t, hits...)
	today := now.Format(time.DateOnly)
	get := func(path string) *httptest.ResponseRecorder {
		t.Helper()
		w := en.serve("GET", path, "admin", "")
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, w.Code, w.Body)
		}
		return w
	}
	for _, name := range []string{"partnerships", "balance"} {
		base := "/v1/reports/" + name + "?from=" + today + "&to=" + today + "&compare=previous"
		var res struct {
			Columns []struct{ Name, Kind string } `json:"columns"`
			Items   []map[string]any              `json:"items"`
		}
		if err := json.Unmarshal(get(base).Body.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		cols := map[string]bool{}
		for _, c := range res.Columns {
			cols[c.Name] = true
		}
		numeric := 0
		for _, c := range res.Columns {
			if (c.Kind == "int" || c.Kind == "decimal" || c.Kind == "ratio") && !strings.HasSuffix(c.Name, "_prev") && !strings.HasSuffix(c.Name, "_change") {
				numeric++
				if !cols[c.Name+"_prev"] || !cols[c.Name+"_change"] {
					t.Errorf("%s: %s has no _prev and _change", name, c.Name)
				}
			}
		}
		if numeric < 8 {
			t.Errorf("%s: %d numeric columns compared", name, numeric)
		}
		if name == "partnerships" {
			if len(res.Items) != 1 {
				t.Fatalf("partnerships: %v", res.Items)
			}
			it := res.Items[0]
			if it["period"] != today+".."+today || it["clicks"] != 3.0 || it["clicks_prev"] != 1.0 || it["clicks_change"] != 2.0 ||
				it["views_prev"] != 2.0 || it["views_change"] != -0.5 || it["ctr_prev"] != 0.5 || it["ctr_change"] != 5.0 {
				t.Errorf("partnerships row: %v", it)
			}
		}

		// The XLSX has the CSV's cells.
		cw := get(base + "&format=csv")
		recs, err := csv.NewReader(cw.Body).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		xw := get(base + "&format=xlsx")
		if ct := xw.Header().Get("Content-Type"); ct != "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" {
			t.Errorf("xlsx Content-Type %q", ct)
		}
		if cd := xw.Header().Get("Content-Disposition"); !strings.Contains(cd, `filename="xpromo-`+name+`-`+today+`-`+today+`.xlsx"`) {
			t.Errorf("xlsx Content-Disposition %q", cd)
		}
		if name == "partnerships" && len(recs) != 2 {
			t.Errorf("partnerships CSV: %v", recs)
		}
		xlsxEqualsCSV(t, xw.Body.Bytes(), name, recs)
	}
	w := en.serve("GET", "/v1/reports/balance?format=pdf", "admin", "")
	if w.Code != 400 || !strings.Contains(w.Body.String(), "xlsx") {
		t.Errorf("format=pdf: %d %s", w.Code, w.Body)
	}
}

// xlsxEqualsCSV opens data with excelize and compares sheet's cells with
// the CSV records: text and dates as shown, numbers as number cells of
// the same value (the raw value is the CSV's text).
func xlsxEqualsCSV(t *testing.T, data []byte, sheet string, recs [][]string) {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("xlsx does not open: %v", err)
	}
	defer f.Close()
	rows, err := f.GetRows(sheet)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(recs) || len(recs) < 1 {
		t.Fatalf("xlsx has %d rows, the CSV %d", len(rows), len(recs))
	}
	for i, rec := range recs {
		for j, want := range rec {
			cell, _ := excelize.CoordinatesToCellName(j+1, i+1)
			shown, _ := f.GetCellValue(sheet, cell)
			raw, _ := f.GetCellValue(sheet, cell, excelize.Options{RawCellValue: true})
			typ, _ := f.GetCellType(sheet, cell)
			if d, err := decimal.NewFromString(want); err == nil && i > 0 {
				got, err := decimal.NewFromString(raw)
				if err != nil || !got.Equal(d) || (typ != excelize.CellTypeNumber && typ != excelize.CellTypeUnset) {
					t.Errorf("%s %s: raw %q type %v, CSV %q (a number)", sheet, cell, raw, typ, want)
				}
				continue
			}
			if shown != want {
				t.Errorf("%s %s: %q, CSV %q", sheet, cell, shown, want)
			}
		}
	}
}
