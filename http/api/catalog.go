package api

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/domain/catalog"
)

func (s *Server) listPartners(c echo.Context) error {
	l, ok, err := listRequest(c, false)
	if !ok {
		return err
	}
	cc := strings.ToUpper(strings.TrimSpace(c.QueryParam("country")))
	if cc != "" {
		if fe := catalog.ValidCountry("country", cc); fe != nil {
			return badRequest(c, fe.Error())
		}
	}
	status := c.QueryParam("status")
	if status != "" && status != catalog.StatusActive && status != catalog.StatusArchived {
		return badRequest(c, "status must be active or archived")
	}
	snap, err := s.visible(c.Request().Context(), l.p)
	if err != nil {
		return s.internal(c, "list partners", err)
	}
	out := []catalog.Partner{}
	for _, pt := range snap.Partners {
		if (status != "" && pt.Status != status) || (cc != "" && !partnerIn(snap, pt, cc)) {
			continue
		}
		out = append(out, pt)
	}
	slices.SortFunc(out, func(a, b catalog.Partner) int { return strings.Compare(a.ID, b.ID) })
	return c.JSON(http.StatusOK, paginate(out, l))
}

// partnerIn: pt is filed under cc or has a partnership there.
func partnerIn(snap *catalog.Snapshot, pt catalog.Partner, cc string) bool {
	if slices.Contains(pt.Countries, cc) {
		return true
	}
	for _, ps := range snap.Partnerships {
		if ps.Partner == pt.ID && ps.Country == cc {
			return true
		}
	}
	return false
}

func (s *Server) getPartner(c echo.Context) error {
	p, ok, err := caller(c, readsCatalog)
	if !ok {
		return err
	}
	id := c.Param("id")
	if catalog.ValidID("id", id) != nil {
		return notFound(c, "partner")
	}
	snap, err := s.visible(c.Request().Context(), p)
	if err != nil {
		return s.internal(c, "get partner", err)
	}
	if _, ok := snap.Partners[id]; !ok {
		return notFound(c, "partner")
	}
	setETag(c, snap.Partners[id].Version)
	return c.JSON(http.StatusOK, snap.Partners[id])
}

func (s *Server) createPartner(c echo.Context) error {
	p, req, ok, err := createRequest[catalog.Partner](c, access.Principal.CanWritePartner, dropFields("status", "version"))
	if !ok {
		return err
	}
	if p.Role == access.RoleCountryManager {
		// A manager's partner is filed under its countries, so other
		// countries' managers do not see it.
		if len(req.Countries) == 0 {
			req.Countries = slices.Clone(p.Countries)
		}
		for _, cc := range req.Countries {
			if !p.CanWriteCountry(strings.ToUpper(strings.TrimSpace(cc))) {
				return invalid(c, "countries", "you may file a partner only under your own countries "+strings.Join(p.Countries, ", "))
			}
		}
	}
	got, err := s.cat.AddPartner(c.Request().Context(), req, p.Actor())
	if err != nil {
		return s.writeError(c, "create partner", "id", err)
	}
	s.logChange(c, p, "partner created", got.ID)
	setETag(c, got.Version)
	return c.JSON(http.StatusCreated, got)
}

func (s *Server) updatePartner(c echo.Context) error {
	p, ok, err := caller(c, access.Principal.CanWritePartner) // a role that never changes partners
	if !ok {
		return err
	}
	id := c.Param("id")
	if catalog.ValidID("id", id) != nil {
		return notFound(c, "partner")
	}
	ctx := c.Request().Context()
	snap, err := s.load(ctx) // whole: sharing with other countries is checked below
	if err != nil {
		return s.internal(c, "update partner", err)
	}
	if _, ok := access.Visible(p, snap).Partners[id]; !ok {
		return notFound(c, "partner")
	}
	var ch catalog.PartnerChange
	if ok, err := decodeBody(c, &ch, nil); !ok {
		return err
	}
	if ch.IfVersion, _, ok, err = ifMatch(c, 1); !ok {
		return err
	}
	if p.Role == access.RoleCountryManager {
		// A partner shared with other countries is changed by an admin: a
		// manager's edit would change what other countries see and run.
		if reason := sharedPartner(p, snap, id); reason != "" {
			return fail(c, http.StatusForbidden, "forbidden", reason)
		}
		if ch.Countries != nil {
			for _, cc := range *ch.Countries {
				if !p.CanWriteCountry(strings.ToUpper(strings.TrimSpace(cc))) {
					return invalid(c, "countries", "you may file a partner only under your own countries "+strings.Join(p.Countries, ", "))
				}
			}
		}
	}
	got, err := s.cat.UpdatePartner(ctx, id, ch, p.Actor())
	if err != nil {
		return s.writeError(c, "update partner", "id", err)
	}
	s.logChange(c, p, "partner updated", id)
	setETag(c, got.Version)
	return c.JSON(http.StatusOK, got)
}

