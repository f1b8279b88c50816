package web

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"

	"github.com/xpromo/xpromo/schema"
)

// TestReportTablesExportXLSX: every report table of the dashboard has an
// XLSX link next to its CSV one, and the XLSX holds the CSV's cells, numbers
// as number cells; tables that are not reports (links) have none.
func TestReportTablesExportXLSX(t *testing.T) {
	en := setup(t)
	b := en.signedIn("cm-de")
	q := "?from=" + fromDay + "&to=" + toDay + "&compare=previous"
	for _, path := range []string{"/app/country/DE" + q, "/app/partnerships/ps-de-alpha" + q} {
		_, page := b.get(path)
		csvs, xlsxs := hrefs(t, page, "data-csv"), hrefs(t, page, "data-xlsx")
		if _, ok := xlsxs["links"]; ok {
			t.Errorf("%s: the links table has an XLSX link", path)
		}
		if len(xlsxs) < 2 {
			t.Errorf("%s: XLSX links %v", path, xlsxs)
		}
		for name, href := range xlsxs {
			resp, body := b.get(csvs[name])
			if resp.StatusCode != 200 {
				t.Fatalf("%s CSV: %d", name, resp.StatusCode)
			}
			recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			resp, body = b.get(href)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" ||
				!strings.Contains(resp.Header.Get("Content-Disposition"), `filename="xpromo-`+name+`.xlsx"`) {
				t.Fatalf("%s XLSX %s: %d %v", name, href, resp.StatusCode, resp.Header)
			}
			f, err := excelize.OpenReader(bytes.NewReader([]byte(body)))
			if err != nil {
				t.Fatalf("%s: the xlsx does not open: %v", name, err)
			}
			rows, _ := f.GetRows(name)
			if len(rows) != len(recs) {
				t.Fatalf("%s: xlsx %d rows, CSV %d", name, len(rows), len(recs))
			}
			numbers := 0
			for i, rec := range recs {
				for j, want := range rec {
					cell, _ := excelize.CoordinatesToCellName(j+1, i+1)
					shown, _ := f.GetCellValue(name, cell)
					raw, _ := f.GetCellValue(name, cell, excelize.Options{RawCellValue: true})
					typ, _ := f.GetCellType(name, cell)
					if w, err := decimal.NewFromString(want); err == nil && i > 0 {
						// excelize reads 15 significant digits (as Excel shows
						// them); the stored text is the CSV's (reports' TestTableXLSX).
						g, err := decimal.NewFromString(raw)
						if err != nil || g.Sub(w).Abs().GreaterThan(w.Abs().Mul(decimal.New(1, -14))) || (typ != excelize.CellTypeNumber && typ != excelize.CellTypeUnset) {
							t.Errorf("%s %s: %q (%v), CSV %q", name, cell, raw, typ, want)
						}
						numbers++
					} else if shown != want {
						t.Errorf("%s %s: %q, CSV %q", name, cell, shown, want)
					}
				}
			}
			if numbers == 0 && len(recs) > 1 {
				t.Errorf("%s: no number cells", name)
			}
			f.Close()
		}
	}
}

// TestFaviconAndPageDetails: /favicon.ico and the SVG icon the layout
// links are served (no 404 per page); a breakdown row without a value
// reads "(none)"; a balance without new users or revenue does not say
// "no activity" beside a funnel with clicks; an all-zero trend is a short
// strip; whole counts get whole y ticks.
func TestFaviconAndPageDetails(t *testing.T) {
	en := setup(t)
	b := en.signedIn("admin")
	resp, ico := b.get("/favicon.ico")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/x-icon" || !strings.HasPrefix(ico, "\x00\x00\x01\x00") {
		t.Errorf("/favicon.ico: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// 10 July, before the terms (and their targets) start: 3 clicks, no
	// conversion.
	hb, err := en.db.Conn.PrepareBatch(context.Background(), schema.Hits.InsertOnly("id", "ts", "kind", "link", "partnership", "partner", "direction", "visitor", "is_bot", "country", "ingested_at"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		at := time.Date(2026, 7, 10, 9, i, 0, 0, time.UTC)
		if err := hb.Append(fmt.Sprintf("july-%d", i), at, "click", "fr-in", "ps-fr-bravo", "bravo", "inbound", fmt.Sprintf("v%d", i), uint8(0), "FR", at); err != nil {
			t.Fatal(err)
		}
	}
	if err := hb.Send(); err != nil {
		t.Fatal(err)
	}
	resp, page := b.get("/app/partnerships/ps-fr-bravo?from=2026-07-10&to=2026-07-10&compare=none")
	if resp.StatusCode != 200 {
		t.Fatalf("partnership page: %d", resp.StatusCode)
	}
	icon := regexp.MustCompile(`<link rel="icon" href="([^"]+\.svg)"`).FindStringSubmatch(page)
	if icon == nil {
		t.Fatal("the layout links no SVG icon")
	}
	if r, svg := b.get(icon[1]); r.StatusCode != 200 || r.Header.Get("Content-Type") != "image/svg+xml" || !strings.Contains(svg, "<svg") {
		t.Errorf("%s: %d %s", icon[1], r.StatusCode, r.Header.Get("Content-Type"))
	}
	tb := tables(t, page)
	if f := tb["funnel"]; len(f.rows) == 0 || f.rows[0]["clicks"] != "3" {
		t.Fatalf("funnel %v", f.rows)
	}
	if len(tb["balance"].rows) != 0 || strings.Contains(page, "No activity in this period") ||
		!strings.Contains(page, `data-empty="balance">No new users, revenue or targets`) {
		t.Errorf("the empty balance's message beside 3 clicks: rows %v\n%s", tb["balance"].rows, regexp.MustCompile(`(?s)id="t-balance".*?</section>`).FindString(page))
	}
	sub := tb["breakdown_sub"]
	if len(sub.keys) != 1 || sub.keys[0] != "" || sub.rows[0]["sub"] != "" || sub.text[0]["sub"] != "(none)" {
		t.Errorf("by sub: keys %q rows %v text %v, want one row shown (none)", sub.keys, sub.rows, sub.text)
	}
	// 3 clicks on one day: y ticks 0, 1, 2, 3, never a half.
	svg := regexp.MustCompile(`(?s)<svg[^>]*data-chart="series".*?</svg>`).FindString(page)
	ticks := regexp.MustCompile(`class="ytick"[^>]*>([^<]*)<`).FindAllStringSubmatch(svg, -1)
	var ys []string
	for _, m := range ticks {
		ys = append(ys, m[1])
	}
	if strings.Join(ys, ",") != "0,1,2,3" {
		t.Errorf("series y ticks %v, want 0,1,2,3", ys)
	}
	// Nothing from Oct 20 to 25: a short strip.
	_, page = b.get("/app/partnerships/ps-fr-bravo?from=2026-10-20&to=2026-10-25&compare=none")
	svg = regexp.MustCompile(`(?s)<svg[^>]*data-chart="series".*?</svg>`).FindString(page)
	if !strings.Contains(svg, `viewBox="0 0 640 72"`) || !strings.Contains(svg, "Nothing in this period") {
		t.Errorf("all-zero series chart:\n%s", svg)
	}
	if resp, _ := b.get("/app/static/nope.ico"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a missing static file: %d", resp.StatusCode)
	}
}
