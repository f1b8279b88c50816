package statements

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"
)

// Export formats.
const (
	FormatCSV  = "csv"
	FormatJSON = "json"
	FormatXLSX = "xlsx"
)

// FileName is the export's file name: xpromo-statement-<period>-<first 12
// hex of Hash>.<format> for a closed statement, with "draft" instead of
// the hash for a draft.
func (s *Statement) FileName(format string) string {
	tag := "draft"
	if s.Status == StatusClosed && len(s.Hash) >= 12 {
		tag = s.Hash[:12]
	}
	return "xpromo-statement-" + s.Period + "-" + tag + "." + strings.ToLower(format)
}

// closedAt is ClosedAt as ISO 8601 UTC, "" for a draft.
func (s *Statement) closedAt() string {
	if s.ClosedAt.IsZero() {
		return ""
	}
	return s.ClosedAt.UTC().Format(time.RFC3339)
}

// Columns of the CSV export (the XLSX sheet has them from "kind" on).
var csvHeader = []string{"statement_id", "period", "status", "closed_at",
	"kind", "adjusts_period", "partnership", "partner", "country", "direction", "currency", "terms_version",
	"new_users", "revenue", "cpa", "revshare", "we_owe", "they_owe", "net", "fx_rates"}

const metaColumns = 4

// amounts are f's amounts in the columns' order, written as in the JSON.
func amounts(f Figures, cur string) []string {
	j := figuresToJSON(f, cur)
	return []string{j.Revenue, j.CPA, j.RevShare, j.WeOwe, j.TheyOwe, j.Net}
}

// records are the export rows from "kind" on: the lines, then a total row
// per currency.
func (s *Statement) records() [][]string {
	var out [][]string
	for _, l := range s.Lines {
		r := []string{l.Kind, l.AdjustsPeriod, l.Partnership, l.Partner, l.Country, l.Direction, l.Currency,
			strconv.FormatUint(uint64(l.TermsVersion), 10), strconv.FormatInt(l.NewUsers, 10)}
		r = append(r, amounts(l.Figures, l.Currency)...)
		out = append(out, append(r, l.FXRates))
	}
	for _, t := range s.Totals {
		r := []string{KindTotal, "", "", "", "", "", t.Currency, "", strconv.FormatInt(t.NewUsers, 10)}
		r = append(r, amounts(t.Figures, t.Currency)...)
		out = append(out, append(r, ""))
	}
	return out
}

// WriteCSV writes the statement as RFC 4180 CSV (UTF-8, CRLF, a header
// row): every row starts with the statement's id, period, status and
// closing time, then one row per line and a "total" row per currency.
// Amounts have their currency's minor-unit decimals, '.' as the decimal
// point and no thousands separator.
func (s *Statement) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	meta := []string{s.ID, s.Period, s.Status, s.closedAt()}
	for _, r := range s.records() {
		if err := cw.Write(append(append([]string{}, meta...), r...)); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

type statementJSON struct {
	ID       string  `json:"id"`
	Period   string  `json:"period"`
	Status   string  `json:"status"`
	Hash     string  `json:"hash"`
	ClosedAt *string `json:"closed_at"`
	ClosedBy string  `json:"closed_by"`
	Lines    []Line  `json:"lines"`
	Totals   []Total `json:"totals"`
}

func (s *Statement) toJSON() statementJSON {
	j := statementJSON{ID: s.ID, Period: s.Period, Status: s.Status, Hash: s.Hash, ClosedBy: s.ClosedBy,
		Lines: s.Lines, Totals: s.Totals}
	if c := s.closedAt(); c != "" {
		j.ClosedAt = &c
	}
	if j.Lines == nil {
		j.Lines = []Line{}
	}
	if j.Totals == nil {
		j.Totals = []Total{}
	}
	return j
}

// MarshalJSON writes the statement as WriteJSON does, without indentation.
func (s *Statement) MarshalJSON() ([]byte, error) {
	return marshal(s.toJSON())
}

// WriteJSON writes the statement's metadata, lines and totals, decimals as
// strings with the currency's minor-unit decimals; closed_at is ISO 8601
// UTC, null for a draft.
func (s *Statement) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(s.toJSON())
}

