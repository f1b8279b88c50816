package reports

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/xuri/excelize/v2"
)

// FormatXLSX is the spreadsheet format (Office Open XML) of reports.
const FormatXLSX = "xlsx"

// ContentTypeXLSX is the media type of an XLSX file.
const ContentTypeXLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

// XLSX number formats: ints with thousands separators, amounts with two
// decimals (the value itself keeps every digit written), ratios as CSV
// writes them.
const (
	xlsxIntFormat     = "#,##0"
	xlsxDecimalFormat = "#,##0.00"
	xlsxRatioFormat   = "0.0000"
	xlsxDateFormat    = "yyyy-mm-dd"
)

// WriteXLSX writes a sheet named sheet with a header row (the column
// names) and rows of cells as CSV writes them ("" for none), typed by the
// columns' kinds: ints, decimals and ratios as number cells holding the
// exact text (no float64 on the way, so money stays exact), dates as date
// cells, the rest as text. Notes, if any, go on a second sheet "notes".
// The API, the CLI and the dashboard write reports' XLSX with it, so an
// XLSX has the cells of the CSV of the same request.
func WriteXLSX(w io.Writer, sheet string, cols []Column, rows [][]string, notes []string) error {
	f := excelize.NewFile()
	defer f.Close()
	if sheet == "" {
		sheet = "report"
	}
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return fmt.Errorf("write xlsx: %w", err)
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return fmt.Errorf("write xlsx: %w", err)
	}
	styles := map[string]int{}
	for kind, nf := range map[string]string{KindInt: xlsxIntFormat, KindDecimal: xlsxDecimalFormat, KindRatio: xlsxRatioFormat, KindDate: xlsxDateFormat} {
		id, err := f.NewStyle(&excelize.Style{CustomNumFmt: &nf})
		if err != nil {
			return fmt.Errorf("write xlsx: %w", err)
		}
		styles[kind] = id
	}
	for i, c := range cols {
		name, _ := excelize.CoordinatesToCellName(i+1, 1)
		if err := f.SetCellStr(sheet, name, c.Name); err != nil {
			return fmt.Errorf("write xlsx: %w", err)
		}
	}
	if len(cols) > 0 {
		last, _ := excelize.CoordinatesToCellName(len(cols), 1)
		if err := f.SetCellStyle(sheet, "A1", last, bold); err != nil {
			return fmt.Errorf("write xlsx: %w", err)
		}
	}
	for r, rec := range rows {
		for i, c := range cols {
			if i >= len(rec) || rec[i] == "" {
				continue
			}
			name, _ := excelize.CoordinatesToCellName(i+1, r+2)
			if err := xlsxCell(f, sheet, name, c.Kind, rec[i], styles); err != nil {
				return fmt.Errorf("write xlsx: row %d %s: %w", r+1, c.Name, err)
			}
		}
	}
	for i, c := range cols {
		col, _ := excelize.ColumnNumberToName(i + 1)
		if err := f.SetColWidth(sheet, col, col, float64(max(10, len(c.Name)+2))); err != nil {
			return fmt.Errorf("write xlsx: %w", err)
		}
	}
	if err := f.SetPanes(sheet, &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return fmt.Errorf("write xlsx: %w", err)
	}
	if len(notes) > 0 {
		if _, err := f.NewSheet("notes"); err != nil {
			return fmt.Errorf("write xlsx: %w", err)
		}
		for i, n := range notes {
			if err := f.SetCellStr("notes", "A"+strconv.Itoa(i+1), n); err != nil {
				return fmt.Errorf("write xlsx: %w", err)
			}
		}
	}
	f.SetActiveSheet(0)
	if err := f.Write(w); err != nil {
		return fmt.Errorf("write xlsx: %w", err)
	}
	return nil
}

// xlsxCell writes text s, a cell of a column of kind, at cell name: ints
// as integers, decimals and ratios as number cells holding s's own digits
// (SetCellDefault stores the text as the value, without a float64 on the
// way), dates as dates, each with its kind's number format; the rest, and
// a value that does not parse as its kind, as text.
func xlsxCell(f *excelize.File, sheet, name, kind, s string, styles map[string]int) error {
	var err error
	switch kind {
	case KindInt:
		if n, perr := strconv.ParseInt(s, 10, 64); perr == nil {
			err = f.SetCellInt(sheet, name, n)
		} else if u, perr := strconv.ParseUint(s, 10, 64); perr == nil {
			err = f.SetCellUint(sheet, name, u)
		} else {
			return f.SetCellStr(sheet, name, s)
		}
	case KindDecimal, KindRatio:
		if _, perr := strconv.ParseFloat(s, 64); perr != nil {
			return f.SetCellStr(sheet, name, s)
		}
		err = f.SetCellDefault(sheet, name, s)
	case KindDate:
		d, perr := time.Parse(time.DateOnly, s)
		if perr != nil {
			return f.SetCellStr(sheet, name, s)
		}
		err = f.SetCellValue(sheet, name, d)
	default:
		return f.SetCellStr(sheet, name, s)
	}
	if err != nil {
		return err
	}
	return f.SetCellStyle(sheet, name, name, styles[kind])
}

// rawCells are t's rows as CSV writes them.
func (t *Table) rawCells() [][]string {
	out := make([][]string, len(t.Rows))
	for i, r := range t.Rows {
		rec := make([]string, len(r))
		for j, v := range r {
			rec[j] = cell(v)
		}
		out[i] = rec
	}
	return out
}
