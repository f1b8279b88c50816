package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/reports"
)

// "Replicate into my country" (form#replicate on a partner's countries
// page) is POST /v1/partners/ID/replicate: the same checks, the same
// catalog.Store.Replicate call with the same actor, so the same
// partnership, terms, links, origin and audit entries result.

const formReplicate = "replicate"

// replicateTerms are the terms fields the form may set (named terms.X,
// as the catalog's refusals name them): the money a blind replication
// must give. A blank field keeps the source's value.
var replicateTerms = []string{"currency", "inbound_cpa", "inbound_revshare_pct", "outbound_cpa", "outbound_revshare_pct"}

// replicateOpts are the choices of the form.
type replicateOpts struct {
	Sources []string // the countries the partner runs in
	Targets []string // the reader's countries it does not run in; nil: free (admins)
	Today   string
	Terms   []string
}

// replicateChoices is the form of the countries page of a partner running
// in the countries of rows, nil when the reader has nowhere to copy it.
func (s *Server) replicateChoices(q *req, rows []Row) *replicateOpts {
	if !q.p.WritesPartnerships() || len(rows) == 0 {
		return nil
	}
	o := &replicateOpts{Today: s.cfg.Now().UTC().Format(time.DateOnly), Terms: replicateTerms}
	for _, r := range rows {
		o.Sources = append(o.Sources, r.Key)
	}
	if q.p.Role == access.RoleAdmin {
		return o
	}
	for _, cc := range q.p.Countries {
		if q.p.CanWritePartnership(cc) && !slices.Contains(o.Sources, cc) {
			o.Targets = append(o.Targets, cc)
		}
	}
	if o.Targets == nil {
		return nil
	}
	return o
}

// replicate is POST /v1/partners/ID/replicate from the form: admins and
// country managers, into a country they write; from a country the reader
// does not read (Blind), the source's money and URLs are not copied: the
// form must give them.
func (s *Server) replicate(q *req, partner string) error {
	const what = "The partnership was not replicated"
	if !q.p.WritesPartnerships() {
		return s.errorPage(q.c, q, http.StatusForbidden, "Your role may not create partnerships.")
	}
	back := backURL(q, elsewherePath+"/"+partner)
	country, source := strings.ToUpper(q.form("country")), strings.ToUpper(q.form("source_country"))
	for _, f := range []struct{ name, v string }{{"country", country}, {"source_country", source}} {
		if fe := catalog.ValidCountry(f.name, f.v); fe != nil {
			return s.refuseErr(q, back, formReplicate, what, "id", fe)
		}
	}
	if !q.p.CanWritePartnership(country) {
		return s.errorPage(q.c, q, http.StatusForbidden, "You may not create partnerships in "+country+".")
	}
	r := catalog.Replication{Country: country, ID: q.form("id"), URLTemplate: q.form("url_template"),
		OutboundURLTemplate: q.form("outbound_url_template"), Lang: q.form("lang"), From: s.cfg.Now().UTC()}
	if v := q.form("start"); v != "" {
		d, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return s.refuseErr(q, back, formReplicate, what, "id", fieldErr("start", "must be a date (YYYY-MM-DD)"))
		}
		r.From = d
	}
	posted := q.r.PostForm
	r.Set = func(t *catalog.Terms) ([]string, error) {
		var set []string
		for _, name := range replicateTerms {
			v := strings.TrimSpace(posted.Get("terms." + name))
			if v == "" {
				continue
			}
			i := slices.IndexFunc(termsFields, func(f termsField) bool { return f.name == name })
			if err := termsFields[i].set(t, v); err != nil {
				return nil, fieldErr("terms."+name, strconv.Quote(v)+termsFields[i].want)
			}
			set = append(set, name)
		}
		return set, nil
	}
	ctx := q.r.Context()
	src, found, err := s.cfg.Catalog.PartnershipOf(ctx, partner, source)
	if err != nil {
		return s.fail(q, fmt.Errorf("replicate: %w", err))
	}
	if !found {
		snap, err := s.cfg.Catalog.Load(ctx)
		if err != nil {
			return s.fail(q, fmt.Errorf("replicate: %w", err))
		}
		if !reports.Listed(q.p, snap, partner) {
			return s.errorPage(q.c, q, http.StatusNotFound, "Partner not found.")
		}
		return s.refuse(q, back, formReplicate, http.StatusNotFound, "source_country",
			what+": source_country: partner "+strconv.Quote(partner)+" has no partnership in "+source)
	}
	r.Source = src.ID
	r.Blind = !q.p.CanReadPartnership(source, partner)
	out, err := s.cfg.Catalog.Replicate(ctx, r, q.p.Actor())
	if err != nil {
		return s.refuseErr(q, back, formReplicate, what, "id", err)
	}
	s.log.Info("web: partnership replicated", "id", out.Partnership.ID, "by", q.p.Actor())
	return q.done(&url.URL{Path: "/app/partnerships/" + out.Partnership.ID}, fmt.Sprintf(
		"Partnership %s replicated from %s in %s: terms version %d, %d links.", out.Partnership.ID, partner, source, out.Terms.Version, len(out.Links)))
}
