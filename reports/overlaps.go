package reports

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"golang.org/x/sync/errgroup"

	"github.com/xpromo/xpromo/lib/chdb"
)

// OutOfScope replaces, in the overlaps report, the id of every overlapping
// partnership the reader may not see; they are counted together.
const OutOfScope = "other (out of scope)"

// A user is (source, user_id); a signup without a user id cannot be
// matched to any other and counts as a user of its own. Only attributed
// signups count (new_user, returning_user), read FINAL (the latest
// computation); an overlap naming the winner itself is ignored.
// Overlapping partnerships outside the reader's scope become the empty string in SQL
// (no partnership id is empty) and OutOfScope in the table.
const (
	ovUserSQL = `source, user_id, if(user_id = '', conversion, '')`
	ovOthers  = `arrayDistinct(arrayMap(x -> if(has(?, x), x, ''), arrayFilter(x -> x != partnership, overlaps)))`
	ovPairSQL = `SELECT partnership, b, other,
  uniqExact(` + ovUserSQL + `),
  uniqExactIf(` + ovUserSQL + `, outcome = 'new_user')
FROM (
  SELECT partnership, %s AS b, conversion, source, user_id, outcome, ` + ovOthers + ` AS others
  FROM attributions FINAL
  WHERE partnership IN (SELECT arrayJoin(?)) AND ts >= ? AND ts < ?
    AND outcome IN ('new_user', 'returning_user')
)
ARRAY JOIN others AS other
GROUP BY partnership, b, other`
	ovWinnerSQL = `SELECT partnership, %s AS b, uniqExactIf(` + ovUserSQL + `, outcome = 'new_user')
FROM attributions FINAL
WHERE partnership IN (SELECT arrayJoin(?)) AND ts >= ? AND ts < ?
  AND outcome IN ('new_user', 'returning_user')
GROUP BY partnership, b`
	ovTotalSQL = `SELECT uniqExact(` + ovUserSQL + `)
FROM attributions FINAL
WHERE outcome IN ('new_user', 'returning_user') AND notEmpty(arrayFilter(x -> x != partnership, overlaps)) AND (%s)`
	ovZoneCond = `(partnership IN (SELECT arrayJoin(?)) AND ts >= ? AND ts < ?)`
)

// OverlapsColumns are the columns of the overlaps report.
var OverlapsColumns = []Column{
	{"period", KindDate}, {"country", KindText}, {"partnership", KindText}, {"partner", KindText},
	{"overlapping_partnership", KindText},
	{"contested_users", KindInt}, {"contested_new_users", KindInt}, {"new_users", KindInt}, {"contested_share", KindRatio},
}

type ovKey struct {
	ps     string
	bucket time.Time
	other  string // "" for out of scope
}

type ovPair struct{ users, newUsers uint64 }

// OverlapsReport lists users claimed by more than one partnership: per
// period, winning partnership in scope and each other partnership that
// also had a qualifying click for the user's signup (attributions.overlaps
// of new_user and returning_user signups), the contested users, how many
// of them were the winner's new users, the winner's new users and the
// share of them that was contested. An overlapping partnership outside the
// reader's scope (the Countries and Partner of p; the Partnerships filter
// only narrows the winners) is never named: those are counted together as
// OutOfScope, each user once. A note gives the number of contested users
// in total, each user once however many partnerships claimed them.
// Compare does not apply.
func OverlapsReport(ctx context.Context, env *Env, p Params) (*Table, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	groups := env.scopedPartnerships(p)
	visibleParams := p
	visibleParams.Partnerships = nil
	var visible []string
	for _, list := range env.scopedPartnerships(visibleParams) {
		for _, ps := range list {
			visible = append(visible, ps.ID)
		}
	}
	sort.Strings(visible)

	pairs := map[ovKey]ovPair{}
	winners := map[ovKey]uint64{} // other ""
	var (
		mu      sync.Mutex
		queries errgroup.Group
		conds   []string
		args    []any
	)
	for tz, list := range groups {
		ids := make([]string, len(list))
		for i, ps := range list {
			ids[i] = ps.ID
		}
		a, b := bounds(p.From, p.To, env.zone(list[0].Country))
		conds = append(conds, ovZoneCond)
		args = append(args, ids, a, b)
		bucket := bucketSQL(p.Granularity, "ts", tz)
		queries.Go(func() error {
			pr, wn, err := ovQuery(ctx, env, bucket, visible, ids, a, b)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			for k, v := range pr {
				pairs[k] = v
			}
			for k, v := range wn {
				winners[k] = v
			}
			return nil
		})
	}
	if err := queries.Wait(); err != nil {
		return nil, fmt.Errorf("report overlaps: %w", err)
	}
	var total uint64
	if len(conds) > 0 {
		q := fmt.Sprintf(ovTotalSQL, strings.Join(conds, " OR "))
		if err := env.Conn.QueryRow(ctx, q, args...).Scan(&total); err != nil {
			return nil, fmt.Errorf("report overlaps: total: %w", err)
		}
	}

	keys := slices.SortedFunc(maps.Keys(pairs), func(a, b ovKey) int {
		if c := env.comparePeriodCountry(a.bucket, b.bucket, a.ps, b.ps); c != 0 {
			return c
		}
		if (a.other == "") != (b.other == "") {
			if a.other == "" {
				return 1 // out of scope last
			}
			return -1
		}
		return strings.Compare(a.other, b.other)
	})
	t := &Table{Report: "overlaps", Columns: append([]Column(nil), OverlapsColumns...), Rows: [][]any{}}
	for _, k := range keys {
		pr := pairs[k]
		ps := env.Catalog.Partnerships[k.ps]
		period := bucketCell(p, k.bucket)
		other := k.other
		if other == "" {
			other = OutOfScope
		}
		nu := winners[ovKey{ps: k.ps, bucket: k.bucket}]
		t.Rows = append(t.Rows, []any{period, ps.Country, k.ps, ps.Partner, other,
			pr.users, pr.newUsers, nu, ratio(float64(pr.newUsers), float64(nu))})
	}
	t.Notes = append(t.Notes,
		fmt.Sprintf("contested users in total: %d (attributed signups of the partnerships shown for which another partnership also had a qualifying click; each user once)", total),
		"contested_share = contested_new_users / new_users of the winning partnership; a user is a (source, user id) pair")
	t.notePeriods(p, "periods are days in each country's own time zone", noCompare)
	return t, nil
}

func ovQuery(ctx context.Context, env *Env, bucket string, visible, ids []string, from, to time.Time) (map[ovKey]ovPair, map[ovKey]uint64, error) {
	pairs := map[ovKey]ovPair{}
	err := chdb.Each(ctx, env.Conn, fmt.Sprintf(ovPairSQL, bucket), []any{visible, ids, from, to}, func(r driver.Rows) error {
		var (
			k  ovKey
			pr ovPair
		)
		if err := r.Scan(&k.ps, &k.bucket, &k.other, &pr.users, &pr.newUsers); err != nil {
			return err
		}
		k.bucket = balCalendarDay(k.bucket)
		pairs[k] = pr
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("overlaps: %w", err)
	}
	winners := map[ovKey]uint64{}
	err = chdb.Each(ctx, env.Conn, fmt.Sprintf(ovWinnerSQL, bucket), []any{ids, from, to}, func(r driver.Rows) error {
		var (
			k  ovKey
			nu uint64
		)
		if err := r.Scan(&k.ps, &k.bucket, &nu); err != nil {
			return err
		}
		k.bucket = balCalendarDay(k.bucket)
		winners[k] = nu
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("overlaps: new users: %w", err)
	}
	return pairs, winners, nil
}
