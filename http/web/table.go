package web

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/reports"
)

// Table is one data table of a page, and the CSV behind its download
// link: the header row is the column names, the rows are the raw values
// (Cell.Raw), so the CSV equals the table.
type Table struct {
	Name  string // data-table, and the CSV file's name
	Title string
	Cols  []Col
	Rows  []Row
	CSV   string // href of the CSV download; "" for none
	Notes []string
	Empty string // shown when there are no rows
	CSRF  string // for row forms (revoke, status); set when the page renders
	// Return is where row forms come back to (the page's path).
	Return string
	// LinkQuery is added to the rows' partnership links (the period).
	LinkQuery template.URL
}

// Extras reports whether any row has links, buttons or forms after its
// data cells (the table then has an extra, unnamed column).
func (t *Table) Extras() bool {
	for _, r := range t.Rows {
		if r.Partnership != "" || r.Partner != "" || r.CopyURL != "" || r.QR != "" || r.Revoke != "" || len(r.Status) > 0 {
			return true
		}
	}
	return false
}

// Col is a column: Name is the API's JSON field name.
type Col struct {
	Name  string
	Label string
	Num   bool   // right-aligned
	Kind  string // the report's column kind (reports.KindInt...); "" text
}

// Row is one table row; Key is its data-key (a partnership id, a link
// code, a statement line key...).
type Row struct {
	Key   string
	Cells []Cell
	// Optional per-row extras, rendered after the data cells.
	Partnership string // link to the partnership page
	Partner     string // link to the partner's results across countries
	CopyURL     string // copy-to-clipboard button (a tracking URL)
	QR          string // QR image src
	Revoke      string // token id with a revoke form
	Status      []statusButton
}

// statusButton is a one-button form that sets a link's or a partnership's
// status (pause, resume, archive).
type statusButton struct {
	Action string // the form's action
	Form   string // the form id a refusal fills again
	Status string
	Label  string
	// Version is the one the button changes from: a change made since
	// refuses it ("changed by someone else") instead of overwriting.
	Version int
}

// Cell is one data cell: Raw is the API's exact value (data-value), Text
// what the reader sees.
type Cell struct {
	Col  string
	Raw  string
	Text string
	Num  bool
	Href string // the shown text links there ("" for none)
}

// Cell returns the raw value of column col, "" when there is none.
func (r Row) Cell(col string) string {
	for _, c := range r.Cells {
		if c.Col == col {
			return c.Raw
		}
	}
	return ""
}

