package reports

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/lib/pgdb"
)

// Cross-country results: how a partner does in each country where it has
// a partnership, in figures that compare across markets, for every
// country manager. What crosses a country's boundary is decided here,
// once, for the API, the dashboard and the CLI alike (docs/AUTH.md,
// "Across countries"): a reader who may not read a country gets its
// partnerships' normalized rates, ranks, bands, dates and notes, never a
// count, an amount, an id of a partnership, link, user or order.

// Cross selects the cross-country results a reader asks for. The Env it
// runs on must hold the whole catalog (not the reader's part of it): the
// rates of other countries are computed from their data, and Reader
// decides what of it is shown.
type Cross struct {
	Reader    access.Principal
	Now       time.Time // "running for" and the terms in force are as of Now
	From, To  time.Time // calendar days, both included, each country's own
	MinClicks uint64    // a country counts as "doing well" from this many clicks; 0 is DefaultMinClicks
	Playbooks map[string]catalog.Playbook
	Origins   map[string]catalog.Origin // by replicated partnership
	Missing   string                    // what could not be read (a note first in the table)
}

// DefaultMinClicks: below it a rate says little (one new user in three
// clicks is not a market that works).
const DefaultMinClicks = 100

// DefaultCrossDays is the period the cross-country results cover when
// none is given: the 90 days before today.
const DefaultCrossDays = 90

// NewCross is what reader reads at now by default: the DefaultCrossDays
// before today (UTC), DefaultMinClicks.
func NewCross(reader access.Principal, now time.Time) Cross {
	now = now.UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	return Cross{Reader: reader, Now: now, From: today.AddDate(0, 0, -DefaultCrossDays), To: today.AddDate(0, 0, -1)}
}

// ReadCross is NewCross changed by a request's from, to (YYYY-MM-DD) and
// min_clicks (a positive integer), as the API and the dashboard take
// them. Mistakes are a *ParamError.
func ReadCross(reader access.Principal, now time.Time, q url.Values) (Cross, error) {
	c := NewCross(reader, now)
	par := Params{From: c.From, To: c.To}
	if err := par.ReadDates(q); err != nil {
		return c, &ParamError{err.Error()}
	}
	c.From, c.To = par.From, par.To
	if v := q.Get("min_clicks"); v != "" {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 {
			return c, &ParamError{"min_clicks must be a positive integer"}
		}
		c.MinClicks = n
	}
	if err := c.Validate(); err != nil {
		return c, &ParamError{err.Error()}
	}
	return c, nil
}

// ReadNotes gives c the playbooks and origins kept in store. They live in
// PostgreSQL only: while it is down c goes without them and says so
// (Missing), as reports go on from the trackers' copy of the catalog.
func (c *Cross) ReadNotes(ctx context.Context, store *catalog.Store) error {
	var err error
	if c.Playbooks, err = store.Playbooks(ctx); err == nil {
		c.Origins, err = store.Origins(ctx)
	}
	if pgdb.Unavailable(err) {
		c.Playbooks, c.Origins = nil, nil
		c.Missing = "playbook notes and origins are left out: the catalog database is unavailable"
		return nil
	}
	return err
}

// Listed reports whether partner is in the cross-country results p may
// read: a partner with a partnership somewhere is; one without is a
// directory entry, listed only to whom access.Visible shows it.
func Listed(p access.Principal, snap *catalog.Snapshot, partner string) bool {
	if _, ok := snap.Partners[partner]; !ok {
		return false
	}
	for _, ps := range snap.Partnerships {
		if ps.Partner == partner {
			return true
		}
	}
	_, ok := access.Visible(p, snap).Partners[partner]
	return ok
}

// Validate checks c.
func (c Cross) Validate() error {
	return Params{From: c.From, To: c.To}.Validate()
}

// crossPS is one partnership's figures over the period and the one before.
type crossPS struct {
	ps                    catalog.Partnership
	since                 time.Time
	status                string
	clicks, newIn, newOut uint64
	newPrev               uint64
	revIn, revOut         decimal.Decimal
	currency              string
	rate, share, balance  any // float64 or nil
	trend                 any
	rank, revRank         int // among the partner's countries, 1 = best; 0: no rank
}

