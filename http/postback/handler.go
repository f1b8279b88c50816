package postback

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"
	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/tracker/conversion"
	"github.com/xpromo/xpromo/tracker/hit"
)

// Limits of the handler.
const (
	MaxBody    = 16 << 10 // bytes of a POST body
	RetryAfter = 10       // seconds, on 503
	// UnknownCountry is the country of a postback's hit: the partner's
	// server sends it, not the user.
	UnknownCountry = "ZZ"
)

// Path is where Register mounts the handler (GET and POST).
const Path = "/v1/postback/:partner"

// Handler receives postbacks.
type Handler struct {
	store  *Store
	cat    func() *catalog.Snapshot
	rec    *conversion.Recorder
	rdb    *redis.Client
	prefix string
	log    *slog.Logger
	now    func() time.Time // business rules: a conversion's default date
	// wall is what a signature's ts must be near: the partner signs with
	// its own (real) clock, so this is never the business clock tests move.
	wall func() time.Time
}

// New returns a Handler. cat returns the current catalog (e.g.
// (*catalog.Cache).Get); rdb and keyPrefix hold the replay guard
// (keyPrefix+"postback:"+sig); log may be nil.
func New(store *Store, cat func() *catalog.Snapshot, rec *conversion.Recorder, rdb *redis.Client, keyPrefix string, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{store: store, cat: cat, rec: rec, rdb: rdb, prefix: keyPrefix, log: log, now: time.Now, wall: time.Now}
}

// Register mounts the handler at GET and POST /v1/postback/:partner. It
// authenticates by signature, so it must not sit behind the bearer-token
// middleware.
func (h *Handler) Register(e *echo.Echo) {
	e.GET(Path, h.Serve)
	e.POST(Path, h.Serve)
}

// ErrorBody is the JSON of every error answer (as in the management API).
type ErrorBody struct {
	Error  string `json:"error"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason"`
}

func clientIP(c echo.Context) string {
	if c.Echo() != nil && c.Echo().IPExtractor != nil {
		return c.RealIP() // the server's trusted-proxy policy
	}
	host, _, err := net.SplitHostPort(c.Request().RemoteAddr)
	if err != nil {
		return c.Request().RemoteAddr
	}
	return host // no policy: never believe forwarding headers
}

func (h *Handler) fail(c echo.Context, status int, code, field, reason string) error {
	if status == http.StatusServiceUnavailable {
		c.Response().Header().Set("Retry-After", strconv.Itoa(RetryAfter))
	}
	return c.JSON(status, ErrorBody{Error: code, Field: field, Reason: reason})
}

// refuse answers 401 with reason and logs logReason (what really
// happened, which the partner is not told).
func (h *Handler) refuse(c echo.Context, partner, reason, logReason string) error {
	if logReason == "" {
		logReason = reason
	}
	h.log.Warn("postback refused", "partner", clip(partner), "ip", clientIP(c), "reason", logReason)
	return h.fail(c, http.StatusUnauthorized, "unauthorized", "", reason)
}

func (h *Handler) unavailable(c echo.Context, partner, what string, err error) error {
	h.log.Error("postback: "+what, "partner", clip(partner), "err", err)
	return h.fail(c, http.StatusServiceUnavailable, "unavailable", "", what+"; retry later")
}

// readBody returns a POST's form body. ok false: the answer is sent.
func (h *Handler) readBody(c echo.Context) (body string, ok bool, err error) {
	r := c.Request()
	if r.Method != http.MethodPost || r.Body == nil {
		return "", true, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return "", false, h.fail(c, http.StatusRequestEntityTooLarge, "too_large", "", "request body is larger than 16 KiB")
		}
		return "", false, h.fail(c, http.StatusBadRequest, "bad_request", "", "cannot read the request body")
	}
	if len(b) == 0 {
		return "", true, nil
	}
	if ct := r.Header.Get(echo.HeaderContentType); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != echo.MIMEApplicationForm {
			return "", false, h.fail(c, http.StatusUnsupportedMediaType, "unsupported_media_type", "", "send the parameters as application/x-www-form-urlencoded or in the query")
		}
	}
	return string(b), true, nil
}

// secretsOf returns partner's secrets, and why there are none when the
// partner may not post back (for the log only).
func (h *Handler) secretsOf(ctx context.Context, partner string) (secrets []string, why string, err error) {
	snap := h.cat()
	if snap == nil {
		return nil, "", errors.New("no catalog loaded")
	}
	p, ok := snap.Partners[partner]
	switch {
	case !ok:
		return nil, "unknown partner", nil
	case p.Status == catalog.StatusArchived:
		return nil, "archived partner", nil
	}
	secrets, err = h.store.Secrets(ctx, partner)
	if err != nil {
		return nil, "", err
	}
	if len(secrets) == 0 {
		return nil, "partner has no secret (run xpromo partner secret rotate)", nil
	}
	return secrets, "", nil
}

var amountRe = regexp.MustCompile(`^[0-9]{1,20}(\.[0-9]{1,20})?$`)

