package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/http/view"
	"github.com/xpromo/xpromo/http/web/chart"
	"github.com/xpromo/xpromo/reports"
)

// kpi is one headline figure with its earlier-period value.
type kpi struct {
	Name, Label, Raw, Text string
	Prev, Change           string // "" without a comparison
}

type countryData struct {
	Country   string
	KPIs      []kpi
	Trend     chart.Line
	Others    []catalog.Partnership // partnerships of the country without activity in the period
	Currency  string
	LinkQuery template.URL // the period, kept on links to partnership pages
}

// runReport runs a report by name as GET /v1/reports/NAME does.
func runReport(ctx context.Context, env *reports.Env, name string, par reports.Params, by string) (*reports.Table, error) {
	rep, ok := reports.Registry[name]
	if !ok {
		return nil, fmt.Errorf("report %s: unknown", name)
	}
	t, err := rep.Run(ctx, env, par, by)
	var bad *reports.ParamError
	switch {
	case errors.As(err, &bad):
		return nil, badRequest(bad.Error())
	case errors.Is(err, reports.ErrNoPartnership):
		return nil, notFound("Partnership")
	case err != nil:
		return nil, fmt.Errorf("report %s: %w", name, err)
	}
	return t, nil
}

// scoped sets par's scope from the reader's, narrowed to countries (none:
// not narrowed), exactly as the API's ?country= does.
func (q *req) scoped(par *reports.Params, countries ...string) {
	scope := q.p.Scope().WithCountries(countries...)
	if scope.None() {
		par.Countries = []string{}
	} else {
		par.Countries, par.Partner = scope.Countries, scope.Partner
	}
}

// countryPeriod is the period the page's form asks for, its days those of
// country cc's time zone (UTC when it has none).
func (s *Server) countryPeriod(q *req, env *reports.Env, cc string) (reports.Params, *periodForm, error) {
	loc := time.UTC
	if z := env.Zones[cc]; z != nil {
		loc = z
	}
	return period(q.r.URL.Query(), s.cfg.Now(), loc)
}

// runPageReports runs what the country and partnership pages show of
// par: the partnerships report, its daily series and the balance.
func runPageReports(ctx context.Context, env *reports.Env, par reports.Params) (act, daily, bal *reports.Table, err error) {
	if act, err = runReport(ctx, env, "partnerships", par, ""); err != nil {
		return nil, nil, nil, err
	}
	byDay := par
	byDay.Granularity = reports.Day
	if daily, err = runReport(ctx, env, "partnerships", byDay, ""); err != nil {
		return nil, nil, nil, err
	}
	if bal, err = runReport(ctx, env, "balance", par, ""); err != nil {
		return nil, nil, nil, err
	}
	return act, daily, bal, nil
}

func rowKey(cols ...string) func(map[string]any) string {
	return func(m map[string]any) string {
		parts := make([]string, len(cols))
		for i, c := range cols {
			parts[i] = rawValue(m[c])
		}
		return strings.Join(parts, "/")
	}
}

// countryPage is the overview of one country: its partnerships' balance
// (the balance report, granularity total) and activity (the partnerships
// report), a trend of inbound new users per day against the earlier
// period, and headline figures.
func (s *Server) countryPage(q *req, cc string) (*page, error) {
	cc = strings.ToUpper(cc)
	if catalog.ValidCountry("country", cc) != nil || !q.p.CanReadCountry(cc) {
		return nil, notFound("Country")
	}
	ctx := q.r.Context()
	env, err := s.reportEnv(ctx)
	if err != nil {
		return nil, err
	}
	par, form, err := s.countryPeriod(q, env, cc)
	if err != nil {
		return nil, err
	}
	q.scoped(&par, cc)
	path := "/app/country/" + cc
	act, series, bal, err := runPageReports(ctx, env, par)
	if err != nil {
		return nil, err
	}
	// partnerships: the API's partnerships report, a row per partnership
	// and direction; balance: the API's balance report, a row per
	// partnership. Both for the period and comparison of the form.
	pt := q.f.fromReport("partnerships", "Partnerships", act, rowKey("partnership", "direction"), withoutPeriod(act)...)
	bt := q.f.fromReport("balance", "Balance: received and given", bal, rowKey("partnership"), withoutPeriod(bal)...)
	bt.Empty = balanceEmpty
	seen := map[string]bool{}
	for _, t := range []*Table{pt, bt} {
		t.CSV = csvHref(path, t.Name, form.Query())
		t.LinkQuery = template.URL(form.Query().Encode()) // from url.Values.Encode: safe in a query
		for i := range t.Rows {
			t.Rows[i].Partnership = t.Rows[i].Cell("partnership")
			seen[t.Rows[i].Partnership] = true
		}
	}
	d := &countryData{Country: cc, Currency: s.cfg.ReportingCurrency}
	for _, ps := range env.Catalog.Partnerships {
		if ps.Country == cc && !seen[ps.ID] && access.PartnershipVisible(q.p, ps) {
			d.Others = append(d.Others, ps)
		}
	}
	slices.SortFunc(d.Others, func(a, b catalog.Partnership) int { return strings.Compare(a.ID, b.ID) })
	d.KPIs = s.countryKPIs(q, act, bal, par.Compare != "")
	d.Trend = trend(par, series, "trend", "Inbound new users per day", func(m map[string]any) bool { return m["direction"] == vocab.Inbound }, "new_users")
	d.LinkQuery = template.URL(form.Query().Encode())
	pg := &page{Title: "Country " + cc, Template: "country", Period: form, Tables: []*Table{pt, bt}, Data: d}
	if q.p.WritesPartnerships() && q.p.CanWritePartnership(cc) {
		full, err := s.cfg.Catalog.Load(ctx)
		if err != nil {
			return nil, fmt.Errorf("country page: %w", err)
		}
		pg.Opts = &formOpts{Country: cc, Partners: activePartners(access.Visible(q.p, full))}
	}
	return pg, nil
}

