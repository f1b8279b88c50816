// Package api is the management API: JSON over HTTP for partners,
// partnerships, their terms, the audit log and tokens. Register mounts it
// on an echo group that already authenticates with auth.Middleware.
//
// Every read and write is checked against the caller's access.Principal. An
// object the caller may not see answers 404, exactly as one that does not
// exist, so its existence does not leak; 403 is kept for a role that may
// not use an endpoint at all.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/labstack/echo/v4"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/http/auth"
	"github.com/xpromo/xpromo/lib/pgdb"
	"github.com/xpromo/xpromo/reports"
	"github.com/xpromo/xpromo/tracker/conversion"
)

// Limits of the API.
const (
	MaxBody      = 64 << 10 // request bodies, bytes
	DefaultLimit = 100      // list pages
	MaxLimit     = 1000
)

// Server serves the management API.
type Server struct {
	// TrackingBase is the public base URL of the tracker, e.g.
	// "https://go.example.com", used to build links' tracking URLs; empty
	// means the scheme and host the API request came with.
	TrackingBase string
	// TokensChanged, if set, is called after a token is created or revoked,
	// e.g. to tell the other trackers to reload their tokens.
	TokensChanged func(context.Context)
	// Snapshot, if set, gives the catalog reports read (the tracker's
	// in-memory copy, at most a refresh old) instead of a load per request.
	Snapshot func() *catalog.Snapshot
	// Conversions records POST /conversions; nil answers 503.
	Conversions *conversion.Recorder
	// Zones gives the countries' time zones reports read, kept while
	// PostgreSQL is down as Snapshot keeps the catalog (New sets one).
	Zones *reports.Zones
	// Now is the clock of the API's business rules (default dates, a
	// link's terms in force, report ranges); tests move it.
	Now func() time.Time

	cat    *catalog.Store
	events driver.Conn // ClickHouse: reports, statements, conversions
	tokens *auth.Store
	v      *auth.Verifier
	log    *slog.Logger
}

// New returns a Server on the catalog cat and the events in ClickHouse. v
// is refreshed after a token is created or revoked, so the change takes
// effect on this server at once.
func New(cat *catalog.Store, events driver.Conn, tokens *auth.Store, v *auth.Verifier, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cat: cat, events: events, tokens: tokens, v: v, log: log, Now: time.Now}
	if cat != nil { // nil in tests of the routes alone
		s.Zones = reports.NewZones(cat.DB(), log)
	}
	return s
}

// Register adds the routes to g, a group (normally /v1) that runs
// auth.Middleware before them. Every other method on a route's path is
// answered 405 with Allow (see MethodNotAllowedRoute).
func (s *Server) Register(g *echo.Group) {
	r := newRoutes(g)
	r.add(http.MethodGet, "/partners", s.listPartners)
	r.add(http.MethodPost, "/partners", s.createPartner)
	r.add(http.MethodGet, "/partners/:id", s.getPartner)
	r.add(http.MethodPatch, "/partners/:id", s.updatePartner)
	r.add(http.MethodGet, "/partners/:id/countries", s.partnerCountries)
	r.add(http.MethodPost, "/partners/:id/replicate", s.replicate)
	r.add(http.MethodGet, "/insights/partners", s.partnerInsights)
	r.add(http.MethodGet, "/partnerships", s.listPartnerships)
	r.add(http.MethodPost, "/partnerships", s.createPartnership)
	r.add(http.MethodGet, "/partnerships/:id", s.getPartnership)
	r.add(http.MethodPatch, "/partnerships/:id", s.updatePartnership)
	r.add(http.MethodGet, "/partnerships/:id/versions", s.termsVersions)
	r.add(http.MethodPut, "/partnerships/:id/terms", s.putTerms)
	r.add(http.MethodPatch, "/partnerships/:id/terms", s.patchTerms)
	r.add(http.MethodPut, "/partnerships/:id/playbook", s.putPlaybook)
	r.add(http.MethodGet, "/links", s.listLinks)
	r.add(http.MethodPost, "/links", s.createLink)
	r.add(http.MethodGet, "/links/:code", s.getLink)
	r.add(http.MethodPatch, "/links/:code", s.updateLink)
	r.add(http.MethodGet, "/links/:code/qr.png", s.linkQR)
	r.add(http.MethodPost, "/conversions", s.postConversions)
	r.add(http.MethodGet, "/conversions/:id", s.getConversion)
	r.add(http.MethodGet, "/reports/:name", s.getReport)
	r.add(http.MethodGet, "/statements", s.getStatement)
	r.add(http.MethodPost, "/statements/close", s.closeStatement)
	r.add(http.MethodGet, "/exports/statements", s.exportStatement)
	r.add(http.MethodGet, "/audit", s.auditLog)
	r.add(http.MethodGet, "/tokens", s.listTokens)
	r.add(http.MethodPost, "/tokens", s.createToken)
	r.add(http.MethodDelete, "/tokens/:id", s.revokeToken)
	r.refuseOthers()
}

