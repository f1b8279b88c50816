package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/http/auth"
)

// The write forms of the dashboard. Each handler is the /v1 handler it
// names, from a form: the same role checks (access.Principal), the same
// visibility (access.Visible), the same catalog or token-store call with the
// same actor, so the same objects and audit entries result. A refused
// field re-renders the page the form came from, filled with what was
// posted and the field named (422, or 409 for a taken id); a success
// redirects (303) back with a notice.

// Form ids: the id of the <form> and the value of its hidden "form" field.
const (
	formNewPartner     = "new-partner"
	formNewPartnership = "new-partnership"
	formNewTerms       = "new-terms"
	formPSStatus       = "partnership-status"
	formLinkStatus     = "link-status"
	formNewLink        = "new-link"
	formNewToken       = "new-token"
)

// formState is a refused form: what was posted, and why it was refused.
type formState struct {
	ID     string
	Values url.Values
	Field  string // the field at fault ("" when the refusal names none)
	Msg    string
}

// formOpts are the choices a page's write forms offer.
type formOpts struct {
	Partners []catalog.Partner // partners a new partnership may name (visible, not archived)
	Country  string            // the country a new partnership is in ("" = the form asks)
	Roles    []access.Role
}

// Val is the value of field in form: what was posted when that form was
// refused, else def (also after a stale refusal, which shows what is
// stored now).
func (p *page) Val(form, field, def string) string {
	if p.Form != nil && p.Form.ID == form && p.Form.Values != nil {
		return p.Form.Values.Get(field)
	}
	return def
}

// FormErr is the refusal of form, nil when it was not refused.
func (p *page) FormErr(form string) *formState {
	if p.Form != nil && p.Form.ID == form {
		return p.Form
	}
	return nil
}

// Bad reports whether field of form is the one a refusal named.
func (p *page) Bad(form, field string) bool {
	return p.Form != nil && p.Form.ID == form && p.Form.Field == field
}

// backURL is where a form returns: its "return" field when that is a
// dashboard path, else def.
func backURL(q *req, def string) *url.URL {
	back := q.r.PostFormValue("return")
	if !strings.HasPrefix(back, "/app/") || strings.HasPrefix(back, "//") || strings.ContainsAny(back, "\\\r\n") {
		back = def
	}
	u, err := url.Parse(back)
	if err != nil {
		u = &url.URL{Path: def}
	}
	return u
}

// done redirects to u with a notice (POST-redirect-GET).
func (q *req) done(u *url.URL, notice string) error {
	v := u.Query()
	v.Set("notice", notice)
	u.RawQuery = v.Encode()
	return q.c.Redirect(http.StatusSeeOther, u.String())
}

// formID is the form a post came from: its "form" field if it is one of
// allowed, else allowed[0].
func formID(q *req, allowed ...string) string {
	if f := q.r.PostFormValue("form"); slices.Contains(allowed, f) {
		return f
	}
	return allowed[0]
}

// refuse shows the page at back again with form filled with what was
// posted and the message (naming field) above it, answering code. When
// that page cannot be shown to the reader (it was sent from elsewhere),
// the message alone is answered with code.
func (s *Server) refuse(q *req, back *url.URL, form string, code int, field, msg string) error {
	values := url.Values{}
	for k, v := range q.r.PostForm {
		if k != CSRFField {
			values[k] = v
		}
	}
	return s.refill(q, back, form, code, field, msg, values)
}

// refill is refuse with the form filled with values (none: the page's
// own values, what is stored now).
func (s *Server) refill(q *req, back *url.URL, form string, code int, field, msg string, values url.Values) error {
	r2 := q.r.Clone(q.r.Context())
	r2.URL = &url.URL{Path: back.Path, RawQuery: back.RawQuery}
	r2.Method = http.MethodGet
	q2 := *q
	q2.r = r2
	pg, err := s.buildPage(&q2, parts(strings.TrimPrefix(back.Path, "/app")))
	if err != nil {
		var he *httpError
		if !errors.As(err, &he) {
			s.log.Error("web: page of a refused form", "err", err, "path", back.Path)
		}
		return s.errorPage(q.c, q, code, msg)
	}
	pg.Form = &formState{ID: form, Values: values, Field: field, Msg: msg}
	return s.render(&q2, code, pg)
}