// balanceEmpty is the empty balance's message: the balance counts new
// users, revenue and targets only, so a period with clicks and views but
// none of those has no row, and "no activity" would contradict the
// tables beside it.
const balanceEmpty = "No new users, revenue or targets either way in this period (clicks and views are in the tables above)."

// withoutPeriod drops the period column of a total report (FROM..TO, the
// period the form shows).
func withoutPeriod(t *reports.Table) []string {
	var out []string
	for _, c := range t.Columns {
		if c.Name != "period" {
			out = append(out, c.Name)
		}
	}
	return out
}

func rowMaps(t *reports.Table) []map[string]any {
	out := make([]map[string]any, len(t.Rows))
	for i, r := range t.Rows {
		m := make(map[string]any, len(r))
		for j, v := range r {
			m[t.Columns[j].Name] = v
		}
		out[i] = m
	}
	return out
}

func sumInt(rows []map[string]any, col string, keep func(map[string]any) bool) int64 {
	var n int64
	for _, m := range rows {
		if keep != nil && !keep(m) {
			continue
		}
		switch x := m[col].(type) {
		case uint64:
			n += int64(x)
		case int64:
			n += x
		}
	}
	return n
}

func sumDec(rows []map[string]any, col string, keep func(map[string]any) bool) decimal.Decimal {
	var d decimal.Decimal
	for _, m := range rows {
		if keep != nil && !keep(m) {
			continue
		}
		if x, ok := m[col].(decimal.Decimal); ok {
			d = d.Add(x)
		}
	}
	return d
}

