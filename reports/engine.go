package reports

import (
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/catalog"
)

// Granularities of report periods.
const (
	Day   = "day"
	Week  = "week"
	Month = "month"
	Total = "" // the whole period as one
)

// Comparisons.
const (
	ComparePrevious = "previous" // the period of the same length just before
	CompareYear     = "year"     // the same dates one year earlier
)

// Params select what a report covers. From and To are calendar days,
// both included, in each country's own time zone. The scope fields come
// from the reader's token, narrowed (never widened) by request filters:
// Countries nil means every country, an empty non-nil slice none; Partner
// "" means every partner.
type Params struct {
	From, To     time.Time
	Granularity  string
	Countries    []string
	Partner      string
	Partnerships []string // nil: all in scope
	IncludeBots  bool
	Compare      string
}

// Limits of Params.
const MaxPeriod = 3 * 366 * 24 * time.Hour

// ReadDates sets From and To from the query parameters from and to
// (YYYY-MM-DD), keeping their values where a parameter is absent. The
// API and the dashboard read periods with it.
func (p *Params) ReadDates(q url.Values) error {
	for _, d := range []struct {
		name string
		dst  *time.Time
	}{{"from", &p.From}, {"to", &p.To}} {
		if v := q.Get(d.name); v != "" {
			t, err := time.Parse(time.DateOnly, v)
			if err != nil {
				return errors.New(d.name + " must be a date (YYYY-MM-DD)")
			}
			*d.dst = t
		}
	}
	return nil
}

// Validate checks p.
func (p Params) Validate() error {
	if p.From.IsZero() || p.To.IsZero() {
		return errors.New("from and to are required (YYYY-MM-DD)")
	}
	if p.To.Before(p.From) {
		return fmt.Errorf("to (%s) is before from (%s)", day(p.To), day(p.From))
	}
	if p.To.Sub(p.From) > MaxPeriod {
		return errors.New("period longer than 3 years")
	}
	switch p.Granularity {
	case Day, Week, Month, Total:
	default:
		return fmt.Errorf("granularity %q: want day, week or month", p.Granularity)
	}
	switch p.Compare {
	case "", ComparePrevious, CompareYear:
	default:
		return fmt.Errorf("compare %q: want previous or year", p.Compare)
	}
	for _, cc := range p.Countries {
		if catalog.ValidCountry("country", cc) != nil {
			return fmt.Errorf("country %q is not an ISO 3166-1 alpha-2 code", cc)
		}
	}
	return nil
}

func day(t time.Time) string { return t.Format(time.DateOnly) }

// comparePeriodCountry orders report rows by period, then the
// partnership's country, then the partnership.
func (env *Env) comparePeriodCountry(a, b time.Time, psA, psB string) int {
	return cmp.Or(a.Compare(b),
		strings.Compare(env.Catalog.Partnerships[psA].Country, env.Catalog.Partnerships[psB].Country),
		strings.Compare(psA, psB))
}

// Env is what reports read: ClickHouse, the catalog, and the countries'
// time zones.
type Env struct {
	Conn    driver.Conn
	Catalog *catalog.Snapshot
	Zones   map[string]*time.Location // by country; missing: UTC
}

// NewEnv is the Env a command reads once: the events in conn, snap and
// the countries' time zones as stored now in db. A server keeps a Zones
// instead, and builds each Env with its Env method.
func NewEnv(ctx context.Context, conn driver.Conn, db *pgxpool.Pool, snap *catalog.Snapshot) (*Env, error) {
	return NewZones(db, nil).Env(ctx, conn, snap)
}

func (e *Env) zone(cc string) *time.Location {
	if z, ok := e.Zones[cc]; ok && z != nil {
		return z
	}
	return time.UTC
}

// scopedPartnerships returns the partnerships p covers, grouped by the
// time zone of their country.
func (e *Env) scopedPartnerships(p Params) map[string][]catalog.Partnership {
	want := map[string]bool{}
	for _, id := range p.Partnerships {
		want[id] = true
	}
	out := map[string][]catalog.Partnership{}
	for _, ps := range e.Catalog.Partnerships {
		if p.Countries != nil && !slices.Contains(p.Countries, ps.Country) {
			continue
		}
		if p.Partner != "" && ps.Partner != p.Partner {
			continue
		}
		if p.Partnerships != nil && !want[ps.ID] {
			continue
		}
		tz := e.zone(ps.Country).String()
		out[tz] = append(out[tz], ps)
	}
	for _, list := range out {
		sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	}
	return out
}