// WriteXLSX writes the statement as an Excel workbook: a sheet named after
// the period with a header row, a row per line and a total row per
// currency (amounts stored as numbers with their currency's decimals as
// number format), and a sheet "statement" with the metadata. The file is
// deterministic: its document properties carry the closing time (the
// first day of the period for a draft) and nothing else varies.
func (s *Statement) WriteXLSX(w io.Writer) error {
	f := excelize.NewFile()
	defer f.Close()
	sheet := s.Period
	if sheet == "" {
		sheet = "statement"
	}
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return err
	}
	stamp := s.closedAt()
	if stamp == "" {
		stamp = s.Period + "-01T00:00:00Z"
	}
	if err := f.SetDocProps(&excelize.DocProperties{
		Created: stamp, Modified: stamp, Creator: "xpromo", LastModifiedBy: "xpromo",
		Title: "xpromo statement " + s.Period, Identifier: s.ID, Description: "sha256 " + s.Hash,
		Category: s.Status, Language: "en-US",
	}); err != nil {
		return err
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return err
	}
	numStyles := map[int32]int{}
	numStyle := func(cur string, total bool) (int, error) {
		sc, err := MinorUnit(cur)
		if err != nil {
			sc = 2
		}
		key := sc
		if total {
			key += 100
		}
		if id, ok := numStyles[key]; ok {
			return id, nil
		}
		format := "0"
		if sc > 0 {
			format = "0." + strings.Repeat("0", int(sc))
		}
		st := &excelize.Style{CustomNumFmt: &format}
		if total {
			st.Font = &excelize.Font{Bold: true}
		}
		id, err := f.NewStyle(st)
		if err != nil {
			return 0, err
		}
		numStyles[key] = id
		return id, nil
	}
	header := csvHeader[metaColumns:]
	for i, h := range header {
		c, _ := excelize.CoordinatesToCellName(i+1, 1)
		if err := f.SetCellStr(sheet, c, h); err != nil {
			return err
		}
	}
	last, _ := excelize.CoordinatesToCellName(len(header), 1)
	if err := f.SetCellStyle(sheet, "A1", last, bold); err != nil {
		return err
	}
	// Columns: 0-6 text, 7-8 integers, 9-14 amounts, 15 text.
	for i, rec := range s.records() {
		row := i + 2
		cur := rec[6]
		total := rec[0] == KindTotal
		ns, err := numStyle(cur, total)
		if err != nil {
			return err
		}
		for j, v := range rec {
			c, _ := excelize.CoordinatesToCellName(j+1, row)
			switch {
			case j == 7 || j == 8:
				if v == "" {
					continue
				}
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return fmt.Errorf("xlsx: %s: %w", c, err)
				}
				if err := f.SetCellInt(sheet, c, n); err != nil {
					return err
				}
			case j >= 9 && j <= 14:
				// The exact decimal text, stored as a number cell.
				if err := f.SetCellDefault(sheet, c, v); err != nil {
					return err
				}
				if err := f.SetCellStyle(sheet, c, c, ns); err != nil {
					return err
				}
			default:
				if v == "" {
					continue
				}
				if err := f.SetCellStr(sheet, c, v); err != nil {
					return err
				}
			}
		}
		if total {
			a, _ := excelize.CoordinatesToCellName(1, row)
			if err := f.SetCellStyle(sheet, a, a, bold); err != nil {
				return err
			}
		}
	}
	widths := []float64{11, 14, 20, 14, 8, 10, 9, 13, 10, 14, 14, 14, 14, 14, 14, 40}
	for i, wd := range widths {
		col, _ := excelize.ColumnNumberToName(i + 1)
		if err := f.SetColWidth(sheet, col, col, wd); err != nil {
			return err
		}
	}
	if _, err := f.NewSheet("statement"); err != nil {
		return err
	}
	meta := [][2]string{{"id", s.ID}, {"period", s.Period}, {"status", s.Status}, {"hash", s.Hash},
		{"closed_at", s.closedAt()}, {"closed_by", s.ClosedBy}}
	for i, kv := range meta {
		if err := f.SetCellStr("statement", "A"+strconv.Itoa(i+1), kv[0]); err != nil {
			return err
		}
		if kv[1] != "" {
			if err := f.SetCellStr("statement", "B"+strconv.Itoa(i+1), kv[1]); err != nil {
				return err
			}
		}
	}
	if err := f.SetColWidth("statement", "B", "B", 70); err != nil {
		return err
	}
	f.SetActiveSheet(0)
	return f.Write(w)
}