// sharedPartner explains why a country manager may not change partner id,
// or returns "".
func sharedPartner(p access.Principal, snap *catalog.Snapshot, id string) string {
	const reason = "this partner is shared with other countries; ask an admin to change it"
	pt := snap.Partners[id]
	if len(pt.Countries) == 0 {
		return reason
	}
	for _, cc := range pt.Countries {
		if !p.CanWriteCountry(cc) {
			return reason
		}
	}
	for _, ps := range snap.Partnerships {
		if ps.Partner == id && !p.CanWriteCountry(ps.Country) {
			return reason
		}
	}
	return ""
}

func (s *Server) listPartnerships(c echo.Context) error {
	l, ok, err := listRequest(c, true)
	if !ok {
		return err
	}
	snap, err := s.visible(c.Request().Context(), l.p)
	if err != nil {
		return s.internal(c, "list partnerships", err)
	}
	all := []catalog.Partnership{}
	for _, ps := range snap.Partnerships {
		if l.scope.Allows(ps.Country, ps.Partner) {
			all = append(all, ps)
		}
	}
	slices.SortFunc(all, func(a, b catalog.Partnership) int { return strings.Compare(a.ID, b.ID) })
	return c.JSON(http.StatusOK, paginate(all, l))
}

// partnership finds the partnership named by :id for a caller whose role
// may (readsCatalog, or a write role, which reads the catalog too) and who
// may read it; otherwise it answers (401, 403 for the role, else 404) and
// ok is false.
func (s *Server) partnership(c echo.Context, may func(access.Principal) bool) (access.Principal, catalog.Partnership, bool, error) {
	p, ok, err := caller(c, may)
	if !ok {
		return p, catalog.Partnership{}, false, err
	}
	id := c.Param("id")
	if catalog.ValidID("id", id) != nil {
		return p, catalog.Partnership{}, false, notFound(c, "partnership")
	}
	snap, err := s.visible(c.Request().Context(), p)
	if err != nil {
		return p, catalog.Partnership{}, false, s.internal(c, "get partnership", err)
	}
	ps, found := snap.Partnerships[id]
	if !found {
		return p, catalog.Partnership{}, false, notFound(c, "partnership")
	}
	return p, ps, true, nil
}

// writablePartnership is partnership for a change: the caller's role must
// change partnerships and its countries include this one's (else 403).
func (s *Server) writablePartnership(c echo.Context) (access.Principal, catalog.Partnership, bool, error) {
	p, ps, ok, err := s.partnership(c, access.Principal.WritesPartnerships)
	if ok && !p.CanWritePartnership(ps.Country) {
		return p, ps, false, forbidden(c, p)
	}
	return p, ps, ok, err
}

func (s *Server) getPartnership(c echo.Context) error {
	_, ps, ok, err := s.partnership(c, readsCatalog)
	if !ok {
		return err
	}
	setETag(c, ps.Version)
	return c.JSON(http.StatusOK, ps)
}

// PartnershipRequest is the body of POST /partnerships: the partnership
// and, optionally, its first terms.
type PartnershipRequest struct {
	catalog.Partnership
	Terms json.RawMessage `json:"terms,omitempty"`
}

// CreatedPartnership answers POST /partnerships.
type CreatedPartnership struct {
	catalog.Partnership
	Terms *catalog.Terms `json:"terms,omitempty"`
}