// MethodNotAllowedRoute names the routes Register adds for the methods a
// path does not support, so route listings can tell them apart.
const MethodNotAllowedRoute = "api.methodNotAllowed"

// otherMethods are the methods answered 405 on a path that lacks them:
// echo's router knows these (an unknown method stays a 404).
var otherMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions, http.MethodTrace, http.MethodConnect, echo.PROPFIND, echo.REPORT,
}

// adder is an *echo.Group or *echo.Echo.
type adder interface {
	Add(method, path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route
}

// routes registers handlers and remembers each path's methods. Echo would
// answer 405 itself, but a group with middleware adds a catch-all that
// outranks it and turns every unsupported method into 404; refuseOthers
// adds explicit routes that restore the 405.
type routes struct {
	on      adder
	methods map[string][]string
	paths   []string
}

func newRoutes(on adder) *routes { return &routes{on: on, methods: map[string][]string{}} }

func (r *routes) add(method, path string, h echo.HandlerFunc) {
	if _, ok := r.methods[path]; !ok {
		r.paths = append(r.paths, path)
	}
	r.methods[path] = append(r.methods[path], method)
	r.on.Add(method, path, h)
}

func (r *routes) refuseOthers() {
	for _, path := range r.paths {
		allow := r.methods[path]
		h := methodNotAllowed(allow)
		for _, m := range otherMethods {
			if !slices.Contains(allow, m) {
				r.on.Add(m, path, h).Name = MethodNotAllowedRoute
			}
		}
	}
}

// methodNotAllowed answers 405 with the path's methods in Allow.
func methodNotAllowed(allow []string) echo.HandlerFunc {
	list := strings.Join(allow, ", ")
	return func(c echo.Context) error {
		c.Response().Header().Set(echo.HeaderAllow, list)
		return fail(c, http.StatusMethodNotAllowed, "method_not_allowed", c.Request().Method+" is not allowed here; allowed: "+list)
	}
}

// ErrorBody is the JSON body of every error answer. Field is set for
// validation errors (422) only.
type ErrorBody struct {
	Error  string `json:"error"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason"`
}

// List is the body of list answers.
type List[T any] struct {
	Items []T `json:"items"`
	Total int `json:"total"`
}

func fail(c echo.Context, status int, code, reason string) error {
	return c.JSON(status, ErrorBody{Error: code, Reason: reason})
}

func notFound(c echo.Context, what string) error {
	return fail(c, http.StatusNotFound, "not_found", what+" not found")
}

func forbidden(c echo.Context, p access.Principal) error {
	return fail(c, http.StatusForbidden, "forbidden", "role "+string(p.Role)+" may not do this")
}

func badRequest(c echo.Context, reason string) error {
	return fail(c, http.StatusBadRequest, "bad_request", reason)
}

func invalid(c echo.Context, field, reason string) error {
	return c.JSON(http.StatusUnprocessableEntity, ErrorBody{Error: "validation", Field: field, Reason: reason})
}

// internal logs err and answers 500 without its details.
func (s *Server) internal(c echo.Context, op string, err error) error {
	if pgdb.Unavailable(err) {
		// Redirects and pixels go on from the trackers' copy of the
		// catalog; only what reads or changes the catalog of record waits.
		s.log.Warn("api: "+op+": the catalog database is unavailable", "err", err, "method", c.Request().Method, "path", c.Request().URL.Path)
		c.Response().Header().Set("Retry-After", "5")
		reason := "the catalog database is unavailable; nothing was changed, retry later"
		if m := c.Request().Method; m != http.MethodGet && m != http.MethodHead && !pgdb.NotSent(err) {
			// Lost mid-transaction: committed whole or not at all, and only
			// a lost COMMIT leaves the caller not knowing which.
			reason = "the connection to the catalog database was lost; a change is made whole or not at all: read it back, then retry"
		}
		return fail(c, http.StatusServiceUnavailable, "unavailable", reason)
	}
	s.log.Error("api: "+op, "err", err, "method", c.Request().Method, "path", c.Request().URL.Path)
	return fail(c, http.StatusInternalServerError, "internal", "internal error")
}

// blob answers what write writes, built whole before the status line so
// that a failure is still a 500 (for op); a file name makes it an
// attachment.
func (s *Server) blob(c echo.Context, status int, contentType, file, op string, write func(io.Writer) error) error {
	var b bytes.Buffer
	if err := write(&b); err != nil {
		return s.internal(c, op, err)
	}
	if file != "" {
		c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+file+`"`)
	}
	return c.Blob(status, contentType, b.Bytes())
}

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
	if ok, err := stale(c, err); ok {
		return err
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

// principal returns the caller; without one (Middleware not run) it
// answers 401 itself and ok is false.
func principal(c echo.Context) (access.Principal, bool, error) {
	p, ok := auth.FromContext(c)
	if !ok {
		return p, false, fail(c, http.StatusUnauthorized, "unauthorized", "missing bearer token")
	}
	return p, true, nil
}

// caller returns the caller if may allows its role; otherwise it answers
// 401 (no caller) or 403 itself and ok is false.
func caller(c echo.Context, may func(access.Principal) bool) (access.Principal, bool, error) {
	p, ok, err := principal(c)
	if !ok {
		return p, false, err
	}
	if !may(p) {
		return p, false, forbidden(c, p)
	}
	return p, true, nil
}

// readsCatalog reports whether p's role may read catalog objects at all;
// which ones is decided per object.
func readsCatalog(p access.Principal) bool {
	switch p.Role {
	case access.RoleAdmin, access.RoleFinance, access.RoleCountryManager, access.RolePartner:
		return true
	}
	return false
}

func (s *Server) load(ctx context.Context) (*catalog.Snapshot, error) {
	return s.cat.Load(ctx)
}

// snapshot is the whole catalog for readers that can be a refresh behind
// (reports, statements): the tracker's in-memory copy when there is one,
// else a load.
func (s *Server) snapshot(ctx context.Context) (*catalog.Snapshot, error) {
	if s.Snapshot != nil {
		if snap := s.Snapshot(); snap != nil {
			return snap, nil
		}
	}
	return s.load(ctx)
}

// filterScope is p's scope narrowed by the ?country= and ?partner= of a
// list request (never widened); a malformed filter is an error to answer
// 400.
func filterScope(c echo.Context, p access.Principal) (access.Scope, error) {
	scope := p.Scope()
	if cc := strings.ToUpper(strings.TrimSpace(c.QueryParam("country"))); cc != "" {
		if fe := catalog.ValidCountry("country", cc); fe != nil {
			return scope, fe
		}
		scope = scope.WithCountries(cc)
	}
	if pid := strings.TrimSpace(c.QueryParam("partner")); pid != "" {
		if fe := catalog.ValidID("partner", pid); fe != nil {
			return scope, fe
		}
		scope = scope.WithPartner(pid)
	}
	return scope, nil
}

// visible loads the part of the catalog p may read. Every read goes
// through it, so a handler (or a filter) cannot show p what p may not see:
// the scope is applied where the data is read, once.
func (s *Server) visible(ctx context.Context, p access.Principal) (*catalog.Snapshot, error) {
	full, err := s.cat.Load(ctx)
	if err != nil {
		return nil, err
	}
	return access.Visible(p, full), nil
}

// listing is a catalog list request: the caller, the rows it asks for
// and the page.
type listing struct {
	p             access.Principal
	scope         access.Scope // p's, narrowed by the list's filters
	limit, offset int
}

// listRequest starts a catalog list: the caller, whose role must read the
// catalog, and the page it asks for; with filters, ?country= and
// ?partner= narrow the caller's scope, never widen it. It answers the
// error itself when ok is false.
func listRequest(c echo.Context, filters bool) (l listing, ok bool, err error) {
	l.p, ok, err = caller(c, readsCatalog)
	if !ok {
		return l, false, err
	}
	if l.limit, l.offset, err = page(c); err != nil {
		return l, false, badRequest(c, err.Error())
	}
	l.scope = l.p.Scope()
	if filters {
		if l.scope, err = filterScope(c, l.p); err != nil {
			return l, false, badRequest(c, err.Error())
		}
	}
	return l, true, nil
}

// page reads ?limit= and ?offset=.
func page(c echo.Context) (limit, offset int, err error) {
	limit = DefaultLimit
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, 0, errors.New("limit must be a positive integer")
		}
		limit = min(n, MaxLimit)
	}
	if v := c.QueryParam("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, 0, errors.New("offset must be a non-negative integer")
		}
		offset = n
	}
	return limit, offset, nil
}

