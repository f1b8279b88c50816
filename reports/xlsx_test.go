package reports_test

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"

	"github.com/xpromo/xpromo/reports"
)

// TestTableXLSX: the XLSX of a table has the cells of its CSV: text as
// text, dates as date cells shown YYYY-MM-DD, numbers as number cells
// whose stored value is the CSV's text to the digit (no float64 on the
// way), and the notes on a sheet of their own.
func TestTableXLSX(t *testing.T) {
	big := decimal.RequireFromString("12345678901234.57") // 16 digits: more than a float64 keeps
	tab := &reports.Table{Report: "partnerships",
		Columns: []reports.Column{{Name: "period", Kind: reports.KindDate}, {Name: "partnership", Kind: reports.KindText},
			{Name: "clicks", Kind: reports.KindInt}, {Name: "net", Kind: reports.KindInt}, {Name: "revenue", Kind: reports.KindDecimal},
			{Name: "ctr", Kind: reports.KindRatio}},
		Rows: [][]any{
			{time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), "acme-de", uint64(18446744073709551615), int64(-3), big, 0.1},
			{time.Date(2026, 11, 9, 0, 0, 0, 0, time.UTC), "=1+1", uint64(0), int64(0), decimal.RequireFromString("0.1"), nil},
		},
		Notes: []string{"a note"},
	}
	var c, x bytes.Buffer
	if err := tab.Write(&c, reports.FormatCSV); err != nil {
		t.Fatal(err)
	}
	if err := tab.Write(&x, reports.FormatXLSX); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&c).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(bytes.NewReader(x.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i, rec := range recs {
		for j, want := range rec {
			cell, _ := excelize.CoordinatesToCellName(j+1, i+1)
			got, _ := f.GetCellValue("partnerships", cell)
			typ, _ := f.GetCellType("partnerships", cell)
			kind := tab.Columns[j].Kind
			switch {
			case i == 0 || kind == reports.KindText:
				if got != want {
					t.Errorf("%s = %q, CSV %q", cell, got, want)
				}
			case kind == reports.KindDate:
				if got != want {
					t.Errorf("date %s shown %q, CSV %q", cell, got, want)
				}
			case want == "":
				if got != "" {
					t.Errorf("%s = %q, want empty", cell, got)
				}
			case len(strings.Trim(strings.NewReplacer("-", "", ".", "").Replace(want), "0")) > 15:
				// excelize reads (and Excel shows) 15 significant digits:
				// the stored text is checked below.
			default:
				raw, _ := f.GetCellValue("partnerships", cell, excelize.Options{RawCellValue: true})
				if d, err := decimal.NewFromString(raw); err != nil || !d.Equal(decimal.RequireFromString(want)) || (typ != excelize.CellTypeNumber && typ != excelize.CellTypeUnset) {
					t.Errorf("%s = %q (%v), CSV %q, want a number cell", cell, raw, typ, want)
				}
			}
		}
	}
	// The stored values, read from the sheet's XML: money to the digit.
	zr, err := zip.NewReader(bytes.NewReader(x.Bytes()), int64(x.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var sheet string
	for _, zf := range zr.File {
		if zf.Name == "xl/worksheets/sheet1.xml" {
			rc, _ := zf.Open()
			b, _ := io.ReadAll(rc)
			rc.Close()
			sheet = string(b)
		}
	}
	for _, v := range []string{"<v>12345678901234.57</v>", "<v>18446744073709551615</v>", "<v>-3</v>", "<v>0.1000</v>", "<v>0.10</v>"} {
		if !strings.Contains(sheet, v) {
			t.Errorf("sheet1.xml holds no %s:\n%s", v, sheet)
		}
	}
	if n, _ := f.GetCellValue("notes", "A1"); n != "a note" {
		t.Errorf("notes sheet A1 = %q", n)
	}
	if f.GetSheetList()[0] != "partnerships" {
		t.Errorf("sheets %v", f.GetSheetList())
	}
}
