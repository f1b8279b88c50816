package api

import (
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
	return c.JSON(http.StatusOK, snap.Partners[id])
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
	return c.JSON(http.StatusOK, ps)
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
		t, err := time.Parse(time.DateOnly, str)
		if err != nil {
			if t, err = time.Parse(time.RFC3339, str); err != nil {
				return f, "must be a date (YYYY-MM-DD or RFC 3339)"
			}
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
	s.defaultTermDates(&t)
	ctx := c.Request().Context()
	before, err := s.cat.TermsVersions(ctx, ps.ID)
	if err != nil {
		return s.internal(c, "set terms", err)
	}
	got, err := s.cat.SetTerms(ctx, ps.ID, t, p.Actor())
	if err != nil {
		if fe, ok := fieldError(err); ok {
			return invalid(c, fe.Field, fe.Reason)
		}
		return s.internal(c, "set terms", err)
	}
	if n := len(before); n > 0 && got.Version <= before[n-1].Version {
		return c.JSON(http.StatusOK, got) // same as the latest version: nothing written
	}
	s.log.Info("api: terms set", "partnership", ps.ID, "version", got.Version, "actor", p.Actor(), "token", p.TokenID)
	return c.JSON(http.StatusCreated, got)
}
