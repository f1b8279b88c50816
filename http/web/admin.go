package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/http/auth"
)

// adminLimit is how many audit entries the admin page shows (the CSV has
// the same).
const adminLimit = 200

// Columns of the admin tables: the API's JSON fields.
var (
	partnerCols     = []string{"id", "name", "domains", "status", "countries"}
	partnershipCols = []string{"id", "partner", "country", "direction"}
	termsCols       = []string{"partnership", "version", "effective_from", "currency", "inbound_cpa", "inbound_revshare_pct",
		"outbound_cpa", "outbound_revshare_pct", "attribution_model", "attribution_window_days",
		"target_inbound_users_month", "target_outbound_users_month", "start_date", "end_date", "status",
		"partner_may_create_links", "created_at", "created_by"}
	tokenCols = []string{"id", "role", "countries", "partner", "name", "created_at", "expires_at", "revoked_at", "created_by", "revoked_by"}
	auditCols = []string{"ts", "id", "actor", "action", "entity", "entity_id", "country"}
)

// adminPage: partners, partnerships with every terms version, links,
// tokens (with revoke) and the latest audit entries.
func (s *Server) adminPage(q *req) (*page, error) {
	if q.p.Role != access.RoleAdmin {
		return nil, notFound("Page")
	}
	ctx := q.r.Context()
	snap, err := s.cfg.Catalog.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("admin page: %w", err)
	}
	partners := sortedValues(snap.Partners, func(p catalog.Partner) string { return p.ID })
	pt, err := objectTable("partners", "Partners", partners, partnerCols, func(p catalog.Partner) string { return p.ID }, nil)
	if err != nil {
		return nil, err
	}
	pss := sortedValues(snap.Partnerships, func(p catalog.Partnership) string { return p.ID })
	pst, err := objectTable("partnerships", "Partnerships", pss, partnershipCols, func(p catalog.Partnership) string { return p.ID }, nil)
	if err != nil {
		return nil, err
	}
	for i := range pst.Rows {
		id := pst.Rows[i].Key
		pst.Rows[i].Partnership = id
		if n := len(snap.Terms[id]); n > 0 {
			pst.Rows[i].Status = partnershipButtons(id, snap.Terms[id][n-1].Status, snap.Terms[id][n-1].Version)
		}
	}
	var terms []catalog.Terms
	for _, ps := range pss {
		terms = append(terms, snap.Terms[ps.ID]...)
	}
	tt, err := objectTable("terms", "Terms versions", terms, termsCols,
		func(t catalog.Terms) string { return fmt.Sprintf("%s:%d", t.Partnership, t.Version) }, nil)
	if err != nil {
		return nil, err
	}
	links, err := s.linksTable(q, snap, func(catalog.Link) bool { return true })
	if err != nil {
		return nil, err
	}
	toks, err := s.cfg.Tokens.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("admin page: %w", err)
	}
	tokt, err := objectTable("tokens", "Tokens", toks, tokenCols, func(t auth.Token) string { return t.ID }, nil)
	if err != nil {
		return nil, err
	}
	for i, t := range toks {
		if !t.Revoked() {
			tokt.Rows[i].Revoke = t.ID
		}
	}
	audit, err := s.cfg.Catalog.AuditLog(ctx, catalog.AuditFilter{Limit: adminLimit})
	if err != nil {
		return nil, fmt.Errorf("admin page: %w", err)
	}
	at, err := objectTable("audit", "Audit log (latest)", audit, auditCols, func(e catalog.AuditEntry) string { return e.ID }, nil)
	if err != nil {
		return nil, err
	}
	tables := []*Table{pt, pst, tt, links, tokt, at}
	for _, t := range tables {
		t.CSV = csvHref("/app/admin", t.Name, nil)
		t.Return = "/app/admin"
	}
	opts := &formOpts{Roles: access.Roles, Partners: activePartners(snap)}
	return &page{Title: "Admin", Template: "admin", Tables: tables, Opts: opts}, nil
}

func sortedValues[T any](m map[string]T, key func(T) string) []T {
	out := make([]T, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b T) int { return strings.Compare(key(a), key(b)) })
	return out
}

// revokeToken is DELETE /v1/tokens/ID from a form (admin): the same store
// call, refresh and audit entry shape.
func (s *Server) revokeToken(q *req) error {
	if !q.p.CanManageTokens() {
		return s.errorPage(q.c, q, http.StatusForbidden, "Only admins manage tokens.")
	}
	id := q.r.PostFormValue("id")
	if !auth.ValidTokenID(id) {
		return s.errorPage(q.c, q, http.StatusNotFound, "Token not found.")
	}
	ctx := q.r.Context()
	t, err := s.cfg.Tokens.RevokeAudited(ctx, id, q.p.Actor(), s.cfg.Catalog)
	switch {
	case errors.Is(err, auth.ErrAlreadyRevoked):
	case errors.Is(err, auth.ErrNotFound):
		return s.errorPage(q.c, q, http.StatusNotFound, "Token not found.")
	case err != nil:
		return s.fail(q, fmt.Errorf("revoke token: %w", err))
	default:
		s.tokensChanged(q)
		s.log.Info("web: token revoked", "id", t.ID, "by", q.p.Actor())
	}
	return q.c.Redirect(http.StatusSeeOther, "/app/admin?"+url.Values{"notice": {"Token " + id + " revoked."}}.Encode())
}

// tokensChanged makes a token change take effect on this server now and
// announces it to the others, as the API's refresh.
func (s *Server) tokensChanged(q *req) {
	ctx := q.r.Context()
	if s.cfg.TokensChanged != nil {
		s.cfg.TokensChanged(ctx)
	}
	if err := s.cfg.Verifier.Refresh(ctx); err != nil {
		s.log.Warn("web: token refresh after a change failed; the background reload will pick it up", "err", err)
		s.cfg.Verifier.Invalidate()
	}
}