func change(cur, prev float64) string {
	if prev == 0 {
		return ""
	}
	return rawValue((cur - prev) / abs(prev))
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

// countryKPIs: inbound new users and revenue (the partnerships report's
// inbound rows), net users and net revenue (the balance report), summed
// over the country's partnerships, with the earlier period's.
func (s *Server) countryKPIs(q *req, act, bal *reports.Table, compare bool) []kpi {
	ar, br := rowMaps(act), rowMaps(bal)
	inbound := func(m map[string]any) bool { return m["direction"] == vocab.Inbound }
	loc := q.loc
	mk := func(name, lbl string, cur, prev float64, curRaw, curText, prevText string) kpi {
		k := kpi{Name: name, Label: lbl, Raw: curRaw, Text: curText}
		if compare {
			k.Prev = prevText
			if c := change(cur, prev); c != "" {
				var f float64
				fmt.Sscan(c, &f)
				k.Change = loc.Change(f)
			}
		}
		return k
	}
	nu, nuPrev := sumInt(ar, "new_users", inbound), sumInt(ar, "new_users_prev", inbound)
	rev, revPrev := sumDec(ar, "revenue", inbound), sumDec(ar, "revenue_prev", inbound)
	net, netPrev := sumInt(br, "net_users", nil), sumInt(br, "net_users_prev", nil)
	nrev, nrevPrev := sumDec(br, "net_revenue", nil), sumDec(br, "net_revenue_prev", nil)
	cur := s.cfg.ReportingCurrency
	return []kpi{
		mk("new_users", "New users (inbound)", float64(nu), float64(nuPrev), rawValue(nu), loc.Int(nu), loc.Int(nuPrev)),
		mk("revenue", "Revenue (inbound)", rev.InexactFloat64(), revPrev.InexactFloat64(), rev.String(), loc.Money(rev, cur), loc.Money(revPrev, cur)),
		mk("net_users", "Balance: net users", float64(net), float64(netPrev), rawValue(net), loc.Int(net), loc.Int(netPrev)),
		mk("net_revenue", "Balance: net revenue", nrev.InexactFloat64(), nrevPrev.InexactFloat64(), nrev.String(), loc.Money(nrev, cur), loc.Money(nrevPrev, cur)),
	}
}

// trend draws col (and col_prev, the earlier period, when the report has
// it) per day of a day-granularity report, summed over the rows keep
// accepts; days without rows are zero.
func trend(par reports.Params, t *reports.Table, name, title string, keep func(map[string]any) bool, cols ...string) chart.Line {
	labels := days(par.From, par.To)
	idx := make(map[string]int, len(labels))
	for i, l := range labels {
		idx[l] = i
	}
	line := chart.Line{Name: name, Title: title, Labels: labels}
	has := map[string]bool{}
	for _, c := range t.Columns {
		has[c.Name] = true
	}
	rows := rowMaps(t)
	for _, col := range cols {
		for _, cn := range []string{col, col + "_prev"} {
			if !has[cn] {
				continue
			}
			vals := make([]float64, len(labels))
			for _, m := range rows {
				if keep != nil && !keep(m) {
					continue
				}
				d, ok := m["period"].(time.Time)
				if !ok {
					continue
				}
				i, ok := idx[d.Format(time.DateOnly)]
				if !ok {
					continue
				}
				switch x := m[cn].(type) {
				case uint64:
					vals[i] += float64(x)
				case int64:
					vals[i] += float64(x)
				case decimal.Decimal:
					vals[i] += x.InexactFloat64()
				}
			}
			sname := strings.ReplaceAll(col, "_", " ")
			if cn != col {
				sname += " (" + par.Compare + ")"
			}
			line.Series = append(line.Series, chart.Series{Name: sname, Values: vals, Dashed: cn != col})
		}
	}
	return line
}

type partnershipData struct {
	PS         catalog.Partnership
	Partner    catalog.Partner
	Terms      *catalog.Terms
	Series     chart.Line
	Funnel     chart.Bars
	CanLink    bool
	Breakdowns []string
	// CanTerms: the reader may add terms versions (and pause, resume or
	// archive); TermsForm is the form's starting values (the latest
	// version's, effective today), Latest that version (nil: none yet).
	CanTerms  bool
	TermsForm map[string]string
	Latest    *catalog.Terms
	Status    []statusButton
	// Playbook: the partnership's note for the other countries' managers
	// (nil for readers who do not see them).
	Playbook *playbookState
}

// Breakdown dimensions the partnership page shows (by day is the chart).
var pageBreakdowns = []string{reports.ByLink, reports.ByCampaign, reports.BySubID, reports.ByDevice, reports.ByReferrer}

// partnershipPage: one partnership's daily series, funnel per direction,
// balance, breakdowns and links. It answers 404 for a partnership
// outside the reader's scope, as the API does.
func (s *Server) partnershipPage(q *req, id string) (*page, error) {
	if catalog.ValidID("id", id) != nil {
		return nil, notFound("Partnership")
	}
	ctx := q.r.Context()
	env, err := s.reportEnv(ctx)
	if err != nil {
		return nil, err
	}
	ps, ok := env.Catalog.Partnerships[id]
	if !ok || !access.PartnershipVisible(q.p, ps) {
		return nil, notFound("Partnership")
	}
	par, form, err := s.countryPeriod(q, env, ps.Country)
	if err != nil {
		return nil, err
	}
	q.scoped(&par)
	par.Partnerships = []string{id}
	path := "/app/partnerships/" + id
	tot, series, bal, err := runPageReports(ctx, env, par)
	if err != nil {
		return nil, err
	}
	funnel := q.f.fromReport("funnel", "Funnel", tot, rowKey("direction"), "direction", "views", "clicks", "signups", "revenue")
	balance := q.f.fromReport("balance", "Balance: given and received", bal, rowKey("partnership"), withoutPeriod(bal)...)
	balance.Empty = balanceEmpty
	tables := []*Table{funnel, balance}
	d := &partnershipData{PS: ps, Partner: env.Catalog.Partners[ps.Partner]}
	for _, by := range pageBreakdowns {
		bt, err := runReport(ctx, env, "breakdown", par, by)
		if err != nil {
			return nil, err
		}
		tb := q.f.fromReport("breakdown_"+by, "By "+label(by), bt, rowKey(by))
		for i := range tb.Rows {
			// No sub-id, campaign or referrer: the value is "" (as the API
			// answers it); say so rather than show a blank label.
			if c := &tb.Rows[i].Cells[0]; c.Raw == "" {
				c.Text = "(none)"
			}
		}
		tables = append(tables, tb)
		d.Breakdowns = append(d.Breakdowns, tb.Name)
	}
	// Links as the API lists them (a fresh catalog read, so a link just
	// created shows).
	full, err := s.cfg.Catalog.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("partnership page: %w", err)
	}
	links, err := s.linksTable(q, full, func(l catalog.Link) bool { return l.Partnership == id })
	if err != nil {
		return nil, err
	}
	tables = append(tables, links)
	for _, t := range tables {
		t.CSV = csvHref(path, t.Name, form.Query())
		t.Return = path
	}
	if ts := full.Terms[id]; len(ts) > 0 {
		d.Latest = &ts[len(ts)-1]
	}
	if q.p.WritesPartnerships() && q.p.CanWritePartnership(ps.Country) {
		d.CanTerms = true
		d.TermsForm = termsFormValues(d.Latest, s.cfg.Now())
		if d.Latest != nil {
			d.Status = partnershipButtons(id, d.Latest.Status, d.Latest.Version)
		}
	}
	if ts := full.Terms[id]; len(ts) > 0 {
		if t, ok := catalog.TermsInForce(ts, s.cfg.Now()); ok {
			d.Terms = &t
		}
		d.CanLink = q.p.CanCreateLink(ps.Country, ps.Partner, d.Terms != nil && d.Terms.PartnerMayCreateLinks)
	} else {
		d.CanLink = q.p.CanCreateLink(ps.Country, ps.Partner, false)
	}
	if d.Playbook, err = s.partnershipPlaybook(q, ps); err != nil {
		return nil, err
	}
	d.Series = trend(par, series, "series", "Clicks and new users per day", nil, "clicks", "new_users")
	for _, r := range rowMaps(tot) {
		if r["direction"] != vocab.Inbound {
			continue
		}
		for _, c := range []string{"views", "clicks", "signups"} {
			v, _ := r[c].(uint64)
			d.Funnel.Bars = append(d.Funnel.Bars, chart.Bar{Label: c, Value: float64(v), Text: q.loc.Int(int64(v))})
		}
	}
	d.Funnel.Name, d.Funnel.Title = "funnel", "Inbound funnel: views, clicks, signups"
	return &page{Title: "Partnership " + id, Template: "partnership", Period: form, Tables: tables, Data: d}, nil
}