// refuseErr answers a write's error as the API's writeError does: a
// field error 422, a taken id 409 (naming idField), a missing row 404,
// anything else 500. what starts the message ("The partner was not
// created").
func (s *Server) refuseErr(q *req, back *url.URL, form, what, idField string, err error) error {
	var (
		fe *catalog.FieldError
		se *catalog.StaleError
	)
	switch {
	case errors.As(err, &se):
		// Shown with what is stored now, not what was posted: the reader
		// redoes the change on it instead of overwriting someone else's.
		return s.refill(q, back, form, http.StatusConflict, "",
			fmt.Sprintf("%s: it was changed by someone else (now version %d). The page shows the current values.", what, se.Current), nil)
	case errors.As(err, &fe):
		return s.refuse(q, back, form, http.StatusUnprocessableEntity, fe.Field, what+": "+fe.Error())
	case errors.Is(err, catalog.ErrExists):
		return s.refuse(q, back, form, http.StatusConflict, idField, what+": "+idField+": "+err.Error())
	case errors.Is(err, catalog.ErrNotFound):
		return s.errorPage(q.c, q, http.StatusNotFound, what+": not found.")
	}
	return s.fail(q, fmt.Errorf("%s: %w", strings.ToLower(what), err))
}

func fieldErr(field, reason string) *catalog.FieldError {
	return &catalog.FieldError{Field: field, Reason: reason}
}

// list splits a form's list field (commas, spaces or new lines), dropping
// empty items; nil when there are none.
func list(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}

func (q *req) form(name string) string { return strings.TrimSpace(q.r.PostFormValue(name)) }

// formVersion is the posted "version" field, the version the page showed
// (given false when the form has none).
func (q *req) formVersion() (v int, given bool, err error) {
	f := q.form("version")
	if f == "" {
		return 0, false, nil
	}
	v, err = strconv.Atoi(f)
	if err != nil || v < 0 {
		return 0, false, fieldErr("version", "must be a version number")
	}
	return v, true, nil
}

// createPartner is POST /v1/partners: admins, and country managers filing
// the partner under their own countries (default: all of them).
func (s *Server) createPartner(q *req) error {
	const what = "The partner was not created"
	if !q.p.CanWritePartner() {
		return s.errorPage(q.c, q, http.StatusForbidden, "Your role may not create partners.")
	}
	back := backURL(q, "/app/admin")
	pt := catalog.Partner{ID: q.form("id"), Name: q.form("name"), Domains: list(q.form("domains")), Countries: list(q.form("countries"))}
	if q.p.Role == access.RoleCountryManager {
		if len(pt.Countries) == 0 {
			pt.Countries = slices.Clone(q.p.Countries)
		}
		for _, cc := range pt.Countries {
			if !q.p.CanWriteCountry(strings.ToUpper(strings.TrimSpace(cc))) {
				return s.refuse(q, back, formNewPartner, http.StatusUnprocessableEntity, "countries",
					what+": countries: you may file a partner only under your own countries "+strings.Join(q.p.Countries, ", "))
			}
		}
	}
	got, err := s.cfg.Catalog.AddPartner(q.r.Context(), pt, q.p.Actor())
	if err != nil {
		return s.refuseErr(q, back, formNewPartner, what, "id", err)
	}
	s.log.Info("web: partner created", "id", got.ID, "by", q.p.Actor())
	return q.done(back, "Partner "+got.ID+" created.")
}

