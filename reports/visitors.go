package reports

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
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
	var (
		mu      sync.Mutex
		queries errgroup.Group
	)
	for tz, list := range env.scopedPartnerships(p) {
		ids := make([]string, len(list))
		for i, ps := range list {
			ids[i] = ps.ID
		}
		a, b := bounds(p.From, p.To, env.zone(list[0].Country))
		q := fmt.Sprintf(visitorsSQL, bucketSQL(p.Granularity, "ts", tz))
		queries.Go(func() error {
			rows, err := env.Conn.Query(ctx, q, bots, bots, bots, ids, a, b)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var (
					k visitorsKey
					c visitorsCounts
				)
				if err := rows.Scan(&k.ps, &k.bucket, &k.country, &c.clicks, &c.visitors, &c.views); err != nil {
					return err
				}
				k.bucket = balCalendarDay(k.bucket)
				mu.Lock()
				counts[k] = c
				mu.Unlock()
			}
			return rows.Err()
		})
	}
	if err := queries.Wait(); err != nil {
		return nil, fmt.Errorf("report visitors: %w", err)
	}

	keys := make([]visitorsKey, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if !a.bucket.Equal(b.bucket) {
			return a.bucket.Before(b.bucket)
		}
		if a.ps != b.ps {
			return a.ps < b.ps
		}
		return a.country < b.country
	})
	t := &Table{Report: "visitors", Columns: append([]Column(nil), VisitorsColumns...), Rows: [][]any{}}
	for _, k := range keys {
		c := counts[k]
		ps := env.Catalog.Partnerships[k.ps]
		var period any = k.bucket
		if p.Granularity == Total {
			period = nil
		}
		t.Rows = append(t.Rows, []any{period, k.ps, ps.Partner, ps.Country, k.country, c.clicks, c.visitors, c.views})
	}
	t.Notes = append(t.Notes, "visitor_country is where the hits came from (by IP); country is the partnership's")
	if p.Granularity != Total {
		t.Notes = append(t.Notes, "periods are days in each partnership's country's own time zone")
	}
	if p.Compare != "" {
		t.Notes = append(t.Notes, "compare does not apply to this report")
	}
	return t, nil
}
