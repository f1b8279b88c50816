package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/reports/statements"
)

// lineCols are the fields of a statement line in the API's JSON (and the
// export), in their canonical order.
var lineCols = []string{"kind", "adjusts_period", "partnership", "partner", "country", "direction", "currency",
	"terms_version", "new_users", "revenue", "cpa", "revshare", "we_owe", "they_owe", "net", "fx_rates"}

var totalCols = []string{"currency", "new_users", "revenue", "cpa", "revshare", "we_owe", "they_owe", "net"}

var moneyCols = map[string]bool{"revenue": true, "cpa": true, "revshare": true, "we_owe": true, "they_owe": true, "net": true}

type statementData struct {
	Period, Status, ID, Hash, ClosedAt, ClosedBy string
	CanClose                                     bool
	Prev, Next                                   string
	CSV, XLSX                                    string
}

var monthRe = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}$`)

// readsStatements is the API's rule: finance and admin read every
// statement, country managers their countries' lines, partners their own.
func readsStatements(p access.Principal) bool {
	switch p.Role {
	case access.RoleAdmin, access.RoleFinance, access.RoleCountryManager, access.RolePartner:
		return true
	}
	return false
}

func closesStatements(p access.Principal) bool {
	return p.Role == access.RoleFinance || p.Role == access.RoleAdmin
}

// statementPeriod is ?period=, by default the last month (the one to close).
func (s *Server) statementPeriod(q *req) (string, error) {
	period := q.r.URL.Query().Get("period")
	if period == "" {
		now := s.cfg.Now().UTC()
		return time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -1, 0).Format("2006-01"), nil
	}
	if !monthRe.MatchString(period) {
		return "", badRequest("period must be a month, YYYY-MM")
	}
	return period, nil
}

// statement builds the period's statement cut to the reader's scope, as
// GET /v1/statements does.
func (s *Server) statement(q *req, period string) (*statements.Statement, error) {
	if !readsStatements(q.p) {
		return nil, &httpError{http.StatusForbidden, "Your role does not read statements."}
	}
	src, err := s.statementSource(q.r.Context())
	if err != nil {
		return nil, err
	}
	st, err := statements.Build(q.r.Context(), src, period)
	if errors.Is(err, statements.ErrBadPeriod) {
		return nil, badRequest("period must be a month, YYYY-MM")
	}
	if errors.Is(err, statements.ErrMissingRates) {
		return nil, &httpError{http.StatusConflict, err.Error()}
	}
	if err != nil {
		return nil, fmt.Errorf("statement: %w", err)
	}
	scope := q.p.Scope()
	if scope.None() {
		return nil, &httpError{http.StatusForbidden, "Your token reads no statements."}
	}
	return st.Scoped(scope.Countries, scope.Partner), nil
}

// lineKey is a statement line's data-key: partnership/direction/
// currency/terms_version, which tell a month's regular lines apart, and
// for an adjustment "/adjusts-" and the month it adjusts.
func lineKey(m map[string]string) string {
	k := strings.Join([]string{m["partnership"], m["direction"], m["currency"], m["terms_version"]}, "/")
	if m["kind"] == statements.KindAdjustment {
		k += "/adjusts-" + m["adjusts_period"]
	}
	return k
}

// statementTables are the lines and totals of st, with the API's JSON
// values (amounts with the currency's minor-unit decimals).
func (s *Server) statementTables(q *req, st *statements.Statement, path string, query url.Values) ([]*Table, error) {
	money := func(cur string) func(col, raw string) string {
		return func(col, raw string) string {
			if !moneyCols[col] {
				if col == "new_users" || col == "terms_version" {
					if d, err := decimal.NewFromString(raw); err == nil {
						return q.loc.Int(d.IntPart())
					}
				}
				return raw
			}
			d, err := decimal.NewFromString(raw)
			if err != nil {
				return raw
			}
			return q.loc.Money(d, cur)
		}
	}
	lines := &Table{Name: "statement", Title: "Statement lines", Empty: "No lines in this period."}
	for _, c := range lineCols {
		lines.Cols = append(lines.Cols, Col{Name: c, Label: label(c), Num: moneyCols[c] || c == "new_users"})
	}
	for _, l := range st.Lines {
		m, err := jsonFields(l)
		if err != nil {
			return nil, err
		}
		row := Row{Key: lineKey(m), Partnership: m["partnership"]}
		f := money(l.Currency)
		for _, c := range lineCols {
			row.Cells = append(row.Cells, Cell{Col: c, Raw: m[c], Text: f(c, m[c]), Num: moneyCols[c] || c == "new_users"})
		}
		lines.Rows = append(lines.Rows, row)
	}
	totals := &Table{Name: "totals", Title: "Totals per currency", Empty: "No totals."}
	for _, c := range totalCols {
		totals.Cols = append(totals.Cols, Col{Name: c, Label: label(c), Num: c != "currency"})
	}
	for _, t := range st.Totals {
		m, err := jsonFields(t)
		if err != nil {
			return nil, err
		}
		row := Row{Key: t.Currency}
		f := money(t.Currency)
		for _, c := range totalCols {
			row.Cells = append(row.Cells, Cell{Col: c, Raw: m[c], Text: f(c, m[c]), Num: c != "currency"})
		}
		totals.Rows = append(totals.Rows, row)
	}
	lines.CSV = csvHref(path, lines.Name, query)
	totals.CSV = csvHref(path, totals.Name, query)
	return []*Table{lines, totals}, nil
}

func (s *Server) statementsPage(q *req) (*page, error) {
	period, err := s.statementPeriod(q)
	if err != nil {
		return nil, err
	}
	st, err := s.statement(q, period)
	if err != nil {
		return nil, err
	}
	query := url.Values{"period": {period}}
	tables, err := s.statementTables(q, st, "/app/statements", query)
	if err != nil {
		return nil, err
	}
	return &page{Title: "Statements " + period, Template: "statements", Tables: tables, Data: s.statementData(q, st)}, nil
}

func (s *Server) statementData(q *req, st *statements.Statement) *statementData {
	d := &statementData{Period: st.Period, Status: st.Status, ID: st.ID, Hash: st.Hash, ClosedBy: st.ClosedBy,
		CanClose: st.Status != statements.StatusClosed && closesStatements(q.p)}
	if !st.ClosedAt.IsZero() {
		d.ClosedAt = st.ClosedAt.UTC().Format(time.RFC3339)
	}
	if t, err := time.Parse("2006-01", st.Period); err == nil {
		d.Prev, d.Next = t.AddDate(0, -1, 0).Format("2006-01"), t.AddDate(0, 1, 0).Format("2006-01")
	}
	d.CSV = "/app/statements/export?" + url.Values{"period": {st.Period}, "format": {"csv"}}.Encode()
	d.XLSX = "/app/statements/export?" + url.Values{"period": {st.Period}, "format": {"xlsx"}}.Encode()
	return d
}

// exportTypes are the export formats, as GET /v1/exports/statements.
var exportTypes = map[string]string{
	"csv":  "text/csv; charset=utf-8",
	"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	"json": "application/json; charset=UTF-8",
}

// statementExport answers the same bytes as GET /v1/exports/statements.
func (s *Server) statementExport(q *req) error {
	format := q.r.URL.Query().Get("format")
	if format == "" {
		format = "csv"
	}
	if exportTypes[format] == "" {
		return s.errorPage(q.c, q, http.StatusBadRequest, "format must be csv, xlsx or json")
	}
	period, err := s.statementPeriod(q)
	if err != nil {
		return s.fail(q, err)
	}
	st, err := s.statement(q, period)
	if err != nil {
		return s.fail(q, err)
	}
	write := map[string]func(io.Writer) error{"csv": st.WriteCSV, "xlsx": st.WriteXLSX, "json": st.WriteJSON}[format]
	return s.attachment(q, "export statement", exportTypes[format], st.FileName(format), write)
}

// closePeriod is POST /v1/statements/close from the dashboard (finance and
// admin): the same statements.Close and the same audit entry.
func (s *Server) closePeriod(q *req) error {
	if !closesStatements(q.p) {
		return s.errorPage(q.c, q, http.StatusForbidden, "Only finance and admin close periods.")
	}
	period := q.r.PostFormValue("period")
	if !monthRe.MatchString(period) {
		return s.errorPage(q.c, q, http.StatusBadRequest, "period must be a month, YYYY-MM")
	}
	ctx := q.r.Context()
	src, err := s.statementSource(ctx)
	if err != nil {
		return s.fail(q, err)
	}
	st, err := statements.Close(ctx, src, period, q.p.Actor())
	switch {
	case errors.Is(err, statements.ErrClosed):
		return s.errorPage(q.c, q, http.StatusConflict, err.Error()+".")
	case errors.Is(err, statements.ErrBadPeriod):
		return s.errorPage(q.c, q, http.StatusBadRequest, "A period can be closed once it has ended everywhere: "+err.Error())
	case errors.Is(err, statements.ErrMissingRates):
		return s.errorPage(q.c, q, http.StatusConflict, "The period cannot be closed yet: "+err.Error())
	case err != nil:
		return s.fail(q, fmt.Errorf("close statement: %w", err))
	}
	s.log.Info("web: statement closed", "id", st.ID, "by", q.p.Actor())
	// The API's audit entry, byte for byte.
	per, _ := json.Marshal(st.Period)
	hash, _ := json.Marshal(st.Hash)
	after := `{"period":` + string(per) + `,"hash":` + string(hash) + `}`
	if err := s.cfg.Catalog.Audit(ctx, catalog.AuditEntry{Actor: q.p.Actor(), Action: "close", Entity: "statement", EntityID: st.ID,
		After: after}); err != nil {
		s.log.Error("web: audit of a statement close failed", "err", err, "statement", st.ID)
	}
	return q.c.Redirect(http.StatusSeeOther, "/app/statements?"+url.Values{"period": {period}}.Encode())
}