// createPartnership is POST /v1/partnerships (without first terms: the
// terms form follows on the partnership's page): admins anywhere, country
// managers in their countries, naming a partner they can see.
func (s *Server) createPartnership(q *req) error {
	const what = "The partnership was not created"
	if !q.p.WritesPartnerships() {
		return s.errorPage(q.c, q, http.StatusForbidden, "Your role may not create partnerships.")
	}
	back := backURL(q, home(q.p))
	ps := catalog.Partnership{ID: q.form("id"), Partner: q.form("partner"),
		Country: strings.ToUpper(q.form("country")), Direction: q.form("direction")}
	if !q.p.CanWritePartnership(ps.Country) {
		msg := "you manage " + strings.Join(q.p.Countries, ", ") + " only"
		if catalog.ValidCountry("country", ps.Country) != nil {
			msg = "must be an ISO 3166-1 alpha-2 code"
		}
		return s.refuse(q, back, formNewPartnership, http.StatusUnprocessableEntity, "country", what+": country: "+msg)
	}
	ctx := q.r.Context()
	full, err := s.cfg.Catalog.Load(ctx)
	if err != nil {
		return s.fail(q, fmt.Errorf("create partnership: %w", err))
	}
	if _, ok := access.Visible(q.p, full).Partners[ps.Partner]; !ok {
		return s.refuse(q, back, formNewPartnership, http.StatusUnprocessableEntity, "partner",
			what+": partner: partner "+strconv.Quote(ps.Partner)+" does not exist")
	}
	got, err := s.cfg.Catalog.AddPartnership(ctx, ps, q.p.Actor())
	if err != nil {
		return s.refuseErr(q, back, formNewPartnership, what, "id", err)
	}
	s.log.Info("web: partnership created", "id", got.ID, "by", q.p.Actor())
	return q.done(&url.URL{Path: "/app/partnerships/" + got.ID}, "Partnership "+got.ID+" created; set its terms below.")
}

// termsField is a field of the terms form, named as the API's JSON names
// it, set by the domain's setter (xpromo partnership terms set's too).
// The form keeps its own reasons (want): the page's words for a refused
// field. A blank number is 0 (an empty window then takes the catalog's
// default), a blank text is empty.
type termsField struct {
	name string
	set  catalog.TermsSetter
	want string // "" for text, which every setter takes
}

var termsFields = []termsField{
	{"currency", catalog.StringSetter(func(t *catalog.Terms) *string { return &t.Currency }), ""},
	{"attribution_model", catalog.StringSetter(func(t *catalog.Terms) *string { return &t.AttributionModel }), ""},
	{"fallback_url", catalog.StringSetter(func(t *catalog.Terms) *string { return &t.FallbackURL }), ""},
	{"status", catalog.StringSetter(func(t *catalog.Terms) *string { return &t.Status }), ""},
	{"inbound_cpa", catalog.DecimalSetter(func(t *catalog.Terms) *decimal.Decimal { return &t.InboundCPA }), decimalWant},
	{"inbound_revshare_pct", catalog.DecimalSetter(func(t *catalog.Terms) *decimal.Decimal { return &t.InboundRevSharePct }), decimalWant},
	{"outbound_cpa", catalog.DecimalSetter(func(t *catalog.Terms) *decimal.Decimal { return &t.OutboundCPA }), decimalWant},
	{"outbound_revshare_pct", catalog.DecimalSetter(func(t *catalog.Terms) *decimal.Decimal { return &t.OutboundRevSharePct }), decimalWant},
	{"inbound_revenue_window_days", catalog.DaysSetter(func(t *catalog.Terms) *uint16 { return &t.InboundRevenueWindowDays }), daysWant},
	{"outbound_revenue_window_days", catalog.DaysSetter(func(t *catalog.Terms) *uint16 { return &t.OutboundRevenueWindowDays }), daysWant},
	{"attribution_window_days", catalog.DaysSetter(func(t *catalog.Terms) *uint16 { return &t.AttributionWindowDays }), daysWant},
	{"target_inbound_users_month", catalog.UsersSetter(func(t *catalog.Terms) *uint32 { return &t.TargetInboundUsersMonth }), usersWant},
	{"target_outbound_users_month", catalog.UsersSetter(func(t *catalog.Terms) *uint32 { return &t.TargetOutboundUsersMonth }), usersWant},
}