// crossFigures reads every partnership's figures and computes the rates
// and ranks.
func crossFigures(ctx context.Context, env *Env, c Cross) (map[string]*crossPS, error) {
	p := Params{From: c.From, To: c.To, Compare: ComparePrevious}
	cur, err := collectPartnerships(ctx, env, p, p.From, p.To)
	if err != nil {
		return nil, err
	}
	pf, pt := comparePeriod(p)
	prev, err := collectPartnerships(ctx, env, p, pf, pt)
	if err != nil {
		return nil, err
	}
	out := map[string]*crossPS{}
	for id, ps := range env.Catalog.Partnerships {
		r := &crossPS{ps: ps}
		versions := env.Catalog.Terms[id]
		for _, v := range versions {
			if r.since.IsZero() || v.StartDate.Before(r.since) {
				r.since = v.StartDate
			}
		}
		if t, ok := catalog.TermsInForce(versions, c.Now); ok {
			r.status = t.Status
		}
		out[id] = r
	}
	for k, a := range cur {
		r := out[k.ps]
		if r == nil {
			continue
		}
		r.clicks += a.clicks
		if a.repCurrency != "" {
			r.currency = a.repCurrency
		}
		if k.dir == vocab.Outbound {
			r.newOut += a.newUsers
			r.revOut = r.revOut.Add(a.revenue)
		} else {
			r.newIn += a.newUsers
			r.revIn = r.revIn.Add(a.revenue)
		}
	}
	for k, a := range prev {
		if r := out[k.ps]; r != nil {
			r.newPrev += a.newUsers
		}
	}
	countryNew := map[string]uint64{}
	for _, r := range out {
		countryNew[r.ps.Country] += r.newIn
	}
	byPartner := map[string][]*crossPS{}
	for _, r := range out {
		r.rate = per1k(r.newIn+r.newOut, r.clicks)
		r.share = ratio(float64(r.newIn), float64(countryNew[r.ps.Country]))
		r.balance = ratio(float64(r.newIn), float64(r.newOut))
		if r.newPrev > 0 {
			r.trend = (float64(r.newIn+r.newOut) - float64(r.newPrev)) / float64(r.newPrev)
		}
		byPartner[r.ps.Partner] = append(byPartner[r.ps.Partner], r)
	}
	for _, list := range byPartner {
		rankBy(list, func(r *crossPS) (float64, bool) { f, ok := r.rate.(float64); return f, ok }, func(r *crossPS, n int) { r.rank = n })
		rankBy(list, func(r *crossPS) (float64, bool) {
			f, _ := r.revIn.Float64() // ordering only: the amount itself is never shown from here
			return f, !r.revIn.IsZero()
		}, func(r *crossPS, n int) { r.revRank = n })
	}
	return out, nil
}

// per1k is n per 1,000 of d, rounded to 0.1; nil when d is 0.
func per1k(n, d uint64) any {
	if d == 0 {
		return nil
	}
	return math.Round(float64(n)*10000/float64(d)) / 10
}

// rankBy sets the competition rank (1, 2, 2, 4) of each item of list by
// the value key gives, highest first; items without a value get none.
func rankBy[T any](list []T, key func(T) (float64, bool), set func(T, int)) {
	type kv struct {
		v    float64
		item T
	}
	var ranked []kv
	for _, it := range list {
		set(it, 0)
		if v, ok := key(it); ok {
			ranked = append(ranked, kv{v, it})
		}
	}
	slices.SortStableFunc(ranked, func(a, b kv) int { return cmp.Compare(b.v, a.v) })
	n := 0
	for i, e := range ranked {
		if i == 0 || e.v != ranked[i-1].v {
			n = i + 1
		}
		set(e.item, n)
	}
}

// ClickBand names the order of magnitude of a click count, which a
// reader of another country sees instead of the count: enough to tell a
// rate of a big market from one of a trial.
func ClickBand(n uint64) string {
	switch {
	case n == 0:
		return "0"
	case n < 100:
		return "1-99"
	case n < 1000:
		return "100-999"
	case n < 10000:
		return "1k-10k"
	case n < 100000:
		return "10k-100k"
	case n < 1000000:
		return "100k-1M"
	}
	return "1M+"
}

// PartnerCountriesColumns are the columns of PartnerCountries. The ones
// after "playbook_at" are the reader's own countries' only (blank for
// the others).
var PartnerCountriesColumns = []Column{
	{"country", KindText}, {"own", KindText}, {"direction", KindText}, {"status", KindText},
	{"since", KindDate}, {"days_running", KindInt}, {"replicated_from", KindText},
	{"clicks_band", KindText}, {"new_users_per_1k_clicks", KindRatio}, {"share_of_country_new_users", KindRatio},
	{"balance_ratio", KindRatio}, {"trend", KindRatio}, {"rank", KindInt}, {"revenue_rank", KindInt},
	{"playbook", KindText}, {"playbook_by", KindText}, {"playbook_at", KindDate},
	{"partnership", KindText}, {"clicks", KindInt}, {"new_users_in", KindInt}, {"new_users_out", KindInt},
	{"revenue_in", KindDecimal}, {"revenue_out", KindDecimal}, {"currency", KindText},
}