// toInput reads a verified parameter set as a conversion.
func toInput(p map[string]string) (conversion.Input, *conversion.FieldError) {
	in := conversion.Input{
		Type:     p[ParamType],
		ClickID:  p[ParamClickID],
		UserID:   p[ParamUserID],
		OrderID:  p[ParamOrderID],
		Currency: p[ParamCurrency],
	}
	if v := p[ParamAmount]; v != "" {
		if !amountRe.MatchString(v) {
			return in, &conversion.FieldError{Field: ParamAmount, Reason: "must be a decimal number such as 19.99 (a dot, no sign, no exponent)"}
		}
		d, err := decimal.NewFromString(v)
		if err != nil {
			return in, &conversion.FieldError{Field: ParamAmount, Reason: "must be a decimal number such as 19.99"}
		}
		in.Amount = &d
	}
	if v := p[ParamOccurredAt]; v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return in, &conversion.FieldError{Field: ParamOccurredAt, Reason: "must be an RFC 3339 time such as 2026-01-31T18:00:00Z"}
		}
		in.OccurredAt = t
	}
	return in, nil
}

// Serve handles one postback: parameters, freshness, signature, the
// conversion's fields, replay, then the conversion is recorded.
func (h *Handler) Serve(c echo.Context) error {
	ctx := c.Request().Context()
	partner := c.Param("partner")
	now := h.wall()
	c.Response().Header().Set("Cache-Control", "no-store")

	body, ok, err := h.readBody(c)
	if !ok {
		return err
	}
	params, err := ParseParams(c.Request().URL.RawQuery, body)
	if err != nil {
		return h.fail(c, http.StatusBadRequest, "bad_request", "", err.Error())
	}
	// Freshness first: its answer is the same whether or not the partner
	// exists.
	if _, err := CheckTS(params, now); err != nil {
		return h.refuse(c, partner, err.(*AuthError).Reason, "")
	}
	secrets, why, err := h.secretsOf(ctx, partner)
	if err != nil {
		return h.unavailable(c, partner, "partner secrets unavailable", err)
	}
	sig, err := Verify(params, secrets, now)
	if err != nil {
		var ae *AuthError
		if !errors.As(err, &ae) {
			return h.unavailable(c, partner, "cannot verify", err)
		}
		return h.refuse(c, partner, ae.Reason, why)
	}

	in, fe := toInput(params)
	if fe == nil {
		fe = in.Normalize(h.now())
	}
	if fe != nil {
		return h.fail(c, http.StatusUnprocessableEntity, "validation", fe.Field, fe.Reason)
	}

	guard := replays{h.rdb, h.prefix}
	first, earlier, err := guard.first(ctx, sig)
	if err != nil {
		return h.unavailable(c, partner, "replay check unavailable", err)
	}
	if !first {
		// The identical request again (a partner's retry whose answer was
		// lost): nothing more is recorded; it gets the first answer's id,
		// as a repeat. While the first is still being recorded, a retry is
		// asked to come back.
		if earlier.ID == "" {
			// Not a fault: the partner retried before the first answer.
			h.log.Info("postback: identical request while the first is being recorded", "partner", clip(partner))
			return h.fail(c, http.StatusServiceUnavailable, "unavailable", "", "the same request is being recorded; retry later")
		}
		h.log.Info("postback: identical request answered as a repeat", "partner", partner, "id", earlier.ID)
		return c.JSON(http.StatusOK, conversion.Recorded{ID: earlier.ID, Duplicate: true})
	}
	rec, err := h.rec.Record(ctx, vocab.SourcePartnerPrefix+partner, in, &hit.Hit{Partner: partner, Country: UnknownCountry})
	if err != nil {
		// Not recorded: let the partner's retry of this very request in.
		guard.forget(context.WithoutCancel(ctx), sig)
		if errors.Is(err, conversion.ErrUnavailable) {
			return h.unavailable(c, partner, "duplicate check unavailable", err)
		}
		return h.unavailable(c, partner, "conversion not recorded", err)
	}
	guard.answered(context.WithoutCancel(ctx), sig, rec)
	return c.JSON(http.StatusOK, rec)
}

// replays remembers the signatures of accepted postbacks for ReplayTTL
// (longer than a ts stays fresh) with the answer each got, so each signed
// request counts once and its identical retries get that answer again.
type replays struct {
	rdb    *redis.Client
	prefix string
}

func (r replays) key(sig string) string { return r.prefix + "postback:" + sig }

// pending is what a signature holds until its conversion is recorded.
const pending = "pending"

// first marks sig as seen and reports whether it was new; when it was
// not, earlier is the answer the first request got (empty while that
// request is still being recorded).
func (r replays) first(ctx context.Context, sig string) (bool, conversion.Recorded, error) {
	var earlier conversion.Recorded
	ok, err := r.rdb.SetNX(ctx, r.key(sig), pending, ReplayTTL).Result()
	if err != nil || ok {
		return ok, earlier, err
	}
	v, err := r.rdb.Get(ctx, r.key(sig)).Result()
	switch {
	case err == redis.Nil:
		return r.first(ctx, sig) // the first one failed and was forgotten just now
	case err != nil:
		return false, earlier, err
	case v == pending:
		return false, earlier, nil
	}
	earlier.ID = v
	return false, earlier, nil
}

// answered records the id sig's request was answered with (best effort:
// a retry that misses it is asked to come back until ReplayTTL ends).
func (r replays) answered(ctx context.Context, sig string, rec conversion.Recorded) {
	r.rdb.SetArgs(ctx, r.key(sig), rec.ID, redis.SetArgs{Mode: "XX", KeepTTL: true})
}

// forget unmarks sig (best effort).
func (r replays) forget(ctx context.Context, sig string) {
	r.rdb.Del(ctx, r.key(sig))
}

// WithClock makes h read the time of its business rules from now
// instead of the wall clock (tests move it); it returns h.
func (h *Handler) WithClock(now func() time.Time) *Handler {
	h.now = now
	return h
}