const (
	decimalWant = " must be a decimal number (e.g. 2.50)"
	daysWant    = " must be a whole number of days"
	usersWant   = " must be a whole number of users"
)

// The terms form's fields that termsFields does not set: patchTerms
// reads them itself.
const (
	termsEffectiveFrom = "effective_from"
	termsMayLink       = "partner_may_create_links"
)

// patchTerms is PATCH /v1/partnerships/ID/terms's merge: the latest
// version with the posted fields (those in f) replaced, effective from
// the posted date or today (UTC).
func patchTerms(versions []catalog.Terms, f url.Values, now time.Time) (catalog.Terms, error) {
	var t catalog.Terms
	if n := len(versions); n > 0 {
		t = versions[n-1]
		t.Partnership, t.Version, t.CreatedAt, t.CreatedBy = "", 0, time.Time{}, ""
	}
	get := func(k string) (string, bool) {
		if !f.Has(k) {
			return "", false
		}
		return strings.TrimSpace(f.Get(k)), true
	}
	t.EffectiveFrom = now.UTC().Truncate(24 * time.Hour)
	if v, ok := get(termsEffectiveFrom); ok && v != "" {
		d, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return t, fieldErr(termsEffectiveFrom, "must be a date (YYYY-MM-DD)")
		}
		t.EffectiveFrom = d
	}
	for _, tf := range termsFields {
		v, ok := get(tf.name)
		if !ok {
			continue
		}
		text := v
		if text == "" && tf.want != "" {
			text = "0"
		}
		if err := tf.set(&t, text); err != nil {
			return t, fieldErr(tf.name, strconv.Quote(v)+tf.want)
		}
	}
	if v, ok := get(termsMayLink); ok {
		switch v {
		case "true":
			t.PartnerMayCreateLinks = true
		case "false", "":
			t.PartnerMayCreateLinks = false
		default:
			return t, fieldErr(termsMayLink, "must be true or false")
		}
	}
	if t.StartDate.IsZero() {
		t.StartDate = t.EffectiveFrom
	}
	return t, nil
}

// writablePartnership is partnership id if q's reader may change it;
// otherwise ok is false and err is the page that says why (403 for a
// role or country the reader may not change, 404 for one it may not see)
// or the failure to load the catalog.
func (s *Server) writablePartnership(q *req, id, op string) (ps catalog.Partnership, ok bool, err error) {
	if !q.p.WritesPartnerships() {
		return ps, false, s.errorPage(q.c, q, http.StatusForbidden, "Your role may not change partnerships.")
	}
	full, err := s.cfg.Catalog.Load(q.r.Context())
	if err != nil {
		return ps, false, s.fail(q, fmt.Errorf("%s: %w", op, err))
	}
	ps, ok = access.Visible(q.p, full).Partnerships[id]
	if !ok || catalog.ValidID("id", id) != nil {
		return ps, false, s.errorPage(q.c, q, http.StatusNotFound, "Partnership not found.")
	}
	if !q.p.CanWritePartnership(ps.Country) {
		return ps, false, s.errorPage(q.c, q, http.StatusForbidden, "Your role may not change this partnership.")
	}
	return ps, true, nil
}

