// Package capture serves the tracking endpoints: GET /r/{code} records a
// click and redirects, GET /p.gif records a view or a conversion and
// answers a 1x1 GIF. Each answer goes out only after its hit is durable
// (see package buffer); a redirect never fails because of Redis or
// ClickHouse.
package capture

import (
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"
	"golang.org/x/text/currency"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/lib/ids"
	"github.com/xpromo/xpromo/lib/metrics"
	"github.com/xpromo/xpromo/lib/plaintext"
	"github.com/xpromo/xpromo/tracker/agent"
	"github.com/xpromo/xpromo/tracker/geo"
	"github.com/xpromo/xpromo/tracker/hit"
)

// Submitter makes a hit durable; *buffer.Buffer is one.
type Submitter interface {
	Submit(*hit.Hit) error
}

// Catalog gives the current link snapshot; *catalog.Cache is one.
type Catalog interface {
	Get() *catalog.Snapshot
}

// Limits on outside input. Anything over them is kept as a rejected hit.
const (
	MaxQuery      = 4096 // bytes of a pixel query string
	MaxParam      = 512  // bytes of one parameter value
	MaxOrderID    = 128
	maxStoredRaw  = 2048 // bytes of a rejected query kept for inspection
	VisitorCookie = "xp_vid"
	ClickParam    = catalog.ClickParam
)

// Server holds the capture handlers' dependencies.
type Server struct {
	cat    Catalog
	buf    Submitter
	agents *agent.Classifier
	ip     *ClientIP
	log    *slog.Logger
	m      *metrics.Metrics
	now    func() time.Time
	fp     Fingerprinter // nil: no fingerprints
	seen   Rememberer    // nil: pixel conversions leave no repeat mark

	lossLog  atomic.Int64                             // unix seconds of the last "hit lost" log line
	received [hit.KindRejected + 1]prometheus.Counter // by kind, resolved once: no label lookup per request
}

// New returns a Server.
func New(cat Catalog, buf Submitter, agents *agent.Classifier, ip *ClientIP, log *slog.Logger, m *metrics.Metrics) *Server {
	s := &Server{cat: cat, buf: buf, agents: agents, ip: ip, log: log, m: m, now: time.Now}
	for k := hit.KindClick; k <= hit.KindRejected; k++ {
		s.received[k] = m.HitsReceived.WithLabelValues(k.String())
	}
	return s
}

// Fingerprinter hashes a client address and User-Agent with the day's
// salt without waiting on anything; *conversion.Salts is one.
type Fingerprinter interface {
	FingerprintAddr(addr netip.Addr, ua string, at time.Time) string
}

// WithFingerprints makes clicks and pixel conversions carry the daily
// fingerprint that attribution falls back to. Call before serving.
func (s *Server) WithFingerprints(f Fingerprinter) *Server {
	s.fp = f
	return s
}

// Register adds the capture routes to e.
func (s *Server) Register(e *echo.Echo) {
	e.GET("/r/:code", s.redirect)
	e.HEAD("/r/:code", s.redirect)
	e.GET("/r/", s.redirect)
	e.HEAD("/r/", s.redirect)
	e.GET("/p.gif", s.pixel)
	e.GET("/p", s.pixel)
	e.HEAD("/p.gif", s.pixel)
	e.HEAD("/p", s.pixel)
	s.registerScript(e)
}

// The 43-byte transparent 1x1 GIF.
var gif = []byte{
	0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
	0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
}

// GIF returns a copy of the pixel the tracker answers.
func GIF() []byte { return append([]byte(nil), gif...) }

const notFoundPage = `<!doctype html><meta charset="utf-8"><title>Link not found</title>` +
	`<p>This link does not exist or is no longer active.</p>` + "\n"

const gonePage = `<!doctype html><meta charset="utf-8"><title>Link no longer active</title>` +
	`<p>This link is no longer active.</p>` + "\n"

// base fills what every hit carries.
func (s *Server) base(c echo.Context, kind hit.Kind, now time.Time) *hit.Hit {
	r := c.Request()
	dev, bot := s.agents.Classify(r.UserAgent())
	if r.Method == http.MethodHead {
		// Browsers never follow a link with HEAD; link checkers do.
		bot, dev = true, hit.DeviceBot
	}
	addr := s.ip.Addr(r)
	h := &hit.Hit{
		ID:      ids.New(now),
		Time:    now,
		Kind:    kind,
		Country: geo.Unknown,
		RefHost: refHost(r.Referer()),
		Device:  dev,
		Bot:     bot,
	}
	if addr.IsValid() {
		h.Country = geo.Country(addr)
		if kind == hit.KindClick {
			s.fingerprint(h, addr, r.UserAgent())
		}
	}
	return h
}

// fingerprint sets h's daily fingerprint: only clicks and conversions
// need one (attribution matches them), so views skip the hash.
func (s *Server) fingerprint(h *hit.Hit, addr netip.Addr, ua string) {
	if s.fp != nil && !h.Bot && addr.IsValid() {
		h.Fingerprint = s.fp.FingerprintAddr(addr, ua, h.Time)
	}
}