func (s *Server) createPartnership(c echo.Context) error {
	p, req, ok, err := createRequest[PartnershipRequest](c, access.Principal.WritesPartnerships, dropFields("version"))
	if !ok {
		return err
	}
	req.Country = strings.ToUpper(strings.TrimSpace(req.Country))
	if !p.CanWritePartnership(req.Country) {
		if catalog.ValidCountry("country", req.Country) != nil {
			return invalid(c, "country", "must be an ISO 3166-1 alpha-2 code")
		}
		return invalid(c, "country", "you manage "+strings.Join(p.Countries, ", ")+" only")
	}
	// Parse the terms before anything is written, so a bad field stores nothing.
	var terms *catalog.Terms
	if len(req.Terms) > 0 && string(req.Terms) != "null" {
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(req.Terms, &raw); err != nil || raw == nil {
			return invalid(c, "terms", "must be a JSON object")
		}
		terms = &catalog.Terms{}
		if field, reason := decodeMap(raw, terms, termsDates); reason != "" {
			return invalid(c, "terms."+field, reason)
		}
		s.defaultTermDates(terms)
		if err := checkTerms(*terms); err != nil {
			return s.writeError(c, "create partnership", "id", err)
		}
	}
	ctx := c.Request().Context()
	snap, err := s.visible(ctx, p)
	if err != nil {
		return s.internal(c, "create partnership", err)
	}
	if _, ok := snap.Partners[req.Partner]; !ok {
		return invalid(c, "partner", "partner "+quote(req.Partner)+" does not exist")
	}
	ps, err := s.cat.AddPartnership(ctx, req.Partnership, p.Actor())
	if err != nil {
		return s.writeError(c, "create partnership", "id", err)
	}
	out := CreatedPartnership{Partnership: ps}
	if terms != nil {
		t, err := s.cat.SetTerms(ctx, ps.ID, *terms, p.Actor())
		if err != nil {
			// The partnership exists; its terms can be set again with PUT.
			if fe, ok := fieldError(err); ok {
				return invalid(c, "terms."+fe.Field, fe.Reason+" (the partnership was created without terms)")
			}
			return s.internal(c, "create partnership terms", err)
		}
		out.Terms = &t
	}
	s.logChange(c, p, "partnership created", ps.ID)
	return c.JSON(http.StatusCreated, out)
}

