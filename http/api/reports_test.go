package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"

	"github.com/xpromo/xpromo/schema"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// TestReportsScoping: every reader gets the report of its own scope, and
// filters narrow it, never widen it.
func TestReportsScoping(t *testing.T) {
	en := setup(t)
	day := testenv.Now().UTC().Truncate(time.Hour)
	en.insertHits(t,
		testHit{"ha", day, "click", "ps-de-alpha", "alpha", "v"},
		testHit{"hb", day, "click", "ps-de-alpha", "alpha", "v"},
		testHit{"hc", day, "click", "ps-fr-bravo", "bravo", "v"})
	today := day.Format(time.DateOnly)
	report := func(who, query string) (int, []string) {
		t.Helper()
		code, body := en.do("GET", "/v1/reports/partnerships?from="+today+"&to="+today+query, who, "")
		if code != 200 {
			return code, nil
		}
		var out struct {
			Items []map[string]any `json:"items"`
		}
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		var ps []string
		for _, it := range out.Items {
			ps = append(ps, it["partnership"].(string))
			if strings.Contains(body, "Werbung") || strings.Contains(body, "Publicite") {
				t.Errorf("report shows a partner's name: %s", body)
			}
		}
		return code, ps
	}
	for _, c := range []struct {
		who, query string
		code       int
		want       string
	}{
		{"admin", "", 200, "ps-de-alpha,ps-fr-bravo"},
		{"finance", "", 200, "ps-de-alpha,ps-fr-bravo"},
		{"cm-de", "", 200, "ps-de-alpha"},
		{"cm-de", "&country=FR", 200, ""},
		{"cm-fr", "", 200, "ps-fr-bravo"},
		{"partner-a", "", 200, "ps-de-alpha"},
		{"partner-a", "&partner=bravo", 200, ""},
		{"partner-b", "&partnership=ps-de-alpha", 200, ""},
		{"admin", "&country=FR", 200, "ps-fr-bravo"},
		{"service", "", 403, ""},
		{"admin", "&granularity=hour", 400, ""},
	} {
		code, ps := report(c.who, c.query)
		if code != c.code || strings.Join(ps, ",") != c.want {
			t.Errorf("%s %s: %d %v, want %d %q", c.who, c.query, code, ps, c.code, c.want)
		}
	}
	code, body := en.do("GET", "/v1/reports/partnerships?from="+today+"&to="+today+"&format=csv", "cm-de", "")
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if code != 200 || err != nil || len(recs) != 2 || recs[0][1] != "partnership" || recs[1][1] != "ps-de-alpha" || recs[1][6] != "2" {
		t.Fatalf("csv: %d %v %q", code, err, body)
	}
	for _, c := range []struct {
		who, query string
		code       int
	}{
		{"cm-de", "&partnership=ps-de-alpha&by=link", 200},
		{"partner-a", "&partnership=ps-de-alpha&by=device", 200},
		{"cm-fr", "&partnership=ps-de-alpha&by=link", 404},
		{"partner-b", "&partnership=ps-de-alpha&by=link", 404},
		{"admin", "&by=link", 400},
		{"admin", "&partnership=ps-de-alpha&by=color", 400},
	} {
		if code, body := en.do("GET", "/v1/reports/breakdown?from="+today+"&to="+today+c.query, c.who, ""); code != c.code {
			t.Errorf("breakdown %s %s: %d, want %d: %s", c.who, c.query, code, c.code, body)
		}
	}
	if code, body := en.do("GET", "/v1/reports/quality?from="+today+"&to="+today, "cm-fr", ""); code != 200 || strings.Contains(body, "alpha") {
		t.Errorf("quality as cm-fr: %d %s", code, body)
	}
	if code, _ := en.do("GET", "/v1/reports/nope", "admin", ""); code != 404 {
		t.Errorf("unknown report: %d", code)
	}
}

// TestConversionScope: a conversion's attribution is shown within the
// reader's scope only, with overlapping partnerships outside it masked, and
// unattributed conversions only to unrestricted readers.
func TestConversionScope(t *testing.T) {
	en := setup(t)
	ctx := context.Background()
	b, err := en.ch.PrepareBatch(ctx, schema.Attributions.InsertOnly("conversion", "ts", "type", "source", "outcome", "partnership", "partner", "country", "direction", "overlaps", "computed_at", "version"))
	if err != nil {
		t.Fatal(err)
	}
	at := testenv.Now().UTC().Truncate(time.Second)
	if err := b.Append("won", at, "signup", "ours", "new_user", "ps-de-alpha", "alpha", "DE", "inbound", []string{"ps-fr-bravo"}, at, uint64(1)); err != nil {
		t.Fatal(err)
	}
	if err := b.Append("organic", at, "signup", "ours", "unattributed", "", "", "DE", "none", []string{}, at, uint64(1)); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		who, conv string
		code      int
		has, not  string
	}{
		{"admin", "won", 200, `"overlaps":["ps-fr-bravo"]`, ""},
		{"cm-de", "won", 200, `"overlaps":["other (out of scope)"]`, "bravo"},
		{"partner-a", "won", 200, `"overlaps":["other (out of scope)"]`, "bravo"},
		{"cm-fr", "won", 404, "", ""},
		{"finance", "organic", 200, `"outcome":"unattributed"`, ""},
		{"cm-de", "organic", 404, "", ""},
	} {
		code, body := en.do("GET", "/v1/conversions/"+c.conv, c.who, "")
		if code != c.code || !strings.Contains(body, c.has) || (c.not != "" && strings.Contains(body, c.not)) {
			t.Errorf("%s %s: %d %s", c.who, c.conv, code, body)
		}
	}
}

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