// refHost keeps only the host of the Referer: paths can carry personal data.
func refHost(ref string) string {
	if ref == "" || len(ref) > 4096 {
		return ""
	}
	u, err := url.Parse(ref)
	if err != nil {
		return ""
	}
	h := strings.ToLower(u.Hostname())
	if len(h) > 253 || !utf8.ValidString(h) {
		return ""
	}
	return h
}

// visitor returns the visitor id from the cookie, or a new one.
func (s *Server) visitor(c echo.Context) (id string, isNew bool) {
	if ck, err := c.Cookie(VisitorCookie); err == nil && validVisitor(ck.Value) {
		return ck.Value, false
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b), true
}

func validVisitor(v string) bool {
	if len(v) != 22 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil
}

func (s *Server) setVisitor(c echo.Context, id string) {
	c.SetCookie(&http.Cookie{
		Name:     VisitorCookie,
		Value:    id,
		Path:     "/",
		MaxAge:   365 * 24 * 3600,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
		Secure:   s.ip.Secure(c.Request()),
	})
}

// submit makes h durable. If even the spill journal failed, a redirect
// still goes out (it never fails) and the loss is counted and logged; the
// pixel answers a retryable 503 instead (notKept).
func (s *Server) submit(h *hit.Hit) error {
	s.received[h.Kind].Inc()
	if h.Kind == hit.KindRejected {
		s.m.HitsRejected.WithLabelValues(h.Reason).Inc()
	}
	if err := s.buf.Submit(h); err != nil {
		now := time.Now().Unix()
		if last := s.lossLog.Load(); now > last && s.lossLog.CompareAndSwap(last, now) {
			s.log.Error("capture: hit answered but not kept", "err", err, "kind", h.Kind.String())
		}
		return err
	}
	return nil
}

// notKept marks in the request context that its hit could not be kept.
const notKept = "xpromo.not_kept"

func (s *Server) reject(c echo.Context, h *hit.Hit, reason string) {
	r := c.Request()
	h.Kind = hit.KindRejected
	h.Reason = reason
	h.Endpoint = printable(r.URL.Path, 256) // decoded: %0d%0a is a line break here
	q := r.URL.RawQuery
	if len(q) > maxStoredRaw {
		q = q[:maxStoredRaw]
	}
	h.Query = strings.ToValidUTF8(q, "\uFFFD")
	if s.submit(h) != nil {
		c.Set(notKept, true)
	}
}

// printable is s, cut to at most n bytes, as kept in a rejected hit: valid
// UTF-8, control characters escaped (\r, \n, \x00...), so a stored value
// never splits a line of whatever later shows it.
func printable(s string, n int) string {
	s = strings.ToValidUTF8(s[:min(len(s), n)], "\uFFFD")
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	q := strconv.QuoteToGraphic(s)
	return q[1 : len(q)-1]
}

func noStore(c echo.Context) {
	c.Response().Header().Set("Cache-Control", "no-store, max-age=0")
}

func (s *Server) redirect(c echo.Context) error {
	now := s.now().UTC()
	h := s.base(c, hit.KindClick, now)
	code := c.Param("code")
	noStore(c)
	var link *catalog.Resolved
	if catalog.ValidCode(code) {
		link = s.cat.Get().Lookup(code)
	}
	if link == nil {
		h.Link = printable(code, 64)
		s.reject(c, h, "unknown_code")
		return c.HTML(http.StatusNotFound, notFoundPage)
	}
	vid, _ := s.visitor(c)
	h.Link, h.Partner, h.Partnership = link.Code, link.Partner, link.Partnership
	h.Direction, h.Campaign, h.Visitor = link.Direction, link.Campaign, vid
	h.SubID = subID(c.Request().URL.RawQuery)
	dest, fallback, ok := link.Target(now, h.ID)
	if !ok {
		// Paused or expired, and the partnership names no fallback URL.
		s.reject(c, h, "link_inactive")
		return c.HTML(http.StatusGone, gonePage)
	}
	h.Fallback = fallback
	s.submit(h)
	s.setVisitor(c, vid) // also renews the cookie's lifetime
	return c.Redirect(http.StatusFound, dest)
}

// MaxSubID bounds a sub-id.
const MaxSubID = 64

// subID returns the sub= parameter of a tracking link's query when it is
// a plain label (at most MaxSubID of A-Z a-z 0-9 . _ ~ -), else "": an odd
// sub-id never fails a redirect, it is just not recorded. The query is
// only parsed when it names sub, to keep the redirect path cheap.
func subID(raw string) string {
	if raw == "" || !strings.Contains(raw, "sub=") {
		return ""
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return ""
	}
	v := q.Get("sub")
	if len(v) > MaxSubID {
		return ""
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '~' || c == '-') {
			return ""
		}
	}
	return v
}

func (s *Server) pixel(c echo.Context) error {
	now := s.now().UTC()
	h := s.base(c, hit.KindView, now)
	s.recordPixel(c, h)
	noStore(c)
	if c.Get(notKept) != nil {
		c.Response().Header().Set("Retry-After", "1")
		return c.NoContent(http.StatusServiceUnavailable)
	}
	return c.Blob(http.StatusOK, "image/gif", gif)
}