// linkCols are the LinkView fields the links table shows.
var linkCols = []string{"code", "partnership", "direction", "url", "campaign", "status", "expires_at", "tracking_url"}

// linksTable lists the links of snap the reader may see and keep accepts,
// as GET /v1/links shows them, with copy buttons and QR codes.
func (s *Server) linksTable(q *req, snap *catalog.Snapshot, keep func(catalog.Link) bool) (*Table, error) {
	var views []view.LinkView
	for _, l := range snap.Links.All() {
		ps, ok := snap.Partnerships[l.Partnership]
		if !ok || !access.PartnershipVisible(q.p, ps) || !keep(l) {
			continue
		}
		views = append(views, s.linkView(q, snap, l))
	}
	slices.SortFunc(views, func(a, b view.LinkView) int { return strings.Compare(a.Code, b.Code) })
	t, err := objectTable("links", "Links", views, linkCols, func(v view.LinkView) string { return v.Code }, nil)
	if err != nil {
		return nil, err
	}
	for i := range t.Rows {
		t.Rows[i].CopyURL = views[i].TrackingURL
		t.Rows[i].QR = "/app/links/" + views[i].Code + "/qr.png"
		if q.p.WritesPartnerships() && q.p.CanChangeLink(views[i].Country) {
			t.Rows[i].Status = linkButtons(views[i].Link)
		}
	}
	t.Empty = "No links yet."
	return t, nil
}

func (s *Server) linkView(q *req, snap *catalog.Snapshot, l catalog.Link) view.LinkView {
	return view.Link(view.TrackingBase(s.cfg.PublicURL, q.c), snap, l)
}

// linkQR is GET /v1/links/CODE/qr.png for the dashboard: the same PNG.
func (s *Server) linkQR(q *req, code string) error {
	if !catalog.ValidCode(code) {
		return s.errorPage(q.c, q, http.StatusNotFound, "Link not found.")
	}
	snap, err := s.cfg.Catalog.Load(q.r.Context())
	if err != nil {
		return s.fail(q, err)
	}
	l, ok := snap.Links.Get(code)
	ps, psOK := snap.Partnerships[l.Partnership]
	if !ok || !psOK || !access.PartnershipVisible(q.p, ps) {
		return s.errorPage(q.c, q, http.StatusNotFound, "Link not found.")
	}
	png, err := qrcode.Encode(s.linkView(q, snap, l).TrackingURL, qrcode.Medium, view.DefaultQRSize)
	if err != nil {
		return s.fail(q, fmt.Errorf("link qr: %w", err))
	}
	q.c.Response().Header().Set("Cache-Control", "private, max-age=300")
	return q.c.Blob(http.StatusOK, "image/png", png)
}
