package browser

import (
	"fmt"
	"slices"
	"sort"
)

// The data tables of xpromo's pages mark their data for machines:
//
//	<table data-table="NAME">
//	  <tr data-key="KEY"><td data-col="COL" data-value="RAW">formatted</td>...</tr>
//
// so tests compare what a page shows with what the API answers without
// parsing formatted numbers.

// Table is a data table as a page shows it.
type Table struct {
	Name string
	Rows []Row
}

// Row is a table row with a data-key.
type Row struct {
	Key   string
	Cells []Cell
}

// Cell is a td with a data-col.
type Cell struct {
	Col      string
	Value    string // data-value
	HasValue bool
	Text     string // what the reader sees, trimmed
}

// Row returns the row with key, if any.
func (t Table) Row(key string) (Row, bool) {
	return first(t.Rows, func(r Row) bool { return r.Key == key })
}

// Keys lists the row keys, sorted.
func (t Table) Keys() []string {
	out := make([]string, len(t.Rows))
	for i, r := range t.Rows {
		out[i] = r.Key
	}
	sort.Strings(out)
	return out
}

// Cell returns the row's cell of column col, if any.
func (r Row) Cell(col string) (Cell, bool) {
	return first(r.Cells, func(c Cell) bool { return c.Col == col })
}

// first is the first element of list that matches, if any.
func first[T any](list []T, match func(T) bool) (T, bool) {
	if i := slices.IndexFunc(list, match); i >= 0 {
		return list[i], true
	}
	var zero T
	return zero, false
}

// Cols lists the row's columns in page order.
func (r Row) Cols() []string {
	out := make([]string, len(r.Cells))
	for i, c := range r.Cells {
		out[i] = c.Col
	}
	return out
}

const tableJS = `(() => {
  const t = document.querySelector('table[data-table=' + JSON.stringify(%s) + ']');
  if (!t) return null;
  return Array.from(t.querySelectorAll('tr[data-key]'), tr => ({
    Key: tr.getAttribute('data-key'),
    Cells: Array.from(tr.querySelectorAll('td[data-col]'), td => ({
      Col: td.getAttribute('data-col'),
      Value: td.getAttribute('data-value') ?? '',
      HasValue: td.hasAttribute('data-value'),
      Text: td.textContent.trim(),
    })),
  }));
})()`

// Table reads the data table name; the test fails when the page has none.
func (p *Page) Table(name string) Table {
	p.t.Helper()
	p.WaitVisible(`table[data-table=` + jsString(name) + `]`)
	rows := Eval[*[]Row](p, fmt.Sprintf(tableJS, jsString(name)))
	if rows == nil {
		p.fail("no table[data-table=%q]", name)
	}
	return Table{Name: name, Rows: *rows}
}