func (s *Server) recordPixel(c echo.Context, h *hit.Hit) {
	raw := c.Request().URL.RawQuery
	if len(raw) > MaxQuery {
		s.reject(c, h, "query_too_long")
		return
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		s.reject(c, h, "bad_query")
		return
	}
	for _, vs := range q {
		for _, v := range vs {
			if len(v) > MaxParam {
				s.reject(c, h, "param_too_long")
				return
			}
			if !utf8.ValidString(v) {
				s.reject(c, h, "invalid_utf8")
				return
			}
		}
	}
	code, event := q.Get("l"), q.Get("e")
	if code != "" {
		link := s.cat.Get().Lookup(code)
		if !catalog.ValidCode(code) || link == nil {
			h.Link = printable(code, 64)
			s.reject(c, h, "unknown_link")
			return
		}
		h.Link, h.Partner, h.Partnership = link.Code, link.Partner, link.Partnership
		h.Direction, h.Campaign = link.Direction, link.Campaign
	}
	vid, _ := s.visitor(c)
	h.Visitor = vid
	switch {
	case event != "":
		if reason := conversion(h, q); reason != "" {
			s.reject(c, h, reason)
			return
		}
		s.fingerprint(h, s.ip.Addr(c.Request()), c.Request().UserAgent())
	case code != "":
		h.Kind = hit.KindView
	default:
		s.reject(c, h, "missing_l_or_e")
		return
	}
	if s.submit(h) != nil {
		c.Set(notKept, true)
	} else if h.Kind == hit.KindConversion && s.seen != nil {
		s.seen.Remember(h.Source, h.Event, h.UserID, h.OrderID)
	}
	s.setVisitor(c, vid)
}

// conversion fills h from e=, click=, v=, cur=, oid= and returns a reason
// when they are malformed.
func conversion(h *hit.Hit, q url.Values) string {
	h.Kind = hit.KindConversion
	h.Source = vocab.SourceOurs
	h.Event = q.Get("e")
	if h.Event != vocab.TypeSignup && h.Event != vocab.TypePurchase && h.Event != vocab.TypeRefund {
		return "bad_event"
	}
	if uid := q.Get("uid"); uid != "" {
		if len(uid) > MaxOrderID || !plaintext.Valid(uid) {
			return "bad_user_id"
		}
		h.UserID = uid
	}
	h.Existing = q.Get("existing") == "1"
	if click := q.Get("click"); click != "" {
		if !ids.Valid(click) {
			return "bad_click_id"
		}
		h.ClickRef = ids.Canonical(click)
	}
	if oid := q.Get("oid"); oid != "" {
		if len(oid) > MaxOrderID || !plaintext.Valid(oid) {
			return "bad_order_id"
		}
		h.OrderID = oid
	}
	v, cur := q.Get("v"), strings.ToUpper(q.Get("cur"))
	if h.Event != vocab.TypeSignup && h.OrderID == "" {
		return "missing_order_id" // the order id makes a reloaded page harmless
	}
	if v == "" && cur == "" {
		if h.Event == vocab.TypePurchase {
			return "missing_amount"
		}
		return ""
	}
	amount, reason := ParseAmount(v)
	if reason != "" {
		return reason
	}
	if _, err := currency.ParseISO(cur); err != nil || len(cur) != 3 {
		return "bad_currency"
	}
	h.Amount, h.Currency = amount, cur
	return ""
}

// maxAmount keeps amounts inside Decimal(18,4).
var maxAmount = decimal.New(1, 14)

// ParseAmount checks a money amount: a plain non-negative decimal with at
// most 4 fraction digits, below 10^14. It returns the canonical text.
func ParseAmount(v string) (string, string) {
	if v == "" {
		return "", "missing_amount"
	}
	for i := 0; i < len(v); i++ {
		if (v[i] < '0' || v[i] > '9') && v[i] != '.' {
			return "", "bad_amount" // no signs, exponents, spaces or NaN
		}
	}
	d, err := decimal.NewFromString(v)
	if err != nil || d.IsNegative() || d.GreaterThanOrEqual(maxAmount) || d.Exponent() < -4 && !d.Equal(d.Round(4)) {
		return "", "bad_amount"
	}
	return d.String(), ""
}

// WithClock makes s read the time of its business rules from now
// instead of the wall clock (tests move it); it returns s.
func (s *Server) WithClock(now func() time.Time) *Server {
	s.now = now
	return s
}

// Rememberer marks a stored conversion so that a later report of the same
// order through the API is answered as a repeat; *conversion.Recorder is
// one. It must not wait on anything.
type Rememberer interface {
	Remember(source, typ, userID, orderID string)
}

// WithRepeatMarks makes pixel conversions mark their order or signup as
// seen (in the background); it returns s.
func (s *Server) WithRepeatMarks(r Rememberer) *Server {
	s.seen = r
	return s
}
