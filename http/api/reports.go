package api

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/reports"
)

// getReport serves GET /reports/:name: the report limited to the reader's
// scope (a country manager's countries, a partner's own partnerships),
// which the query can narrow but never widen. JSON by default, CSV with
// format=csv, XLSX with format=xlsx.
func (s *Server) getReport(c echo.Context) error {
	p, ok, err := caller(c, access.Principal.CanReadReports)
	if !ok {
		return err
	}
	name := c.Param("name")
	rep, found := reports.Registry[name]
	if !found {
		return notFound(c, "report")
	}
	par, format, by, err := reportQuery(c.QueryParams(), p.Scope(), s.Now())
	if err != nil {
		return badRequest(c, err.Error())
	}
	ctx := c.Request().Context()
	snap, err := s.snapshot(ctx)
	if err != nil {
		return s.internal(c, "report", err)
	}
	env, err := s.Zones.Env(ctx, s.events, snap)
	if err != nil {
		return s.internal(c, "report", err)
	}
	t, err := rep.Run(ctx, env, par, by)
	var bad *reports.ParamError
	switch {
	case errors.Is(err, reports.ErrNoPartnership) && !errors.As(err, &bad):
		return notFound(c, "partnership")
	case errors.As(err, &bad):
		return badRequest(c, bad.Error())
	case err != nil:
		return s.internal(c, "report "+name, err)
	}
	return s.serveTable(c, t, "xpromo-"+name+"-"+par.From.Format(time.DateOnly)+"-"+par.To.Format(time.DateOnly), format)
}

// serveTable answers t in format (JSON by default, CSV, XLSX), a file
// named file plus the format's extension for the last two.
func (s *Server) serveTable(c echo.Context, t *reports.Table, file, format string) error {
	if format == "" {
		format = reports.FormatJSON
	}
	file += "." + format
	switch format {
	case reports.FormatCSV:
		c.Response().Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
		c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+file+`"`)
		c.Response().WriteHeader(http.StatusOK)
		return t.Write(c.Response(), reports.FormatCSV)
	case reports.FormatXLSX:
		return s.blob(c, http.StatusOK, reports.ContentTypeXLSX, file, t.Report,
			func(w io.Writer) error { return t.Write(w, reports.FormatXLSX) })
	}
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSONCharsetUTF8)
	c.Response().WriteHeader(http.StatusOK)
	return t.Write(c.Response(), reports.FormatJSON)
}