// checkTerms validates terms the way SetTerms will, before anything is
// stored.
func checkTerms(t catalog.Terms) error {
	t.Currency = strings.ToUpper(strings.TrimSpace(t.Currency))
	t.Defaults()
	return t.Validate()
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func (s *Server) updatePartnership(c echo.Context) error {
	p, ps, ok, err := s.writablePartnership(c)
	if !ok {
		return err
	}
	var ch catalog.PartnershipChange
	if ok, err := decodeBody(c, &ch, nil); !ok {
		return err
	}
	if ch.IfVersion, _, ok, err = ifMatch(c, 1); !ok {
		return err
	}
	got, err := s.cat.UpdatePartnership(c.Request().Context(), ps.ID, ch, p.Actor())
	if err != nil {
		return s.writeError(c, "update partnership", "id", err)
	}
	s.logChange(c, p, "partnership updated", ps.ID)
	setETag(c, got.Version)
	return c.JSON(http.StatusOK, got)
}

func (s *Server) termsVersions(c echo.Context) error {
	_, ps, ok, err := s.partnership(c, readsCatalog)
	if !ok {
		return err
	}
	vs, err := s.cat.TermsVersions(c.Request().Context(), ps.ID)
	if err != nil {
		return s.internal(c, "terms versions", err)
	}
	if vs == nil {
		vs = []catalog.Terms{}
	}
	latest := 0 // the ETag of no terms yet, for an If-Match that expects none
	if n := len(vs); n > 0 {
		latest = int(vs[n-1].Version)
	}
	setETag(c, latest)
	return c.JSON(http.StatusOK, List[catalog.Terms]{Items: vs, Total: len(vs)})
}

// termsDates lets dates be given as "YYYY-MM-DD" as well as RFC 3339,
// and drops the fields the server sets.
func termsDates(raw map[string]json.RawMessage) (field, reason string) {
	for _, f := range []string{"partnership", "version", "created_at", "created_by"} {
		delete(raw, f)
	}
	for _, f := range []string{"effective_from", "start_date", "end_date"} {
		v, ok := raw[f]
		if !ok {
			continue
		}
		if string(v) == "null" {
			delete(raw, f)
			continue
		}
		var str string
		if err := json.Unmarshal(v, &str); err != nil {
			return f, "must be a date string (YYYY-MM-DD)"
		}
		if str == "" && f == "end_date" {
			delete(raw, f)
			continue
		}
		t, err := dateOrTime(str)
		if err != nil {
			return f, "must be a date (YYYY-MM-DD or RFC 3339)"
		}
		b, _ := json.Marshal(t.UTC())
		raw[f] = b
	}
	return "", ""
}

// defaultTermDates is the one rule of PUT and PATCH .../terms and of the
// terms in POST /partnerships: effective_from defaults to today (UTC, by
// the API's clock; SetTerms keeps the day only) and start_date to
// effective_from.
func (s *Server) defaultTermDates(t *catalog.Terms) {
	if t.EffectiveFrom.IsZero() {
		t.EffectiveFrom = s.Now().UTC()
	}
	if t.StartDate.IsZero() {
		t.StartDate = t.EffectiveFrom
	}
}

func (s *Server) putTerms(c echo.Context) error {
	p, ps, ok, err := s.partnership(c, access.Principal.WritesPartnerships)
	if !ok {
		return err
	}
	if !p.CanWritePartnership(ps.Country) {
		return notFound(c, "partnership")
	}
	var t catalog.Terms
	if ok, err := decodeBody(c, &t, termsDates); !ok {
		return err
	}
	latest, given, ok, err := ifMatch(c, 0)
	if !ok {
		return err
	}
	s.defaultTermDates(&t)
	ctx := c.Request().Context()
	before, err := s.cat.TermsVersions(ctx, ps.ID)
	if err != nil {
		return s.internal(c, "set terms", err)
	}
	got, err := s.setTerms(ctx, ps.ID, t, given, latest, p.Actor())
	if err != nil {
		if fe, ok := fieldError(err); ok {
			return invalid(c, fe.Field, fe.Reason)
		}
		if ok, err := stale(c, err); ok {
			return err
		}
		return s.internal(c, "set terms", err)
	}
	setETag(c, int(got.Version))
	if n := len(before); n > 0 && got.Version <= before[n-1].Version {
		return c.JSON(http.StatusOK, got) // same as the latest version: nothing written
	}
	s.log.Info("api: terms set", "partnership", ps.ID, "version", got.Version, "actor", p.Actor(), "token", p.TokenID)
	return c.JSON(http.StatusCreated, got)
}

// patchTerms makes a new terms version from the latest one with the
// given fields changed, effective from effective_from (default today):
// {"status": "paused"} pauses the partnership from today.
func (s *Server) patchTerms(c echo.Context) error {
	p, ps, ok, err := s.writablePartnership(c)
	if !ok {
		return err
	}
	latest, given, ok, err := ifMatch(c, 0)
	if !ok {
		return err
	}
	r := c.Request()
	var patch map[string]json.RawMessage
	if err := json.NewDecoder(http.MaxBytesReader(c.Response(), r.Body, MaxBody)).Decode(&patch); err != nil || patch == nil {
		return badRequest(c, "malformed JSON: the body must be a JSON object")
	}
	ctx := r.Context()
	versions, err := s.cat.TermsVersions(ctx, ps.ID)
	if err != nil {
		return s.internal(c, "patch terms", err)
	}
	var base *catalog.Terms
	if n := len(versions); n > 0 {
		base = &versions[n-1]
	}
	if _, ok := patch["effective_from"]; !ok {
		patch["effective_from"], _ = json.Marshal(s.Now().UTC().Format(time.DateOnly))
	}
	t, field, reason := patchedTerms(base, patch)
	if reason != "" {
		return invalid(c, field, reason)
	}
	s.defaultTermDates(&t)
	got, err := s.setTerms(ctx, ps.ID, t, given, latest, p.Actor())
	if err != nil {
		return s.writeError(c, "patch terms", "partnership", err)
	}
	setETag(c, int(got.Version))
	if n := len(versions); n > 0 && got.Version <= versions[n-1].Version {
		return c.JSON(http.StatusOK, got)
	}
	s.logChange(c, p, "terms changed", ps.ID)
	return c.JSON(http.StatusCreated, got)
}

// patchedTerms is base (nil: none) with the fields of patch, in the
// JSON of PUT /partnerships/:id/terms, set over it. base's end date is
// kept only when it has one. reason is "" on success; field names the
// bad field.
func patchedTerms(base *catalog.Terms, patch map[string]json.RawMessage) (t catalog.Terms, field, reason string) {
	merged := map[string]json.RawMessage{}
	if base != nil {
		b, _ := json.Marshal(base)
		_ = json.Unmarshal(b, &merged) // the JSON of a Terms: an object
		delete(merged, "end_date")     // kept only if the patch or the version sets it
		if !base.EndDate.IsZero() {
			merged["end_date"], _ = json.Marshal(base.EndDate.Format(time.DateOnly))
		}
	}
	for k, v := range patch {
		merged[k] = v
	}
	field, reason = decodeMap(merged, &t, termsDates)
	return t, field, reason
}

// setTerms is SetTerms, made from the latest version the caller named in
// If-Match when given.
func (s *Server) setTerms(ctx context.Context, id string, t catalog.Terms, given bool, latest int, actor string) (catalog.Terms, error) {
	if given {
		return s.cat.SetTermsIf(ctx, id, t, uint32(latest), actor)
	}
	return s.cat.SetTerms(ctx, id, t, actor)
}

// dropFields returns a transform that removes fields the server sets.
func dropFields(names ...string) func(map[string]json.RawMessage) (string, string) {
	return func(raw map[string]json.RawMessage) (string, string) {
		for _, n := range names {
			delete(raw, n)
		}
		return "", ""
	}
}