// bounds returns the UTC instants of local midnight at from and after to.
func bounds(from, to time.Time, loc *time.Location) (time.Time, time.Time) {
	a := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, loc)
	b := time.Date(to.Year(), to.Month(), to.Day(), 0, 0, 0, 0, loc).AddDate(0, 0, 1)
	return a.UTC(), b.UTC()
}

// bucketSQL is the ClickHouse expression of a row's period for column col
// (a DateTime) in time zone tz, which must be a valid zone name (it comes
// from time.LoadLocation, not from a request); the zone cannot be bound.
func bucketSQL(granularity, col, tz string) string {
	q := "'" + strings.ReplaceAll(tz, "'", "") + "'"
	switch granularity {
	case Day:
		return "toDate(" + col + ", " + q + ")"
	case Week:
		return "toMonday(toDate(" + col + ", " + q + "))"
	case Month:
		return "toStartOfMonth(toDate(" + col + ", " + q + "))"
	}
	return "toDate('1970-01-01')"
}

// comparePeriod is the earlier period Compare names.
func comparePeriod(p Params) (time.Time, time.Time) {
	if p.Compare == CompareYear {
		return p.From.AddDate(-1, 0, 0), p.To.AddDate(-1, 0, 0)
	}
	days := int(p.To.Sub(p.From).Hours()/24) + 1
	return p.From.AddDate(0, 0, -days), p.From.AddDate(0, 0, -1)
}

// Table is a report's result: typed columns, rows and notes (what is
// approximate, what was left out).
type Table struct {
	Report  string   `json:"report"`
	Columns []Column `json:"columns"`
	Rows    [][]any  `json:"rows"`
	Notes   []string `json:"notes,omitempty"`
}

// Column kinds.
const (
	KindText    = "text"
	KindInt     = "int"
	KindDecimal = "decimal"
	KindRatio   = "ratio" // a float64 share or change; nil when undefined
	KindDate    = "date"
)

// Column names and types one column.
type Column struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
}

func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case uint64:
		return strconv.FormatUint(x, 10)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', 4, 64)
	case decimal.Decimal:
		return x.StringFixed(2)
	case time.Time:
		return x.Format(time.DateOnly)
	}
	return fmt.Sprint(v)
}

// Write writes t as table, csv (RFC 4180, header row), json (an object
// per row, plus the columns and notes) or xlsx (the cells of the csv,
// typed: see WriteXLSX).
func (t *Table) Write(w io.Writer, format string) error {
	switch format {
	case FormatXLSX:
		return WriteXLSX(w, t.Report, t.Columns, t.rawCells(), t.Notes)
	case FormatCSV:
		cw := csv.NewWriter(w)
		head := make([]string, len(t.Columns))
		for i, c := range t.Columns {
			head[i] = c.Name
		}
		_ = cw.Write(head)
		for _, r := range t.Rows {
			rec := make([]string, len(r))
			for i, v := range r {
				rec[i] = cell(v)
			}
			_ = cw.Write(rec)
		}
		cw.Flush()
		return cw.Error()
	case FormatJSON:
		items := make([]map[string]any, len(t.Rows))
		for i, r := range t.Rows {
			m := make(map[string]any, len(r))
			for j, v := range r {
				switch x := v.(type) {
				case decimal.Decimal:
					m[t.Columns[j].Name] = x.String()
				case time.Time:
					m[t.Columns[j].Name] = x.Format(time.DateOnly)
				default:
					m[t.Columns[j].Name] = x
				}
			}
			items[i] = m
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Report  string           `json:"report"`
			Columns []Column         `json:"columns"`
			Items   []map[string]any `json:"items"`
			Total   int              `json:"total"`
			Notes   []string         `json:"notes,omitempty"`
		}{t.Report, t.Columns, items, len(items), t.Notes})
	case FormatTable, "":
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		for _, c := range t.Columns {
			fmt.Fprint(tw, strings.ToUpper(strings.ReplaceAll(c.Name, "_", " "))+"\t")
		}
		fmt.Fprintln(tw)
		for _, r := range t.Rows {
			for _, v := range r {
				s := cell(v)
				if s == "" {
					s = "-"
				}
				fmt.Fprint(tw, s+"\t")
			}
			fmt.Fprintln(tw)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, n := range t.Notes {
			fmt.Fprintln(w, "note: "+n)
		}
		return nil
	}
	return fmt.Errorf("format %q: want table, csv, json or xlsx", format)
}

// ratio is a/b, nil when b is zero.
func ratio(a, b float64) any {
	if b == 0 {
		return nil
	}
	return a / b
}