// newTerms is PATCH /v1/partnerships/ID/terms from a form: the terms form
// (a new version from the latest with the main fields changed) and the
// status buttons (pause, resume, archive: a new version with that status
// from today).
func (s *Server) newTerms(q *req, id string) error {
	form := formID(q, formNewTerms, formPSStatus)
	what := "The terms were not changed"
	ps, ok, err := s.writablePartnership(q, id, "new terms")
	if !ok {
		return err
	}
	ctx := q.r.Context()
	back := backURL(q, "/app/partnerships/"+id)
	versions, err := s.cfg.Catalog.TermsVersions(ctx, ps.ID)
	if err != nil {
		return s.fail(q, fmt.Errorf("new terms: %w", err))
	}
	t, err := patchTerms(versions, q.r.PostForm, s.cfg.Now())
	if err != nil {
		return s.refuseErr(q, back, form, what, "partnership", err)
	}
	latest, given, err := q.formVersion()
	if err != nil {
		return s.refuseErr(q, back, form, what, "partnership", err)
	}
	var got catalog.Terms
	if given {
		got, err = s.cfg.Catalog.SetTermsIf(ctx, ps.ID, t, uint32(latest), q.p.Actor())
	} else {
		got, err = s.cfg.Catalog.SetTerms(ctx, ps.ID, t, q.p.Actor())
	}
	if err != nil {
		return s.refuseErr(q, back, form, what, "partnership", err)
	}
	if n := len(versions); n > 0 && got.Version <= versions[n-1].Version {
		return q.done(back, "Nothing changed: the terms are those of version "+strconv.Itoa(int(got.Version))+".")
	}
	s.log.Info("web: terms changed", "partnership", ps.ID, "version", got.Version, "status", got.Status, "by", q.p.Actor())
	notice := fmt.Sprintf("Terms version %d of %s saved (%s from %s).", got.Version, ps.ID, got.Status, got.EffectiveFrom.Format(time.DateOnly))
	return q.done(back, notice)
}

// linkStatus is PATCH /v1/links/CODE {"status": ...} from a button:
// admins and the managers of the link's country.
func (s *Server) linkStatus(q *req, code string) error {
	if !q.p.WritesPartnerships() {
		return s.errorPage(q.c, q, http.StatusForbidden, "Your role may not change links.")
	}
	if !catalog.ValidCode(code) {
		return s.errorPage(q.c, q, http.StatusNotFound, "Link not found.")
	}
	ctx := q.r.Context()
	full, err := s.cfg.Catalog.Load(ctx)
	if err != nil {
		return s.fail(q, fmt.Errorf("link status: %w", err))
	}
	vis := access.Visible(q.p, full)
	l, ok := vis.Links.Get(code)
	if !ok {
		return s.errorPage(q.c, q, http.StatusNotFound, "Link not found.")
	}
	if !q.p.CanChangeLink(vis.Partnerships[l.Partnership].Country) {
		return s.errorPage(q.c, q, http.StatusForbidden, "Your role may not change this link.")
	}
	back := backURL(q, "/app/partnerships/"+l.Partnership)
	status := q.form("status")
	version, _, err := q.formVersion()
	if err != nil {
		return s.refuseErr(q, back, formLinkStatus, "The link was not changed", "code", err)
	}
	got, err := s.cfg.Catalog.UpdateLink(ctx, code, catalog.LinkChange{Status: &status, IfVersion: version}, q.p.Actor())
	if err != nil {
		return s.refuseErr(q, back, formLinkStatus, "The link was not changed", "code", err)
	}
	s.log.Info("web: link updated", "code", code, "status", got.Status, "by", q.p.Actor())
	return q.done(back, "Link "+code+" is "+got.Status+".")
}

// linkButtons are the status buttons of a link in the state it is in.
func linkButtons(l catalog.Link) []statusButton {
	act := "/app/links/" + l.Code + "/status"
	switch l.Status {
	case catalog.StatusActive:
		return []statusButton{{act, formLinkStatus, catalog.StatusPaused, "Pause", l.Version}, {act, formLinkStatus, catalog.StatusArchived, "Archive", l.Version}}
	case catalog.StatusPaused:
		return []statusButton{{act, formLinkStatus, catalog.StatusActive, "Resume", l.Version}, {act, formLinkStatus, catalog.StatusArchived, "Archive", l.Version}}
	}
	return nil // archived is final here (the API can still change it)
}

// partnershipButtons are the status buttons of a partnership whose latest
// terms version has status (none without terms: a status alone is not
// valid terms), made from that version.
func partnershipButtons(id, status string, version uint32) []statusButton {
	act := "/app/partnerships/" + id + "/terms"
	var out []statusButton
	for _, b := range []struct{ status, label string }{
		{catalog.StatusActive, "Resume"}, {catalog.StatusPaused, "Pause"}, {catalog.StatusArchived, "Archive"},
	} {
		if status != "" && b.status != status {
			out = append(out, statusButton{act, formPSStatus, b.status, b.label, int(version)})
		}
	}
	return out
}

