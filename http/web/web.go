// Package web is the dashboard at /app: server-side rendered pages for
// country managers, partners, finance and admins, signed in with the same
// API tokens as /v1. Every figure comes from the same code the API calls
// (reports, reports/statements, the catalog), with the reader's
// access.Principal and Scope, so a page shows what the API answers that
// reader. Assets are embedded; charts are SVG drawn on the server; pages
// work without JavaScript except copy-to-clipboard.
//
// docs/DASHBOARD.md describes the pages and the contract the browser test
// relies on (data-table, data-col, data-value...).
package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/fx"
	"github.com/xpromo/xpromo/http/auth"
	"github.com/xpromo/xpromo/reports"
	"github.com/xpromo/xpromo/reports/statements"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Defaults of Config.
const (
	DefaultSessionTTL  = 12 * time.Hour
	DefaultSignInRate  = 1.0 // sign-in attempts per second per client address
	DefaultSignInBurst = 10
)

// Config is what the dashboard needs; New checks it.
type Config struct {
	// Catalog reads and writes partners, partnerships, links and the
	// audit log (its OnChange, if set, announces writes).
	Catalog *catalog.Store
	// Events is the ClickHouse the reports and statements read.
	Events driver.Conn
	// Snapshot, if set, gives the catalog reports read (the tracker's
	// in-memory copy), as the API's Server.Snapshot.
	Snapshot func() *catalog.Snapshot
	// Zones gives the countries' time zones reports read (default: read
	// from Catalog's database), as the API's Server.Zones.
	Zones    *reports.Zones
	Tokens   *auth.Store
	Verifier *auth.Verifier
	// TokensChanged, if set, is called after a token is revoked here.
	TokensChanged func(context.Context)
	Redis         *redis.Client
	KeyPrefix     string
	// PublicURL is the tracker's public base URL (tracking links; Secure
	// cookies when https); "" means the request's scheme and host.
	PublicURL string
	// ReportingCurrency is the currency report revenue is stated in.
	ReportingCurrency string
	SessionTTL        time.Duration
	SignInRate        float64 // per second per client address; < 0 turns the limit off
	SignInBurst       int
	// ClientIP keys the sign-in rate limit (the server's trusted-proxy
	// logic); nil means echo's RealIP.
	ClientIP func(*http.Request) string
	Log      *slog.Logger
	Now      func() time.Time
}

func (c *Config) validate() error {
	switch {
	case c.Catalog == nil:
		return errors.New("web: Catalog is required")
	case c.Events == nil:
		return errors.New("web: Events is required")
	case c.Tokens == nil || c.Verifier == nil:
		return errors.New("web: Tokens and Verifier are required")
	case c.Redis == nil:
		return errors.New("web: Redis is required")
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.SessionTTL < time.Minute {
		return fmt.Errorf("web: session TTL %s is shorter than a minute", c.SessionTTL)
	}
	if c.SignInRate == 0 {
		c.SignInRate = DefaultSignInRate
	}
	if c.SignInBurst <= 0 {
		c.SignInBurst = DefaultSignInBurst
	}
	if c.ReportingCurrency == "" {
		c.ReportingCurrency = "EUR"
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("web: public URL %q: want http(s)://host", c.PublicURL)
		}
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Zones == nil {
		c.Zones = reports.NewZones(c.Catalog.DB(), c.Log)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Server serves the dashboard.
type Server struct {
	cfg         Config
	log         *slog.Logger
	pages       map[string]*template.Template
	static      fs.FS
	publicHTTPS bool
	publicHost  string
}

// New checks cfg and parses the templates.
func New(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Log, pages: map[string]*template.Template{}}
	if cfg.PublicURL != "" {
		u, _ := url.Parse(cfg.PublicURL)
		s.publicHTTPS, s.publicHost = u.Scheme == "https", strings.ToLower(u.Host)
	}
	st, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("web: static: %w", err)
	}
	s.static = st
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: templates: %w", err)
	}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", base, err)
		}
		s.pages[strings.TrimSuffix(base, ".html")] = t
	}
	return s, nil
}

var funcs = template.FuncMap{
	"join":  strings.Join,
	"list":  func(v ...string) []string { return v },
	"label": label,
	// fieldLabel heads a terms form field: Inbound CPA, Inbound rev-share %.
	"fieldLabel": func(k string) string {
		return label(strings.NewReplacer("revshare_pct", "rev-share %", "cpa", "CPA").Replace(k))
	},
}

