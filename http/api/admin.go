package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/http/auth"
)

func (s *Server) auditLog(c echo.Context) error {
	p, ok, err := caller(c, access.Principal.CanReadAudit)
	if !ok {
		return err
	}
	f := catalog.AuditFilter{Entity: c.QueryParam("entity"), EntityID: c.QueryParam("entity_id"), Actor: c.QueryParam("actor")}
	for _, b := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		v := c.QueryParam(b.name)
		if v == "" {
			continue
		}
		t, err := dateOrTime(v)
		if err != nil {
			return badRequest(c, b.name+" must be a date (YYYY-MM-DD) or an RFC 3339 time")
		}
		*b.dst = t
	}
	// A country manager reads the entries filed under its countries only;
	// ?country= narrows, never widens.
	if p.Role == access.RoleCountryManager {
		f.Countries = slices.Clone(p.Countries)
	}
	if cc := strings.ToUpper(strings.TrimSpace(c.QueryParam("country"))); cc != "" {
		if f.Countries != nil && !slices.Contains(f.Countries, cc) {
			f.Countries = []string{}
		} else {
			f.Countries = []string{cc}
		}
	}
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return badRequest(c, "limit must be a positive integer")
		}
		f.Limit = min(n, catalog.MaxAuditLimit)
	}
	if v := c.QueryParam("tx"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return badRequest(c, "tx must be a positive integer (an entry's tx)")
		}
		f.Tx = n
	}
	es, err := s.cat.AuditLog(c.Request().Context(), f)
	if err != nil {
		return s.internal(c, "audit log", err)
	}
	out := make([]AuditView, 0, len(es))
	for _, e := range es {
		out = append(out, auditView(e))
	}
	return c.JSON(http.StatusOK, List[AuditView]{Items: out, Total: len(out)})
}

// AuditView is an audit entry as the API serves it: before and after are
// the JSON objects themselves (null when there is none, e.g. before a
// creation), not strings holding JSON, so clients decode once. They
// shadow the entry's strings (encoding/json prefers the shallower field).
type AuditView struct {
	catalog.AuditEntry
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
}

func auditView(e catalog.AuditEntry) AuditView {
	return AuditView{AuditEntry: e, Before: auditJSON(e.Before), After: auditJSON(e.After)}
}

// auditJSON is a stored before/after as raw JSON: null when empty; a
// value that is not JSON (never written by this code) is served as a
// JSON string rather than breaking the answer.
func auditJSON(v string) json.RawMessage {
	switch {
	case v == "":
		return json.RawMessage("null")
	case json.Valid([]byte(v)):
		return json.RawMessage(v)
	}
	b, _ := json.Marshal(v)
	return b
}

func (s *Server) listTokens(c echo.Context) error {
	_, ok, err := caller(c, access.Principal.CanManageTokens)
	if !ok {
		return err
	}
	ts, err := s.tokens.List(c.Request().Context())
	if err != nil {
		return s.internal(c, "list tokens", err)
	}
	if ts == nil {
		ts = []auth.Token{} // auth.Token carries no secret or hash
	}
	return c.JSON(http.StatusOK, List[auth.Token]{Items: ts, Total: len(ts)})
}

// TokenRequest is the body of POST /tokens.
type TokenRequest struct {
	Role      access.Role `json:"role"`
	Countries []string    `json:"countries"`
	Partner   string      `json:"partner"`
	Name      string      `json:"name"`
	ExpiresAt time.Time   `json:"expires_at"`
}

// CreatedToken is the answer to POST /tokens: the token string, shown
// this once, and the stored record.
type CreatedToken struct {
	Secret string `json:"token"`
	auth.Token
}

// refresh makes a token change take effect on this server now, and
// announces it to the others.
func (s *Server) refresh(c echo.Context) {
	if s.TokensChanged != nil {
		s.TokensChanged(c.Request().Context())
	}
	if s.v == nil {
		return
	}
	if err := s.v.Refresh(c.Request().Context()); err != nil {
		s.log.Warn("api: token refresh after change failed; the background reload will pick it up", "err", err)
		s.v.Invalidate()
	}
}

func (s *Server) createToken(c echo.Context) error {
	p, req, ok, err := createRequest[TokenRequest](c, access.Principal.CanManageTokens, nil)
	if !ok {
		return err
	}
	ctx := c.Request().Context()
	if req.Role == access.RolePartner && strings.TrimSpace(req.Partner) != "" {
		snap, err := s.load(ctx)
		if err != nil {
			return s.internal(c, "create token", err)
		}
		if _, ok := snap.Partners[strings.TrimSpace(req.Partner)]; !ok {
			return invalid(c, "partner", "partner "+strconv.Quote(strings.TrimSpace(req.Partner))+" does not exist")
		}
	}
	// The token and its audit entry are written together or not at all.
	tok, t, err := s.tokens.CreateAudited(ctx, auth.Spec{
		Role: req.Role, Countries: req.Countries, Partner: req.Partner, Name: req.Name,
		ExpiresAt: req.ExpiresAt, CreatedBy: p.Actor(),
	}, s.cat)
	if err != nil {
		if fe, ok := fieldError(err); ok {
			return invalid(c, fe.Field, fe.Reason)
		}
		return s.internal(c, "create token", err)
	}
	s.refresh(c)
	s.log.Info("api: token created", "id", t.ID, "role", t.Role, "by", p.Actor())
	return c.JSON(http.StatusCreated, CreatedToken{Secret: tok, Token: t})
}

func (s *Server) revokeToken(c echo.Context) error {
	p, ok, err := caller(c, access.Principal.CanManageTokens)
	if !ok {
		return err
	}
	id := c.Param("id")
	if !auth.ValidTokenID(id) {
		return notFound(c, "token")
	}
	t, err := s.tokens.RevokeAudited(c.Request().Context(), id, p.Actor(), s.cat)
	switch {
	case errors.Is(err, auth.ErrAlreadyRevoked):
		return c.JSON(http.StatusOK, t) // revoking is idempotent
	case errors.Is(err, auth.ErrNotFound):
		return notFound(c, "token")
	case err != nil:
		if fe, ok := fieldError(err); ok {
			return invalid(c, fe.Field, fe.Reason)
		}
		return s.internal(c, "revoke token", err)
	}
	s.refresh(c)
	s.log.Info("api: token revoked", "id", t.ID, "by", p.Actor())
	return c.JSON(http.StatusOK, t)
}
