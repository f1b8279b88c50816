package api

import (
	"errors"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/fx"
	"github.com/xpromo/xpromo/reports"
	"github.com/xpromo/xpromo/reports/statements"
)

// statementSource gathers what a statement reads.
func (s *Server) statementSource(c echo.Context) (statements.Source, error) {
	ctx := c.Request().Context()
	snap, err := s.snapshot(ctx)
	if err != nil {
		return statements.Source{}, err
	}
	zones, err := reports.LoadZones(ctx, s.cat.DB())
	if err != nil {
		return statements.Source{}, err
	}
	return statements.Source{Conn: s.events, PG: s.cat.DB(), Catalog: snap, Zones: zones, Rates: fx.NewStore(s.cat.DB()), Now: s.Now}, nil
}

// readsStatements: finance and admin read every statement; country
// managers those of their countries and partners their own (the lines are
// cut to the scope).
func readsStatements(p access.Principal) bool {
	switch p.Role {
	case access.RoleAdmin, access.RoleFinance, access.RoleCountryManager, access.RolePartner:
		return true
	}
	return false
}

// statement builds the period's statement cut to p's scope, or answers.
func (s *Server) statement(c echo.Context, p access.Principal) (*statements.Statement, bool, error) {
	if !readsStatements(p) {
		return nil, false, forbidden(c, p)
	}
	src, err := s.statementSource(c)
	if err != nil {
		return nil, false, s.internal(c, "statement", err)
	}
	st, err := statements.Build(c.Request().Context(), src, c.QueryParam("period"))
	if errors.Is(err, statements.ErrBadPeriod) {
		return nil, false, badRequest(c, "period must be a month, YYYY-MM")
	}
	if errors.Is(err, statements.ErrMissingRates) {
		return nil, false, missingRates(c, err)
	}
	if err != nil {
		return nil, false, s.internal(c, "statement", err)
	}
	scope := p.Scope()
	if scope.None() {
		return nil, false, forbidden(c, p)
	}
	return st.Scoped(scope.Countries, scope.Partner), true, nil
}

// missingRates answers 409: the statement needs ECB rates not loaded yet;
// the reason lists every currency and day (it names no partner).
func missingRates(c echo.Context, err error) error {
	var m *statements.MissingRatesError
	if !errors.As(err, &m) {
		return fail(c, http.StatusConflict, "missing_fx_rates", statements.ErrMissingRates.Error())
	}
	return fail(c, http.StatusConflict, "missing_fx_rates", m.Error())
}

func (s *Server) getStatement(c echo.Context) error {
	p, ok, err := principal(c)
	if !ok {
		return err
	}
	st, ok, err := s.statement(c, p)
	if !ok {
		return err
	}
	return s.blob(c, http.StatusOK, echo.MIMEApplicationJSONCharsetUTF8, "", "statement", st.WriteJSON)
}

// closeStatement closes a month (finance and admin): the statement becomes
// immutable and later events go to the next open month as adjustments.
func (s *Server) closeStatement(c echo.Context) error {
	p, ok, err := principal(c)
	if !ok {
		return err
	}
	if p.Role != access.RoleFinance && p.Role != access.RoleAdmin {
		return forbidden(c, p)
	}
	src, err := s.statementSource(c)
	if err != nil {
		return s.internal(c, "close statement", err)
	}
	st, err := statements.Close(c.Request().Context(), src, c.QueryParam("period"), p.Actor())
	switch {
	case errors.Is(err, statements.ErrBadPeriod):
		return badRequest(c, "period must be a month, YYYY-MM")
	case errors.Is(err, statements.ErrClosed):
		// "2026-10 is already closed: statement st_..., closed at ... by ...".
		return fail(c, http.StatusConflict, "closed", err.Error())
	case errors.Is(err, statements.ErrMissingRates):
		return missingRates(c, err)
	case err != nil:
		return s.internal(c, "close statement", err)
	}
	s.logChange(c, p, "statement closed", st.ID)
	if err := s.cat.Audit(c.Request().Context(), catalog.AuditEntry{Actor: p.Actor(), Action: "close", Entity: "statement", EntityID: st.ID,
		After: `{"period":` + quote(st.Period) + `,"hash":` + quote(st.Hash) + `}`}); err != nil {
		s.log.Error("api: audit of a statement close failed", "err", err, "statement", st.ID)
	}
	return s.blob(c, http.StatusCreated, echo.MIMEApplicationJSONCharsetUTF8, "", "close statement", st.WriteJSON)
}

// exportStatement answers the statement as a file: csv, xlsx or json,
// named after the period and the statement's hash.
func (s *Server) exportStatement(c echo.Context) error {
	p, ok, err := principal(c)
	if !ok {
		return err
	}
	format := c.QueryParam("format")
	types := map[string]string{
		"csv":  "text/csv; charset=utf-8",
		"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
		"json": echo.MIMEApplicationJSONCharsetUTF8,
	}
	if format == "" {
		format = "csv"
	}
	if types[format] == "" {
		return badRequest(c, "format must be csv, xlsx or json")
	}
	st, ok, err := s.statement(c, p)
	if !ok {
		return err
	}
	write := map[string]func(io.Writer) error{"csv": st.WriteCSV, "xlsx": st.WriteXLSX, "json": st.WriteJSON}[format]
	return s.blob(c, http.StatusOK, types[format], st.FileName(format), "export statement", write)
}
