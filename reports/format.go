package reports

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
)

// Formats the CLI and API write.
const (
	FormatTable = "table"
	FormatCSV   = "csv"
	FormatJSON  = "json"
)

// VisitorCountriesHeader is the CSV header of the visitors count.
var VisitorCountriesHeader = []string{"partnership", "country", "partner", "clicks", "unique_visitors", "views"}

func (r VisitorCountryRow) record() []string {
	return []string{r.Partnership, r.Country, r.Partner, strconv.FormatUint(r.Clicks, 10),
		strconv.FormatUint(r.UniqueVisitors, 10), strconv.FormatUint(r.Views, 10)}
}

// WriteVisitorCountries writes rows as table, csv or json.
func WriteVisitorCountries(w io.Writer, format string, rows []VisitorCountryRow) error {
	switch format {
	case FormatCSV:
		cw := csv.NewWriter(w)
		_ = cw.Write(VisitorCountriesHeader)
		for _, r := range rows {
			_ = cw.Write(r.record())
		}
		cw.Flush()
		return cw.Error()
	case FormatJSON:
		if rows == nil {
			rows = []VisitorCountryRow{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	case FormatTable, "":
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "PARTNERSHIP\tCOUNTRY\tPARTNER\tCLICKS\tUNIQUE VISITORS\tVIEWS\t")
		var clicks, views uint64
		for _, r := range rows {
			rec := r.record()
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", rec[0], rec[1], rec[2], rec[3], rec[4], rec[5])
			clicks += r.Clicks
			views += r.Views
		}
		fmt.Fprintf(tw, "TOTAL\t\t\t%d\t\t%d\t\n", clicks, views)
		return tw.Flush()
	}
	return fmt.Errorf("format %q: want table, csv or json", format)
}