// PartnerCountries is one row per country where partner has a
// partnership: normalized results for every reader, counts and money for
// the reader's own countries. Rows are ranked (best rate first).
func PartnerCountries(ctx context.Context, env *Env, c Cross, partner string) (*Table, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	all, err := crossFigures(ctx, env, c)
	if err != nil {
		return nil, fmt.Errorf("partner countries: %w", err)
	}
	var list []*crossPS
	for _, r := range all {
		if r.ps.Partner == partner {
			list = append(list, r)
		}
	}
	slices.SortFunc(list, func(a, b *crossPS) int {
		return cmp.Or(cmp.Compare(rankKey(a.rank), rankKey(b.rank)), strings.Compare(a.ps.Country, b.ps.Country))
	})
	t := &Table{Report: "partner_countries", Columns: PartnerCountriesColumns, Rows: [][]any{}}
	for _, r := range list {
		t.Rows = append(t.Rows, c.row(r))
	}
	t.Notes = append(crossNotes(c),
		"rank: among the partner's countries by new users per 1,000 clicks; revenue_rank: by revenue received",
		"counts, money and the partnership's id are shown for your own countries only (docs/AUTH.md, \"Across countries\")")
	return t, nil
}

func rankKey(n int) int {
	if n == 0 {
		return math.MaxInt
	}
	return n
}

// row is r as c's reader may see it.
func (c Cross) row(r *crossPS) []any {
	days := any(nil)
	var since any
	if !r.since.IsZero() {
		since = r.since
		if d := int64(c.Now.Sub(r.since).Hours() / 24); d >= 0 {
			days = d
		}
	}
	var origin any
	if o, ok := c.Origins[r.ps.ID]; ok {
		origin = o.Country
	}
	var note, by, at any
	if pb, ok := c.Playbooks[r.ps.ID]; ok {
		note, by, at = pb.Note, pb.UpdatedBy, pb.UpdatedAt
	}
	own := c.Reader.CanReadCountry(r.ps.Country)
	row := []any{r.ps.Country, yesNo(own), r.ps.Direction, r.status, since, days, origin,
		ClickBand(r.clicks), r.rate, r.share, r.balance, r.trend, rankCell(r.rank), rankCell(r.revRank),
		note, by, at}
	if !own {
		return append(row, nil, nil, nil, nil, nil, nil, nil)
	}
	cur := any(nil)
	if r.currency != "" {
		cur = r.currency
	}
	return append(row, r.ps.ID, r.clicks, r.newIn, r.newOut, r.revIn, r.revOut, cur)
}