// label turns a field name into a column heading.
func label(name string) string {
	s := strings.ReplaceAll(name, "_", " ")
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// WriteCSV writes the table as RFC 4180 CSV: the column names, then one
// record of raw values per row.
func (t *Table) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	head := make([]string, len(t.Cols))
	for i, c := range t.Cols {
		head[i] = c.Name
	}
	if err := cw.Write(head); err != nil {
		return fmt.Errorf("write csv %s: %w", t.Name, err)
	}
	for _, r := range t.Rows {
		rec := make([]string, len(t.Cols))
		for i, c := range r.Cells {
			if i < len(rec) {
				rec[i] = c.Raw
			}
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("write csv %s: %w", t.Name, err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write csv %s: %w", t.Name, err)
	}
	return nil
}

// XLSX is the href of the table's XLSX download, next to its CSV: for
// tables of a report (their columns have kinds, so numbers become number
// cells); "" for none.
func (t *Table) XLSX() string {
	if t.CSV == "" {
		return ""
	}
	for _, c := range t.Cols {
		if c.Kind != "" {
			path, query, _ := strings.Cut(t.CSV, "?")
			u := strings.TrimSuffix(path, ".csv") + ".xlsx"
			if query != "" {
				u += "?" + query
			}
			return u
		}
	}
	return ""
}

// WriteXLSX writes the table as an XLSX sheet with the cells of its CSV,
// numbers as number cells (reports.WriteXLSX).
func (t *Table) WriteXLSX(w io.Writer) error {
	cols := make([]reports.Column, len(t.Cols))
	for i, c := range t.Cols {
		cols[i] = reports.Column{Name: c.Name, Kind: c.Kind}
	}
	rows := make([][]string, len(t.Rows))
	for i, r := range t.Rows {
		rec := make([]string, len(t.Cols))
		for j, c := range r.Cells {
			if j < len(rec) {
				rec[j] = c.Raw
			}
		}
		rows[i] = rec
	}
	if err := reports.WriteXLSX(w, t.Name, cols, rows, t.Notes); err != nil {
		return fmt.Errorf("write xlsx %s: %w", t.Name, err)
	}
	return nil
}

// csvHref is the download link of table name on the page at path with
// query q: /app/country/FR/partnerships.csv?from=...
func csvHref(path, name string, q url.Values) string {
	u := strings.TrimSuffix(path, "/") + "/" + name + ".csv"
	if enc := q.Encode(); enc != "" {
		u += "?" + enc
	}
	return u
}

// formatter writes cells for one reader.
type formatter struct {
	loc      *locale
	currency string // the reporting currency of report revenue
}

// format writes v, a report value of column name and kind.
func (f formatter) format(name, kind string, v any) string {
	if v == nil {
		return "–"
	}
	switch x := v.(type) {
	case uint64:
		return f.loc.Int(int64(x))
	case int64:
		return f.loc.Int(x)
	case decimal.Decimal:
		if strings.Contains(name, "revenue") {
			return f.loc.Money(x, f.currency)
		}
		return f.loc.Decimal(x, 2)
	case float64:
		switch {
		case strings.HasSuffix(name, "_change"), name == "trend":
			return f.loc.Change(x)
		case name == "user_ratio", name == "balance_ratio":
			return f.loc.Float(x)
		case strings.HasSuffix(name, "_per_1k_clicks"):
			return f.loc.Decimal(decimal.NewFromFloat(x), 1)
		}
		return f.loc.Percent(x)
	case time.Time:
		return x.Format(time.DateOnly)
	case string:
		return x
	}
	_ = kind
	return rawValue(v)
}

// fromReport makes a Table of a report's result. key gives each row's
// data-key from its cells (by column name).
// Only, if given, keeps those columns (in the report's order).
func (f formatter) fromReport(name, title string, t *reports.Table, key func(map[string]any) string, only ...string) *Table {
	out := &Table{Name: name, Title: title, Notes: t.Notes, Empty: "No activity in this period."}
	var keep []int
	for i, c := range t.Columns {
		if len(only) > 0 && !slices.Contains(only, c.Name) {
			continue
		}
		keep = append(keep, i)
		out.Cols = append(out.Cols, Col{Name: c.Name, Label: label(c.Name), Num: c.Kind != reports.KindText && c.Kind != reports.KindDate, Kind: c.Kind})
	}
	for _, r := range t.Rows {
		m := make(map[string]any, len(r))
		for i, v := range r {
			m[t.Columns[i].Name] = v
		}
		row := Row{Key: key(m)}
		for _, i := range keep {
			c := t.Columns[i]
			row.Cells = append(row.Cells, Cell{Col: c.Name, Raw: rawValue(r[i]), Text: f.format(c.Name, c.Kind, r[i]),
				Num: c.Kind != reports.KindText && c.Kind != reports.KindDate})
		}
		out.Rows = append(out.Rows, row)
	}
	return out
}

// jsonFields returns v's JSON object (as the API writes v) with every
// value as a raw string: strings as they are, numbers as written, arrays
// joined by commas, null and absent as "".
func jsonFields(v any) (map[string]string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("json fields: %w", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("json fields: %w", err)
	}
	out := make(map[string]string, len(m))
	for k, raw := range m {
		out[k] = rawJSON(raw)
	}
	return out, nil
}

func rawJSON(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		_ = json.Unmarshal(raw, &s)
		return s
	case '[':
		var items []json.RawMessage
		_ = json.Unmarshal(raw, &items)
		parts := make([]string, len(items))
		for i, it := range items {
			parts[i] = rawJSON(it)
		}
		return strings.Join(parts, ",")
	}
	return string(raw)
}

// objectTable makes a Table of API objects (their JSON fields cols); text,
// if set, formats a cell for the reader (else the raw value is shown).
func objectTable[T any](name, title string, items []T, cols []string, key func(T) string,
	text func(col, raw string) string) (*Table, error) {
	t := &Table{Name: name, Title: title, Empty: "None."}
	for _, c := range cols {
		t.Cols = append(t.Cols, Col{Name: c, Label: label(c)})
	}
	for _, it := range items {
		m, err := jsonFields(it)
		if err != nil {
			return nil, err
		}
		row := Row{Key: key(it)}
		for _, c := range cols {
			cell := Cell{Col: c, Raw: m[c], Text: m[c]}
			if text != nil {
				cell.Text = text(c, m[c])
			}
			row.Cells = append(row.Cells, cell)
		}
		t.Rows = append(t.Rows, row)
	}
	return t, nil
}