// createToken is POST /v1/tokens: admins only. The answer is the page
// showing the token once; it is not stored here, not logged and not put
// in any URL (so this one answer is not a redirect).
func (s *Server) createToken(q *req) error {
	const what = "The token was not created"
	if !q.p.CanManageTokens() {
		return s.errorPage(q.c, q, http.StatusForbidden, "Only admins manage tokens.")
	}
	back := backURL(q, "/app/admin")
	ctx := q.r.Context()
	spec := auth.Spec{Role: access.Role(q.form("role")), Countries: list(q.form("countries")), Partner: q.form("partner"),
		Name: q.form("name"), CreatedBy: q.p.Actor()}
	if v := q.form("expires_at"); v != "" {
		d, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return s.refuse(q, back, formNewToken, http.StatusUnprocessableEntity, "expires_at", what+": expires_at: must be a date (YYYY-MM-DD)")
		}
		spec.ExpiresAt = d
	}
	if spec.Role == access.RolePartner && spec.Partner != "" {
		full, err := s.cfg.Catalog.Load(ctx)
		if err != nil {
			return s.fail(q, fmt.Errorf("create token: %w", err))
		}
		if _, ok := full.Partners[spec.Partner]; !ok {
			return s.refuse(q, back, formNewToken, http.StatusUnprocessableEntity, "partner",
				what+": partner: partner "+strconv.Quote(spec.Partner)+" does not exist")
		}
	}
	secret, t, err := s.cfg.Tokens.CreateAudited(ctx, spec, s.cfg.Catalog)
	if err != nil {
		return s.refuseErr(q, back, formNewToken, what, "id", err)
	}
	s.tokensChanged(q)
	s.log.Info("web: token created", "id", t.ID, "role", t.Role, "by", q.p.Actor())
	pg := &page{Title: "Token created", Template: "token", Data: createdToken{Secret: secret, Token: t}}
	return s.render(q, http.StatusCreated, pg)
}

type createdToken struct {
	Secret string
	Token  auth.Token
}

// activePartners are the partners of snap a new partnership may name,
// by id.
func activePartners(snap *catalog.Snapshot) []catalog.Partner {
	var out []catalog.Partner
	for _, p := range sortedValues(snap.Partners, func(p catalog.Partner) string { return p.ID }) {
		if p.Status != catalog.StatusArchived {
			out = append(out, p)
		}
	}
	return out
}

// termsFormValues are the terms form's starting values: latest's (the
// catalog's defaults without one), effective today.
func termsFormValues(latest *catalog.Terms, now time.Time) map[string]string {
	t := catalog.Terms{}
	if latest != nil {
		t = *latest
	}
	t.Defaults()
	u := func(n uint64) string { return strconv.FormatUint(n, 10) }
	return map[string]string{
		"effective_from": now.UTC().Format(time.DateOnly), "currency": t.Currency,
		"inbound_cpa": t.InboundCPA.String(), "inbound_revshare_pct": t.InboundRevSharePct.String(),
		"outbound_cpa": t.OutboundCPA.String(), "outbound_revshare_pct": t.OutboundRevSharePct.String(),
		"inbound_revenue_window_days":  u(uint64(t.InboundRevenueWindowDays)),
		"outbound_revenue_window_days": u(uint64(t.OutboundRevenueWindowDays)),
		"attribution_model":            t.AttributionModel, "attribution_window_days": u(uint64(t.AttributionWindowDays)),
		"target_inbound_users_month":  u(uint64(t.TargetInboundUsersMonth)),
		"target_outbound_users_month": u(uint64(t.TargetOutboundUsersMonth)),
		"fallback_url":                t.FallbackURL, "partner_may_create_links": strconv.FormatBool(t.PartnerMayCreateLinks),
		"version": u(uint64(t.Version)), // the version the form is made from: 0 for none
	}
}