func rankCell(n int) any {
	if n == 0 {
		return nil
	}
	return int64(n)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// crossNotes are the notes of both tables: what is missing, the period
// and the figures' definitions.
func crossNotes(c Cross) []string {
	var notes []string
	if c.Missing != "" {
		notes = append(notes, c.Missing)
	}
	return append(notes,
		fmt.Sprintf("period %s to %s (each country's own days), trend against the %d days before", day(c.From), day(c.To), int(c.To.Sub(c.From).Hours()/24)+1),
		"new_users_per_1k_clicks: new users of both directions per 1,000 clicks of both; share_of_country_new_users: this partnership's inbound new users among all partnerships' in its country; balance_ratio: new users received / given; trend: (new users - earlier) / earlier",
	)
}

// PartnerInsightsColumns are the columns of PartnerInsights.
var PartnerInsightsColumns = []Column{
	{"partner", KindText}, {"name", KindText}, {"countries", KindInt}, {"country_list", KindText},
	{"best_country", KindText}, {"best_new_users_per_1k_clicks", KindRatio}, {"median_new_users_per_1k_clicks", KindRatio},
	{"best_share_of_country_new_users", KindRatio}, {"trend", KindRatio}, {"absent_from", KindText}, {"playbooks", KindInt},
}

// PartnerInsights is one row per partner: where it runs and how well, by
// its countries with at least MinClicks clicks (the others are listed,
// not ranked), best first. With absentFrom, only partners that run in
// none of those countries and do well somewhere: "what works elsewhere".
// absent_from lists which of the reader's countries (every country for
// a reader of all) lack the partner; for an admin or finance reader with
// no absentFrom it is left blank.
func PartnerInsights(ctx context.Context, env *Env, c Cross, absentFrom []string) (*Table, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	minClicks := c.MinClicks
	if minClicks == 0 {
		minClicks = DefaultMinClicks
	}
	all, err := crossFigures(ctx, env, c)
	if err != nil {
		return nil, fmt.Errorf("partner insights: %w", err)
	}
	byPartner := map[string][]*crossPS{}
	for _, r := range all {
		byPartner[r.ps.Partner] = append(byPartner[r.ps.Partner], r)
	}
	mine := absentFrom
	if mine == nil && c.Reader.Role == access.RoleCountryManager {
		mine = c.Reader.Countries
	}
	type partnerRow struct {
		best any
		row  []any
	}
	var rows []partnerRow
	for id, list := range byPartner {
		slices.SortFunc(list, func(a, b *crossPS) int { return strings.Compare(a.ps.Country, b.ps.Country) })
		var (
			countries      []string
			rates          []float64
			best, bestShr  any
			bestCC         any
			newCur, newOld uint64
			notes          int64
		)
		present := map[string]bool{}
		for _, r := range list {
			countries = append(countries, r.ps.Country)
			present[r.ps.Country] = true
			if _, ok := c.Playbooks[r.ps.ID]; ok {
				notes++
			}
			newCur += r.newIn + r.newOut
			newOld += r.newPrev
			f, ok := r.rate.(float64)
			if !ok || r.clicks < minClicks {
				continue
			}
			rates = append(rates, f)
			if b, _ := best.(float64); best == nil || f > b {
				best, bestCC = f, r.ps.Country
			}
			if s, ok := r.share.(float64); ok {
				if b, _ := bestShr.(float64); bestShr == nil || s > b {
					bestShr = s
				}
			}
		}
		var absent []string
		for _, cc := range mine {
			if !present[cc] {
				absent = append(absent, cc)
			}
		}
		if absentFrom != nil && (len(absent) < len(absentFrom) || best == nil) {
			continue // runs in one of them already, or does well nowhere yet
		}
		var trend any
		if newOld > 0 {
			trend = (float64(newCur) - float64(newOld)) / float64(newOld)
		}
		var absentCell any
		if mine != nil {
			absentCell = strings.Join(absent, " ")
		}
		rows = append(rows, partnerRow{best, []any{id, env.Catalog.Partners[id].Name, int64(len(countries)), strings.Join(countries, " "),
			bestCC, best, median(rates), bestShr, trend, absentCell, notes}})
	}
	slices.SortFunc(rows, func(a, b partnerRow) int {
		af, aok := a.best.(float64)
		bf, bok := b.best.(float64)
		switch {
		case aok && bok && af != bf:
			return cmp.Compare(bf, af)
		case aok != bok:
			if aok {
				return -1
			}
			return 1
		}
		return strings.Compare(a.row[0].(string), b.row[0].(string))
	})
	t := &Table{Report: "partner_insights", Columns: PartnerInsightsColumns, Rows: [][]any{}}
	for _, r := range rows {
		t.Rows = append(t.Rows, r.row)
	}
	t.Notes = append(crossNotes(c), fmt.Sprintf("best and median over the countries with at least %d clicks in the period", minClicks))
	return t, nil
}

// AbsentFrom reads the countries "what works elsewhere" looks for
// partners for, from a request's country (comma-separated ISO codes) and
// absent ("true", "false"; "" is byDefault): nil when it filters nothing.
// With absent and no country, a country manager's own countries; another
// reader must name them. Mistakes are a *ParamError.
func AbsentFrom(p access.Principal, country, absent string, byDefault bool) ([]string, error) {
	var countries []string
	if country != "" {
		for _, cc := range strings.Split(country, ",") {
			cc = strings.ToUpper(strings.TrimSpace(cc))
			if fe := catalog.ValidCountry("country", cc); fe != nil {
				return nil, &ParamError{fe.Error()}
			}
			countries = append(countries, cc)
		}
	}
	on := byDefault
	if absent != "" {
		b, err := strconv.ParseBool(absent)
		if err != nil {
			return nil, &ParamError{"absent must be true or false"}
		}
		on = b
	}
	switch {
	case !on:
		return nil, nil
	case countries != nil:
		return countries, nil
	case p.Role != access.RoleCountryManager:
		return nil, &ParamError{"absent=true needs country= (the countries to find partners for)"}
	}
	return slices.Clone(p.Countries), nil
}

// median of vs, nil when empty.
func median(vs []float64) any {
	if len(vs) == 0 {
		return nil
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
