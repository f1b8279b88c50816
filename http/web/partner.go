package web

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/vocab"
)

// linkTarget is a partnership the reader may add links to.
type linkTarget struct {
	ID, Label string
}

type partnerData struct {
	Partner    catalog.Partner
	Targets    []linkTarget // partnerships whose terms let the reader add links
	Statement  *statementData
	Return     string
	Directions []string
}

// partnerPage: a partner's links (with a create form where its terms
// allow partner-made links), its results (the partnerships report for its
// scope) and its statement of a month.
func (s *Server) partnerPage(q *req) (*page, error) {
	if q.p.Role != access.RolePartner {
		return nil, notFound("Page")
	}
	ctx := q.r.Context()
	env, err := s.reportEnv(ctx)
	if err != nil {
		return nil, err
	}
	par, form, err := period(q.r.URL.Query(), s.cfg.Now(), time.UTC)
	if err != nil {
		return nil, err
	}
	q.scoped(&par)
	res, err := runReport(ctx, env, "partnerships", par, "")
	if err != nil {
		return nil, err
	}
	results := q.f.fromReport("results", "Results", res, rowKey("partnership", "direction"), withoutPeriod(res)...)
	for i := range results.Rows {
		results.Rows[i].Partnership = results.Rows[i].Cell("partnership")
	}
	full, err := s.cfg.Catalog.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("partner page: %w", err)
	}
	links, err := s.linksTable(q, full, func(catalog.Link) bool { return true })
	if err != nil {
		return nil, err
	}
	d := &partnerData{Partner: full.Partners[q.p.Partner], Return: "/app/partner", Directions: []string{vocab.Inbound, vocab.Outbound}}
	d.Targets = linkTargets(q.p, full, s.cfg.Now())
	periodName, err := s.statementPeriod(q)
	if err != nil {
		return nil, err
	}
	form.Hidden = map[string]string{"period": periodName}
	st, err := s.statement(q, periodName)
	if err != nil {
		return nil, err
	}
	stTables, err := s.statementTables(q, st, "/app/partner", form.Query())
	if err != nil {
		return nil, err
	}
	d.Statement = s.statementData(q, st)
	for _, t := range []*Table{results, links} {
		t.CSV = csvHref("/app/partner", t.Name, form.Query())
	}
	tables := append([]*Table{links, results}, stTables...)
	return &page{Title: "Partner " + q.p.Partner, Template: "partner", Period: form, Tables: tables, Data: d}, nil
}

// linkTargets are the partnerships p may add links to now (its terms in
// force allow partner-made links, for a partner), as POST /v1/links checks.
func linkTargets(p access.Principal, snap *catalog.Snapshot, now time.Time) []linkTarget {
	var out []linkTarget
	for _, ps := range snap.Partnerships {
		if !access.PartnershipVisible(p, ps) {
			continue
		}
		terms, _ := catalog.TermsInForce(snap.Terms[ps.ID], now)
		if p.CanCreateLink(ps.Country, ps.Partner, terms.PartnerMayCreateLinks) {
			out = append(out, linkTarget{ID: ps.ID, Label: ps.ID + " (" + ps.Country + ", " + ps.Direction + ")"})
		}
	}
	slices.SortFunc(out, func(a, b linkTarget) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// createLink is POST /v1/links from a form: the same checks (the
// partnership visible, CanCreateLink with the terms in force) and the same
// catalog write, then back to the page it came from.
func (s *Server) createLink(q *req) error {
	const what = "The link was not created"
	r := q.r
	ctx := r.Context()
	back := backURL(q, home(q.p))
	snap, err := s.cfg.Catalog.Load(ctx)
	if err != nil {
		return s.fail(q, fmt.Errorf("create link: %w", err))
	}
	id := r.PostFormValue("partnership")
	ps, ok := snap.Partnerships[id]
	if !ok || !access.PartnershipVisible(q.p, ps) {
		return s.refuse(q, back, formNewLink, http.StatusUnprocessableEntity, "partnership",
			what+": partnership: partnership "+strconv.Quote(id)+" does not exist")
	}
	terms, _ := catalog.TermsInForce(snap.Terms[ps.ID], s.cfg.Now())
	if !q.p.CanCreateLink(ps.Country, ps.Partner, terms.PartnerMayCreateLinks) {
		return s.errorPage(q.c, q, http.StatusForbidden, "The agreement does not allow partner-made links.")
	}
	l := catalog.Link{Code: strings.TrimSpace(r.PostFormValue("code")), Partnership: ps.ID,
		Direction: r.PostFormValue("direction"), URL: strings.TrimSpace(r.PostFormValue("url")),
		Campaign: strings.TrimSpace(r.PostFormValue("campaign"))}
	if v := strings.TrimSpace(r.PostFormValue("expires_at")); v != "" {
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return s.refuse(q, back, formNewLink, http.StatusUnprocessableEntity, "expires_at", what+": expires_at: must be a date (YYYY-MM-DD)")
		}
		l.ExpiresAt = t.UTC()
	}
	got, err := s.cfg.Catalog.AddLink(ctx, l, q.p.Actor())
	if err != nil {
		return s.refuseErr(q, back, formNewLink, what, "code", err)
	}
	s.log.Info("web: link created", "code", got.Code, "by", q.p.Actor())
	return q.done(back, "Link "+got.Code+" created.")
}
