package admin

// Printing shared by the workflows: tables (tabwriter), JSON, and the
// forms of empty values and times every table uses.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/xpromo/xpromo/domain/catalog"
)

// Output formats of list and show commands.
const (
	Table = "table"
	JSON  = "json"
)

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// newTable is a tabwriter with the columns every table uses.
func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

// printRows writes in format what table builds: the table itself, or as JSON
// the rows it returns (nil: an empty list). The table is written only
// once it is whole, so a failure prints nothing.
func printRows(w io.Writer, format string, table func(*tabwriter.Writer) (any, error)) error {
	var tbl bytes.Buffer
	tw := newTable(&tbl)
	rows, err := table(tw)
	if err != nil {
		return err
	}
	if format == JSON {
		if rows == nil {
			rows = []any{}
		}
		return printJSON(w, rows)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err = w.Write(tbl.Bytes())
	return err
}

// sortedKeys are m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// dash is s, or "-" for nothing.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// dayOrDash is t's UTC day, or "-" for the zero time.
func dayOrDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.DateOnly)
}

// formatTime is t in UTC in layout, or zero for the zero time.
func formatTime(t time.Time, layout, zero string) string {
	if t.IsZero() {
		return zero
	}
	return t.UTC().Format(layout)
}

func timeOrNever(t time.Time) string { return formatTime(t, time.RFC3339, "never") }

// printChange reports the outcome of an update: the fields that changed,
// or that nothing did.
func printChange(w io.Writer, what string, before, after any) error {
	b, err := json.Marshal(before)
	if err != nil {
		return err
	}
	a, err := json.Marshal(after)
	if err != nil {
		return err
	}
	if diff := catalog.Changes(string(b), string(a)); diff != "" {
		fmt.Fprintf(w, "%s updated: %s\n", what, diff)
	} else {
		fmt.Fprintf(w, "%s unchanged\n", what)
	}
	return nil
}
