package api

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/reports"
)

// Country managers learn from each other: a partner's results across
// countries (GET /partners/:id/countries), the partners that work
// elsewhere (GET /insights/partners), playbook notes (PUT
// /partnerships/:id/playbook) and replicating an agreement into another
// country (POST /partners/:id/replicate). What of another country a
// reader sees is decided by reports.Cross, once.

// crossRequest reads the period and min_clicks of a cross-country read
// (reports.ReadCross) and loads what it needs: the whole catalog,
// playbooks and origins. It answers the error itself when ok is false.
func (s *Server) crossRequest(c echo.Context) (cr reports.Cross, env *reports.Env, format string, ok bool, err error) {
	p, ok, err := caller(c, access.Principal.CanReadInsights)
	if !ok {
		return cr, nil, "", false, err
	}
	q := c.QueryParams()
	if cr, err = reports.ReadCross(p, s.Now(), q); err != nil {
		return cr, nil, "", false, badRequest(c, err.Error())
	}
	format = q.Get("format")
	switch format {
	case "", reports.FormatJSON, reports.FormatCSV, reports.FormatXLSX:
	default:
		return cr, nil, "", false, badRequest(c, "format must be json, csv or xlsx")
	}
	ctx := c.Request().Context()
	snap, err := s.snapshot(ctx)
	if err == nil {
		env, err = s.Zones.Env(ctx, s.events, snap)
	}
	if err == nil {
		err = cr.ReadNotes(ctx, s.cat)
	}
	if err != nil {
		return cr, nil, "", false, s.internal(c, "cross-country results", err)
	}
	if cr.Missing != "" {
		s.log.Warn("api: cross-country results: " + cr.Missing)
	}
	return cr, env, format, true, nil
}

// partnerCountries serves GET /partners/:id/countries.
func (s *Server) partnerCountries(c echo.Context) error {
	cr, env, format, ok, err := s.crossRequest(c)
	if !ok {
		return err
	}
	id := c.Param("id")
	if !reports.Listed(cr.Reader, env.Catalog, id) {
		return notFound(c, "partner")
	}
	t, err := reports.PartnerCountries(c.Request().Context(), env, cr, id)
	if err != nil {
		return s.internal(c, "partner countries", err)
	}
	return s.serveTable(c, t, "xpromo-partner-"+id+"-countries-"+cr.From.Format(time.DateOnly)+"-"+cr.To.Format(time.DateOnly), format)
}

// partnerInsights serves GET /insights/partners: ?absent=true keeps the
// partners absent from the reader's countries (or from ?country=) that
// do well elsewhere.
func (s *Server) partnerInsights(c echo.Context) error {
	cr, env, format, ok, err := s.crossRequest(c)
	if !ok {
		return err
	}
	absentFrom, err := reports.AbsentFrom(cr.Reader, c.QueryParam("country"), c.QueryParam("absent"), false)
	if err != nil {
		return badRequest(c, err.Error())
	}
	t, err := reports.PartnerInsights(c.Request().Context(), env, cr, absentFrom)
	if err != nil {
		return s.internal(c, "partner insights", err)
	}
	return s.serveTable(c, t, "xpromo-partner-insights-"+cr.From.Format(time.DateOnly)+"-"+cr.To.Format(time.DateOnly), format)
}

// PlaybookRequest is the body of PUT /partnerships/:id/playbook; an
// empty note removes it.
type PlaybookRequest struct {
	Note string `json:"note"`
}

// putPlaybook serves PUT /partnerships/:id/playbook: the managers of the
// partnership's country (and admins) write its note; If-Match as for
// the catalog's objects.
func (s *Server) putPlaybook(c echo.Context) error {
	p, ps, ok, err := s.writablePartnership(c)
	if !ok {
		return err
	}
	version, _, ok, err := ifMatch(c, 1)
	if !ok {
		return err
	}
	var req PlaybookRequest
	if ok, err := decodeBody(c, &req, nil); !ok {
		return err
	}
	pb, err := s.cat.SetPlaybook(c.Request().Context(), ps.ID, req.Note, version, p.Actor())
	if err != nil {
		return s.writeError(c, "set playbook", "partnership", err)
	}
	setETag(c, pb.Version)
	s.logChange(c, p, "playbook set", ps.ID)
	return c.JSON(http.StatusOK, pb)
}

