package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/xpromo/xpromo/reports"
)

// getReport serves GET /reports/:name: the report limited to the reader's
// scope (a country manager's countries, a partner's own partnerships),
// which the query can narrow but never widen. JSON by default, CSV with
// format=csv.
func (s *Server) getReport(c echo.Context) error {
	p, ok, err := principal(c)
	if !ok {
		return err
	}
	if !p.CanReadReports() {
		return forbidden(c, p)
	}
	name := c.Param("name")
	rep, found := reports.Registry[name]
	if !found {
		return notFound(c, "report")
	}
	q := c.QueryParams()
	var par reports.Params
	now := time.Now().UTC()
	par.From = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	par.To = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	for _, d := range []struct {
		name string
		dst  *time.Time
	}{{"from", &par.From}, {"to", &par.To}} {
		if v := q.Get(d.name); v != "" {
			t, err := time.Parse(time.DateOnly, v)
			if err != nil {
				return badRequest(c, d.name+" must be a date (YYYY-MM-DD)")
			}
			*d.dst = t
		}
	}
	par.Granularity, par.Compare = q.Get("granularity"), q.Get("compare")
	if v := q.Get("include_bots"); v != "" {
		if par.IncludeBots, err = strconv.ParseBool(v); err != nil {
			return badRequest(c, "include_bots must be true or false")
		}
	}
	// The scope comes from the token; filters narrow it.
	scope := p.Scope()
	if v := q.Get("country"); v != "" {
		var ccs []string
		for _, cc := range strings.Split(v, ",") {
			ccs = append(ccs, strings.ToUpper(strings.TrimSpace(cc)))
		}
		scope = scope.WithCountries(ccs...)
	}
	if v := strings.TrimSpace(q.Get("partner")); v != "" {
		scope = scope.WithPartner(v)
	}
	if scope.None() {
		par.Countries = []string{} // nothing: an empty report, not an error
	} else {
		par.Countries, par.Partner = scope.Countries, scope.Partner
	}
	if v := strings.TrimSpace(q.Get("partnership")); v != "" {
		par.Partnerships = []string{v}
	}
	format := q.Get("format")
	switch format {
	case "", reports.FormatJSON, reports.FormatCSV:
	default:
		return badRequest(c, "format must be json or csv")
	}
	if err := par.Validate(); err != nil {
		return badRequest(c, err.Error())
	}
	ctx := c.Request().Context()
	snap, err := s.snapshot(ctx)
	if err != nil {
		return s.internal(c, "report", err)
	}
	zones, err := reports.LoadZones(ctx, s.cat.Conn())
	if err != nil {
		return s.internal(c, "report", err)
	}
	t, err := rep.Run(ctx, &reports.Env{Conn: s.cat.Conn(), Catalog: snap, Zones: zones}, par, q.Get("by"))
	var bad *reports.ParamError
	switch {
	case errors.Is(err, reports.ErrNoPartnership) && !errors.As(err, &bad):
		return notFound(c, "partnership")
	case errors.As(err, &bad):
		return badRequest(c, bad.Error())
	case err != nil:
		return s.internal(c, "report "+name, err)
	}
	if format == reports.FormatCSV {
		file := "xpromo-" + name + "-" + par.From.Format(time.DateOnly) + "-" + par.To.Format(time.DateOnly) + ".csv"
		c.Response().Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
		c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+file+`"`)
		c.Response().WriteHeader(http.StatusOK)
		return t.Write(c.Response(), reports.FormatCSV)
	}
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSONCharsetUTF8)
	c.Response().WriteHeader(http.StatusOK)
	return t.Write(c.Response(), reports.FormatJSON)
}
