package reports

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// VisitorsColumns are the columns of the visitors report. country is the
// partnership's (the scope, as in every report); visitor_country the
// hit's, by IP: the row dimension.
var VisitorsColumns = []Column{
	{"period", KindDate}, {"partnership", KindText}, {"partner", KindText}, {"country", KindText},
	{"visitor_country", KindText}, {"clicks", KindInt}, {"unique_visitors", KindInt}, {"views", KindInt},
}

// Clicks and views of bots count only with include_bots (? = 1); unique
// visitors are the exact number of distinct visitor ids among counted
// clicks, read from the raw hits (the rollup has no visitor country).
// Values are bound client-side: 18.16 has no server parameters.
const visitorsSQL = `
SELECT
    partnership,
    %s AS b,
    country,
    countIf(kind = 'click' AND (is_bot = 0 OR ? = 1)) AS clicks,
    uniqExactIf(visitor, kind = 'click' AND (is_bot = 0 OR ? = 1)) AS unique_visitors,
    countIf(kind = 'view' AND (is_bot = 0 OR ? = 1)) AS views
FROM hits
WHERE partnership IN (SELECT arrayJoin(?)) AND ts >= ? AND ts < ?
  AND kind IN ('click', 'view')
GROUP BY partnership, b, country
HAVING clicks + views > 0`

type visitorsKey struct {
	ps      string
	bucket  time.Time
	country string // the visitor's
}

type visitorsCounts struct{ clicks, visitors, views uint64 }

// VisitorsReport counts, per period, partnership in scope and visitor
// country (the hit's, by IP): clicks, exact unique visitors among them
// and views. The scope is the partnerships', as in every report (a
// country manager sees the visitors of its countries' partnerships,
// wherever they came from); days are in the partnership's country's time
// zone. Compare does not apply.
func VisitorsReport(ctx context.Context, env *Env, p Params) (*Table, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	bots := uint8(0)
	if p.IncludeBots {
		bots = 1
	}
	counts := map[visitorsKey]visitorsCounts{}
	rd := newReads(ctx, env)
	for tz, list := range env.scopedPartnerships(p) {
		ids := make([]string, len(list))
		for i, ps := range list {
			ids[i] = ps.ID
		}
		a, b := bounds(p.From, p.To, env.zone(list[0].Country))
		q := fmt.Sprintf(visitorsSQL, bucketSQL(p.Granularity, "ts", tz))
		rd.read("hits", q, []any{bots, bots, bots, ids, a, b}, func(r driver.Rows) error {
			var (
				k visitorsKey
				c visitorsCounts
			)
			if err := r.Scan(&k.ps, &k.bucket, &k.country, &c.clicks, &c.visitors, &c.views); err != nil {
				return err
			}
			k.bucket = balCalendarDay(k.bucket)
			counts[k] = c
			return nil
		})
	}
	if err := rd.wait(); err != nil {
		return nil, fmt.Errorf("report visitors: %w", err)
	}

	keys := slices.SortedFunc(maps.Keys(counts), func(a, b visitorsKey) int {
		return cmp.Or(a.bucket.Compare(b.bucket), strings.Compare(a.ps, b.ps), strings.Compare(a.country, b.country))
	})
	t := &Table{Report: "visitors", Columns: append([]Column(nil), VisitorsColumns...), Rows: [][]any{}}
	for _, k := range keys {
		c := counts[k]
		ps := env.Catalog.Partnerships[k.ps]
		period := bucketCell(p, k.bucket)
		t.Rows = append(t.Rows, []any{period, k.ps, ps.Partner, ps.Country, k.country, c.clicks, c.visitors, c.views})
	}
	t.Notes = append(t.Notes, "visitor_country is where the hits came from (by IP); country is the partnership's")
	t.notePeriods(p, "periods are days in each partnership's country's own time zone", noCompare)
	return t, nil
}