// paginate is l's page of all.
func paginate[T any](all []T, l listing) List[T] {
	out := List[T]{Items: []T{}, Total: len(all)}
	if l.offset < len(all) {
		out.Items = all[l.offset:min(len(all), l.offset+l.limit)]
	}
	return out
}

// createRequest starts a create: the caller, whose role may, and the body
// it posts (decodeBody). It answers the error itself when ok is false.
func createRequest[T any](c echo.Context, may func(access.Principal) bool, transform func(map[string]json.RawMessage) (string, string)) (p access.Principal, req T, ok bool, err error) {
	if p, ok, err = caller(c, may); ok {
		ok, err = decodeBody(c, &req, transform)
	}
	return p, req, ok, err
}

// decodeBody reads a JSON body of at most MaxBody bytes into dst,
// refusing unknown fields. It answers the error itself when ok is false.
func decodeBody(c echo.Context, dst any, transform func(map[string]json.RawMessage) (string, string)) (ok bool, err error) {
	r := c.Request()
	body := http.MaxBytesReader(c.Response(), r.Body, MaxBody)
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(body)
	if err := dec.Decode(&raw); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return false, fail(c, http.StatusRequestEntityTooLarge, "too_large", "request body is larger than 64 KiB")
		}
		return false, badRequest(c, "malformed JSON: "+err.Error())
	}
	if raw == nil {
		return false, badRequest(c, "malformed JSON: the body must be a JSON object")
	}
	if dec.More() {
		return false, badRequest(c, "malformed JSON: more than one value in the body")
	}
	// More stops at the limit without saying so: a small object padded with
	// whitespace past MaxBody must still be refused, not stored.
	if _, err := io.Copy(io.Discard, body); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return false, fail(c, http.StatusRequestEntityTooLarge, "too_large", "request body is larger than 64 KiB")
		}
		return false, badRequest(c, "cannot read the body")
	}
	if field, reason := decodeMap(raw, dst, transform); reason != "" {
		return false, invalid(c, field, reason)
	}
	return true, nil
}

// dateOrTime reads a date, YYYY-MM-DD (midnight UTC), or an RFC 3339
// time: what every date the API takes may be.
func dateOrTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC3339, s)
}

// decodeMap applies transform to raw and decodes it into dst, refusing
// unknown fields. reason is "" on success; field names the bad field.
func decodeMap(raw map[string]json.RawMessage, dst any, transform func(map[string]json.RawMessage) (string, string)) (field, reason string) {
	if transform != nil {
		if field, reason := transform(raw); field != "" {
			return field, reason
		}
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return "", "malformed JSON"
	}
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.DisallowUnknownFields()
	if err := d.Decode(dst); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return ute.Field, "has the wrong type (want " + ute.Type.String() + ")"
		}
		if f, found := strings.CutPrefix(err.Error(), "json: unknown field "); found {
			return strings.Trim(f, `"`), "unknown field"
		}
		return "", err.Error()
	}
	return "", ""
}

// fieldError answers 422 for a *catalog.FieldError in err's chain.
func fieldError(err error) (*catalog.FieldError, bool) {
	var fe *catalog.FieldError
	if errors.As(err, &fe) {
		return fe, true
	}
	return nil, false
}