// ReplicateRequest is the body of POST /partners/:id/replicate: copy the
// partner's partnership in SourceCountry into Country. Terms adjusts the
// copied terms (the fields of PUT /partnerships/:id/terms); a reader who
// may not read SourceCountry must give the money there (currency, and the
// CPAs and revenue shares of the directions it runs) and the URL
// template of each direction the source has links of.
type ReplicateRequest struct {
	SourceCountry string          `json:"source_country"`
	Country       string          `json:"country"`
	ID            string          `json:"id,omitempty"`
	URLTemplate   string          `json:"url_template,omitempty"`
	OutboundURL   string          `json:"outbound_url_template,omitempty"`
	Lang          string          `json:"lang,omitempty"`
	Start         string          `json:"start,omitempty"` // YYYY-MM-DD; default today
	Terms         json.RawMessage `json:"terms,omitempty"`
}

// replicate serves POST /partners/:id/replicate.
func (s *Server) replicate(c echo.Context) error {
	p, ok, err := caller(c, access.Principal.WritesPartnerships)
	if !ok {
		return err
	}
	var req ReplicateRequest
	if ok, err := decodeBody(c, &req, nil); !ok {
		return err
	}
	req.Country = strings.ToUpper(strings.TrimSpace(req.Country))
	req.SourceCountry = strings.ToUpper(strings.TrimSpace(req.SourceCountry))
	for _, f := range []struct{ name, v string }{{"country", req.Country}, {"source_country", req.SourceCountry}} {
		if fe := catalog.ValidCountry(f.name, f.v); fe != nil {
			return invalid(c, f.name, fe.(*catalog.FieldError).Reason)
		}
	}
	// The country written to must be the reader's: 403, as for any write
	// outside a manager's countries.
	if !p.CanWritePartnership(req.Country) {
		return forbidden(c, p)
	}
	r := catalog.Replication{Country: req.Country, ID: req.ID, URLTemplate: req.URLTemplate, OutboundURLTemplate: req.OutboundURL, Lang: req.Lang}
	if req.Start != "" {
		if r.From, err = time.Parse(time.DateOnly, req.Start); err != nil {
			return invalid(c, "start", "must be a date (YYYY-MM-DD)")
		}
	} else {
		r.From = s.Now().UTC()
	}
	var patch map[string]json.RawMessage
	if len(req.Terms) > 0 && string(req.Terms) != "null" {
		if err := json.Unmarshal(req.Terms, &patch); err != nil || patch == nil {
			return invalid(c, "terms", "must be a JSON object of terms fields")
		}
	}
	r.Set = func(t *catalog.Terms) ([]string, error) {
		if len(patch) == 0 {
			return nil, nil
		}
		out, field, reason := patchedTerms(t, patch)
		if reason != "" {
			return nil, &catalog.FieldError{Field: "terms." + field, Reason: reason}
		}
		*t = out
		return slices.Collect(maps.Keys(patch)), nil
	}
	ctx := c.Request().Context()
	partner := c.Param("id")
	src, found, err := s.cat.PartnershipOf(ctx, partner, req.SourceCountry)
	if err != nil {
		return s.writeError(c, "replicate partnership", "id", err)
	}
	if !found {
		snap, err := s.snapshot(ctx)
		if err != nil {
			return s.internal(c, "replicate partnership", err)
		}
		if !reports.Listed(p, snap, partner) {
			return notFound(c, "partner")
		}
		return notFound(c, "partnership of partner "+strconv.Quote(partner)+" in "+req.SourceCountry)
	}
	r.Source = src.ID
	r.Blind = !p.CanReadPartnership(req.SourceCountry, partner)
	out, err := s.cat.Replicate(ctx, r, p.Actor())
	if err != nil {
		return s.writeError(c, "replicate partnership", "id", err)
	}
	setETag(c, out.Partnership.Version)
	s.logChange(c, p, "partnership replicated", out.Partnership.ID)
	return c.JSON(http.StatusCreated, out)
}