// Register mounts the dashboard on /app and /app/*. Sign-in attempts are
// rate-limited per client address, as the API limits token guessing.
func (s *Server) Register(e *echo.Echo) {
	limit := auth.RateLimit(auth.RateLimitConfig{Rate: max(0, s.cfg.SignInRate), Burst: s.cfg.SignInBurst, ClientIP: s.cfg.ClientIP})
	e.POST("/app/signin", s.signIn, limit)
	e.Any("/app", s.dispatch)
	e.Any("/app/*", s.dispatch)
	// Browsers ask for /favicon.ico whatever the page links: answer it
	// rather than log a 404 for every page.
	e.GET("/favicon.ico", func(c echo.Context) error { return s.serveStatic(c, "favicon.ico") })
}

// req is one dashboard request.
type req struct {
	c    echo.Context
	r    *http.Request
	sess *session
	p    access.Principal
	loc  *locale
	f    formatter
}

// page is what every template gets.
type page struct {
	Title    string
	Lang     string
	Signed   bool
	P        access.Principal
	CSRF     string
	Nav      []navItem
	Error    string
	Notice   string
	Period   *periodForm
	Tables   []*Table // the page's tables, by name in Table()
	Data     any
	Template string
	// Form is a refused form shown again (values and the field at fault);
	// Opts the choices of the page's write forms.
	Form *formState
	Opts *formOpts
}

type navItem struct {
	Href, Label string
	Active      bool
}

// Table returns the page's table named name (nil when absent).
func (p *page) Table(name string) *Table {
	for _, t := range p.Tables {
		if t.Name == name {
			return t
		}
	}
	return nil
}

func (s *Server) dispatch(c echo.Context) error {
	r := c.Request()
	p := strings.TrimPrefix(r.URL.Path, "/app")
	if p == "" {
		p = "/"
	}
	if strings.HasPrefix(p, "/static/") {
		return s.serveStatic(c, strings.TrimPrefix(p, "/static/"))
	}
	if p == "/signin" {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return s.errorPage(c, nil, http.StatusMethodNotAllowed, "Method not allowed.")
		}
		return s.signInForm(c, http.StatusOK, "")
	}
	sess, err := s.loadSession(r)
	if err != nil {
		if !errors.Is(err, errNoSession) {
			s.log.Error("web: session", "err", err)
			return s.errorPage(c, nil, http.StatusServiceUnavailable, "Sessions are unavailable right now; try again in a moment.")
		}
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			return c.Redirect(http.StatusSeeOther, "/app/signin")
		}
		return s.errorPage(c, nil, http.StatusUnauthorized, "Your session has ended. Sign in again.")
	}
	q := &req{c: c, r: r, sess: sess, p: sess.p, loc: newLocale(r.Header.Get("Accept-Language"))}
	q.f = formatter{loc: q.loc, currency: s.cfg.ReportingCurrency}
	c.Response().Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodPost {
		if !s.sameOrigin(r) || !equalSecret(r.PostFormValue(CSRFField), sess.csrf) {
			s.log.Info("web: POST refused (CSRF)", "path", r.URL.Path, "token", sess.tokenID, "origin", r.Header.Get("Origin"))
			return s.errorPage(c, q, http.StatusForbidden, "This form has expired or did not come from this site. Reload the page and try again.")
		}
		return s.post(q, p)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return s.errorPage(c, q, http.StatusMethodNotAllowed, "Method not allowed.")
	}
	return s.get(q, p)
}

