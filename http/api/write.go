package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/domain/catalog"
)

// conflict answers 409 for an id or code that is taken.
func conflict(c echo.Context, field, reason string) error {
	return c.JSON(http.StatusConflict, ErrorBody{Error: "exists", Field: field, Reason: reason})
}

// writeError answers a catalog write's error: 422 for a field, 409 for a
// taken id or a partner's second partnership in a country, 404 for a
// missing row, 500 for the rest.
func (s *Server) writeError(c echo.Context, op, idField string, err error) error {
	if fe, ok := fieldError(err); ok {
		return invalid(c, fe.Field, fe.Reason)
	}
	var dup *catalog.DuplicatePartnershipError
	switch {
	case errors.As(err, &dup):
		return conflict(c, "country", dup.Error()) // the reason names the existing partnership
	case errors.Is(err, catalog.ErrExists):
		return conflict(c, idField, err.Error())
	case errors.Is(err, catalog.ErrNotFound):
		return notFound(c, strings.SplitN(op, " ", 2)[1])
	}
	return s.internal(c, op, err)
}

func (s *Server) logChange(c echo.Context, p access.Principal, what, id string) {
	s.log.Info("api: "+what, "id", id, "actor", p.Actor(), "token", p.TokenID, "ip", c.RealIP())
}

func (s *Server) createPartner(c echo.Context) error {
	p, req, ok, err := createRequest[catalog.Partner](c, access.Principal.CanWritePartner, dropFields("status"))
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
	p, req, ok, err := createRequest[PartnershipRequest](c, access.Principal.WritesPartnerships, nil)
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
	got, err := s.cat.UpdatePartnership(c.Request().Context(), ps.ID, ch, p.Actor())
	if err != nil {
		return s.writeError(c, "update partnership", "id", err)
	}
	s.logChange(c, p, "partnership updated", ps.ID)
	return c.JSON(http.StatusOK, got)
}

// patchTerms makes a new terms version from the latest one with the
// given fields changed, effective from effective_from (default today):
// {"status": "paused"} pauses the partnership from today.
func (s *Server) patchTerms(c echo.Context) error {
	p, ps, ok, err := s.writablePartnership(c)
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
	merged := map[string]json.RawMessage{}
	if n := len(versions); n > 0 {
		b, _ := json.Marshal(versions[n-1])
		if err := json.Unmarshal(b, &merged); err != nil {
			return s.internal(c, "patch terms", err)
		}
		delete(merged, "end_date") // kept only if the patch or the version sets it
		if !versions[n-1].EndDate.IsZero() {
			merged["end_date"], _ = json.Marshal(versions[n-1].EndDate.Format(time.DateOnly))
		}
	}
	if _, ok := patch["effective_from"]; !ok {
		patch["effective_from"], _ = json.Marshal(s.Now().UTC().Format(time.DateOnly))
	}
	for k, v := range patch {
		merged[k] = v
	}
	var t catalog.Terms
	if field, reason := decodeMap(merged, &t, termsDates); reason != "" {
		return invalid(c, field, reason)
	}
	s.defaultTermDates(&t)
	got, err := s.cat.SetTerms(ctx, ps.ID, t, p.Actor())
	if err != nil {
		return s.writeError(c, "patch terms", "partnership", err)
	}
	if n := len(versions); n > 0 && got.Version <= versions[n-1].Version {
		return c.JSON(http.StatusOK, got)
	}
	s.logChange(c, p, "terms changed", ps.ID)
	return c.JSON(http.StatusCreated, got)
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