// parts splits /a/b/c into its segments.
func parts(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// csvName splits a trailing "/NAME.csv" or "/NAME.xlsx" off a page path,
// returning the table's name and the extension.
func csvName(seg []string) ([]string, string, string) {
	if n := len(seg); n > 1 {
		for _, ext := range []string{".csv", ".xlsx"} {
			if strings.HasSuffix(seg[n-1], ext) {
				return seg[:n-1], strings.TrimSuffix(seg[n-1], ext), ext[1:]
			}
		}
	}
	return seg, "", ""
}

func (s *Server) get(q *req, p string) error {
	seg, csvTable, ext := csvName(parts(p))
	switch {
	case len(seg) == 0:
		return q.c.Redirect(http.StatusSeeOther, home(q.p))
	case len(seg) == 3 && seg[0] == "links" && seg[2] == "qr.png":
		return s.linkQR(q, seg[1])
	case len(seg) == 2 && seg[0] == "statements" && seg[1] == "export" && csvTable == "":
		return s.statementExport(q)
	}
	pg, err := s.buildPage(q, seg)
	if err != nil {
		return s.fail(q, err)
	}
	if csvTable != "" {
		t := pg.Table(csvTable)
		if t == nil {
			return s.errorPage(q.c, q, http.StatusNotFound, "No such table.")
		}
		write, ct := t.WriteCSV, "text/csv; charset=utf-8"
		if ext == "xlsx" {
			write, ct = t.WriteXLSX, reports.ContentTypeXLSX
		}
		return s.attachment(q, "export table", ct, "xpromo-"+csvTable+"."+ext, write)
	}
	return s.render(q, http.StatusOK, pg)
}

// buildPage builds the page at path segments seg (its query is q's), for
// a GET and for a form refused on it (refuse).
func (s *Server) buildPage(q *req, seg []string) (*page, error) {
	switch {
	case len(seg) == 1 && seg[0] == "account":
		return &page{Title: "Account", Template: "account"}, nil
	case len(seg) == 2 && seg[0] == "country":
		return s.countryPage(q, seg[1])
	case len(seg) == 2 && seg[0] == "partnerships":
		return s.partnershipPage(q, seg[1])
	case len(seg) == 1 && seg[0] == "partner":
		return s.partnerPage(q)
	case len(seg) == 1 && seg[0] == "statements":
		return s.statementsPage(q)
	case len(seg) == 1 && seg[0] == "admin":
		return s.adminPage(q)
	case len(seg) == 1 && seg[0] == "elsewhere":
		return s.elsewherePage(q)
	case len(seg) == 2 && seg[0] == "elsewhere":
		return s.partnerCountriesPage(q, seg[1])
	}
	return nil, notFound("Page")
}

// postActions are the forms posted to a fixed path.
var postActions = map[string]func(*Server, *req) error{
	"/statements/close": (*Server).closePeriod,
	"/links":            (*Server).createLink,
	"/tokens/revoke":    (*Server).revokeToken,
	"/tokens":           (*Server).createToken,
	"/partners":         (*Server).createPartner,
	"/partnerships":     (*Server).createPartnership,
}

func (s *Server) post(q *req, p string) error {
	if p == "/signout" {
		s.deleteSession(q.r.Context(), q.sess.key)
		http.SetCookie(q.c.Response(), s.cookie(q.r, SessionCookie, "", -1))
		return q.c.Redirect(http.StatusSeeOther, "/app/signin")
	}
	if act, ok := postActions[p]; ok {
		return act(s, q)
	}
	switch seg := parts(p); {
	case len(seg) == 3 && seg[0] == "partnerships" && seg[2] == "terms":
		return s.newTerms(q, seg[1])
	case len(seg) == 3 && seg[0] == "links" && seg[2] == "status":
		return s.linkStatus(q, seg[1])
	case len(seg) == 3 && seg[0] == "partnerships" && seg[2] == "playbook":
		return s.setPlaybook(q, seg[1])
	case len(seg) == 3 && seg[0] == "elsewhere" && seg[2] == "replicate":
		return s.replicate(q, seg[1])
	}
	return s.errorPage(q.c, q, http.StatusNotFound, "Page not found.")
}

// httpError is an answer a page builder chose (404 for what the reader
// may not see, 400 for bad parameters).
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func notFound(what string) error { return &httpError{http.StatusNotFound, what + " not found."} }

func badRequest(msg string) error { return &httpError{http.StatusBadRequest, msg} }

// attachment answers what write writes as a file, built whole before the
// status line so that a failure (of op) is still an error page.
func (s *Server) attachment(q *req, op, contentType, file string, write func(io.Writer) error) error {
	var b bytes.Buffer
	if err := write(&b); err != nil {
		return s.fail(q, fmt.Errorf("%s: %w", op, err))
	}
	q.c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+file+`"`)
	return q.c.Blob(http.StatusOK, contentType, b.Bytes())
}

func (s *Server) fail(q *req, err error) error {
	var he *httpError
	if errors.As(err, &he) {
		return s.errorPage(q.c, q, he.code, he.msg)
	}
	s.log.Error("web: page", "err", err, "path", q.r.URL.Path)
	return s.errorPage(q.c, q, http.StatusInternalServerError, "Something went wrong; the error is logged.")
}

// home is the page a role lands on after sign-in.
func home(p access.Principal) string {
	switch p.Role {
	case access.RoleAdmin:
		return "/app/admin"
	case access.RoleCountryManager:
		if len(p.Countries) > 0 {
			return "/app/country/" + p.Countries[0]
		}
	case access.RolePartner:
		return "/app/partner"
	case access.RoleFinance:
		return "/app/statements"
	}
	return "/app/account" // service tokens and anything else: who you are, nothing to read
}

// nav is the menu for p.
func nav(p access.Principal, current string) []navItem {
	var out []navItem
	add := func(href, label string) {
		out = append(out, navItem{Href: href, Label: label, Active: current == href || strings.HasPrefix(current, href+"/")})
	}
	switch p.Role {
	case access.RoleAdmin:
		add("/app/admin", "Admin")
		add("/app/statements", "Statements")
	case access.RoleFinance:
		add("/app/statements", "Statements")
	case access.RoleCountryManager:
		for _, cc := range p.Countries {
			add("/app/country/"+cc, cc)
		}
		add("/app/statements", "Statements")
	case access.RolePartner:
		add("/app/partner", "My partnership")
	}
	if p.CanReadInsights() {
		add(elsewherePath, "What works elsewhere")
	}
	add("/app/account", "Account")
	return out
}

func (s *Server) render(q *req, code int, pg *page) error {
	t := s.pages[pg.Template]
	if t == nil {
		return fmt.Errorf("web: no template %q", pg.Template)
	}
	if q != nil {
		pg.Signed, pg.P, pg.CSRF, pg.Lang = true, q.p, q.sess.csrf, q.loc.Lang()
		pg.Nav = nav(q.p, q.r.URL.Path)
		if pg.Notice == "" {
			pg.Notice = q.r.URL.Query().Get("notice")
		}
	}
	if pg.Lang == "" {
		pg.Lang = "en"
	}
	for _, t := range pg.Tables {
		t.CSRF = pg.CSRF
	}
	var b bytes.Buffer
	if err := t.Execute(&b, pg); err != nil {
		return fmt.Errorf("web: render %s: %w", pg.Template, err)
	}
	return s.write(q.c, code, b.Bytes())
}

// write sends a page with headers that keep it from being framed or
// sniffed, and scripts and styles to this origin.
func (s *Server) write(c echo.Context, code int, body []byte) error {
	h := c.Response().Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	return c.HTMLBlob(code, body)
}

func (s *Server) errorPage(c echo.Context, q *req, code int, msg string) error {
	pg := &page{Title: http.StatusText(code), Error: msg, Template: "error", Data: code}
	if q == nil {
		q = &req{c: c, r: c.Request(), loc: newLocale(c.Request().Header.Get("Accept-Language"))}
		pg.Lang = q.loc.Lang()
		var b bytes.Buffer
		if err := s.pages["error"].Execute(&b, pg); err != nil {
			return err
		}
		return s.write(c, code, b.Bytes())
	}
	return s.render(q, code, pg)
}

func (s *Server) serveStatic(c echo.Context, name string) error {
	b, err := fs.ReadFile(s.static, name)
	if err != nil || strings.Contains(name, "..") {
		return c.NoContent(http.StatusNotFound)
	}
	ct := "application/octet-stream"
	switch path.Ext(name) {
	case ".css":
		ct = "text/css; charset=utf-8"
	case ".js":
		ct = "text/javascript; charset=utf-8"
	case ".svg":
		ct = "image/svg+xml"
	case ".ico":
		ct = "image/x-icon"
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=3600")
	c.Response().Header().Set("X-Content-Type-Options", "nosniff")
	return c.Blob(http.StatusOK, ct, b)
}

// snapshot is the catalog as reports read it (the tracker's in-memory
// copy when there is one), as the API's snapshot.
func (s *Server) snapshot(ctx context.Context) (*catalog.Snapshot, error) {
	if s.cfg.Snapshot != nil {
		if snap := s.cfg.Snapshot(); snap != nil {
			return snap, nil
		}
	}
	snap, err := s.cfg.Catalog.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	return snap, nil
}

// reportEnv is what reports read, as the API builds it.
func (s *Server) reportEnv(ctx context.Context) (*reports.Env, error) {
	snap, err := s.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return s.cfg.Zones.Env(ctx, s.cfg.Events, snap)
}

// statementSource is what statements read, as the API builds it.
func (s *Server) statementSource(ctx context.Context) (statements.Source, error) {
	env, err := s.reportEnv(ctx)
	if err != nil {
		return statements.Source{}, err
	}
	return statements.Source{Conn: env.Conn, PG: s.cfg.Catalog.DB(), Catalog: env.Catalog, Zones: env.Zones, Rates: fx.NewStore(s.cfg.Catalog.DB()), Now: s.cfg.Now}, nil
}
