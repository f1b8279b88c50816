// Package conversion turns conversions reported by our product (the
// conversions API, the pixel) and by partners (postbacks) into hits on the
// same durable path as clicks: validated, marked when they repeat an order
// or signup already seen from their source, and submitted to the buffer.
//
// Whether an event repeats is answered from Redis (SET NX per source and
// order, or source and user for signups, kept DedupTTL). That answer is
// what the caller is told; the count itself is made exact later by the
// attribution engine, which deduplicates by order id over all stored
// conversions, so a repeat older than DedupTTL is still counted once.
package conversion

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/shopspring/decimal"
	"golang.org/x/text/currency"

	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/lib/ids"
	"github.com/xpromo/xpromo/lib/plaintext"
	"github.com/xpromo/xpromo/tracker/hit"
)

// Limits.
const (
	MaxField  = 128                  // bytes of an id
	MaxBatch  = 1000                 // conversions per API request
	DedupTTL  = 90 * 24 * time.Hour  // how long a seen order or signup is remembered in Redis
	MaxAge    = 400 * 24 * time.Hour // occurred_at may be at most this old
	MaxFuture = 5 * time.Minute      // and at most this far ahead (clock skew)
	MaxUA     = 512
	maxAmount = 1e14 // Decimal(18,4) holds 14 integer digits
)

// Input is one conversion as a client reports it.
type Input struct {
	Type       string           `json:"type"`
	UserID     string           `json:"user_id,omitempty"`
	OrderID    string           `json:"order_id,omitempty"`
	ClickID    string           `json:"click_id,omitempty"`
	VisitorID  string           `json:"visitor_id,omitempty"`
	Amount     *decimal.Decimal `json:"amount,omitempty"`
	Currency   string           `json:"currency,omitempty"`
	OccurredAt time.Time        `json:"occurred_at,omitzero"`
	Existing   bool             `json:"existing,omitempty"`
	IP         string           `json:"ip,omitempty"`         // the user's address, for the fingerprint only; never stored
	UserAgent  string           `json:"user_agent,omitempty"` // likewise
}

// FieldError names the field that failed validation and why.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

func checkID(field, v string) *FieldError {
	if len(v) > MaxField {
		return fieldErr(field, "at most %d bytes", MaxField)
	}
	if !plaintext.Valid(v) {
		return fieldErr(field, "must be valid UTF-8 without control characters")
	}
	return nil
}

// Normalize checks in and fills defaults (OccurredAt = now, upper-case
// currency). Purchases and refunds need an order id, an amount and a
// currency; signups need a user id. A refund's amount may be zero (refund
// the whole order).
func (in *Input) Normalize(now time.Time) *FieldError {
	switch in.Type {
	case vocab.TypeSignup, vocab.TypePurchase, vocab.TypeRefund:
	case "":
		return fieldErr("type", "is required (signup, purchase or refund)")
	default:
		return fieldErr("type", "%q must be signup, purchase or refund", in.Type)
	}
	for _, f := range []struct{ name, v string }{{"user_id", in.UserID}, {"order_id", in.OrderID}, {"click_id", in.ClickID}, {"visitor_id", in.VisitorID}} {
		if fe := checkID(f.name, f.v); fe != nil {
			return fe
		}
	}
	if len(in.UserAgent) > MaxUA {
		in.UserAgent = in.UserAgent[:MaxUA]
	}
	if in.Type == vocab.TypeSignup {
		if in.UserID == "" {
			return fieldErr("user_id", "is required for a signup")
		}
		if in.Amount != nil && !in.Amount.IsZero() {
			return fieldErr("amount", "a signup has no amount")
		}
		in.Amount, in.Currency = nil, ""
	} else {
		if in.OrderID == "" {
			return fieldErr("order_id", "is required for a %s (it makes retries harmless)", in.Type)
		}
		if in.Amount == nil {
			if in.Type == vocab.TypePurchase {
				return fieldErr("amount", "is required for a purchase")
			}
			z := decimal.Zero
			in.Amount = &z
		}
		a := *in.Amount
		if a.IsNegative() {
			return fieldErr("amount", "must not be negative (a refund's amount is what is given back)")
		}
		if a.Exponent() < -4 && !a.Equal(a.Round(4)) {
			return fieldErr("amount", "at most 4 decimal places")
		}
		if a.Abs().GreaterThanOrEqual(decimal.NewFromFloat(maxAmount)) {
			return fieldErr("amount", "too large")
		}
		in.Currency = strings.ToUpper(strings.TrimSpace(in.Currency))
		switch {
		case in.Currency == "" && in.Type == vocab.TypeRefund && a.IsZero():
			// A refund of the whole order needs no currency: it is the order's.
		case in.Currency == "":
			return fieldErr("currency", "is required with an amount (ISO 4217)")
		case len(in.Currency) != 3:
			return fieldErr("currency", "%q is not an ISO 4217 code", in.Currency)
		default:
			if _, err := currency.ParseISO(in.Currency); err != nil {
				return fieldErr("currency", "%q is not an ISO 4217 code", in.Currency)
			}
		}
	}
	if in.OccurredAt.IsZero() {
		in.OccurredAt = now
	}
	in.OccurredAt = in.OccurredAt.UTC()
	if in.OccurredAt.After(now.Add(MaxFuture)) {
		return fieldErr("occurred_at", "is in the future")
	}
	if in.OccurredAt.Before(now.Add(-MaxAge)) {
		return fieldErr("occurred_at", "is more than %d days ago", int(MaxAge.Hours()/24))
	}
	return nil
}

// Submitter makes a hit durable; *buffer.Buffer is one.
type Submitter interface {
	Submit(*hit.Hit) error
}

// Fingerprinter hashes an IP and User-Agent with the day's salt.
type Fingerprinter interface {
	Fingerprint(ip, ua string, at time.Time) string
}

// Recorder records conversions.
type Recorder struct {
	rdb    *redis.Client
	prefix string
	buf    Submitter
	fp     Fingerprinter
	now    func() time.Time
	logger *slog.Logger

	forgetting chan struct{} // background forgets in flight
	marks      chan string   // pixel conversions' keys to mark
	markOnce   sync.Once
}

// NewRecorder returns a Recorder; fp may be nil (no fingerprints).
func NewRecorder(rdb *redis.Client, keyPrefix string, buf Submitter, fp Fingerprinter) *Recorder {
	return &Recorder{rdb: rdb, prefix: keyPrefix, buf: buf, fp: fp, now: time.Now, logger: slog.New(slog.DiscardHandler),
		forgetting: make(chan struct{}, maxForgetting), marks: make(chan string, 4096)}
}

// Recorded is what Record did with one conversion.
type Recorded struct {
	ID        string `json:"id"`
	Duplicate bool   `json:"duplicate"`
}

// ErrUnavailable means the repeat check could not be made (Redis does not
// answer): nothing was recorded and the client should retry.
var ErrUnavailable = errors.New("conversion: duplicate check unavailable")

// dedupKey names what makes a conversion a repeat: the order for
// purchases and refunds, the user for signups.
func (r *Recorder) dedupKey(source string, in *Input) string {
	return DedupKey(r.prefix, source, in.Type, in.UserID, in.OrderID)
}

// DedupKey is the Redis key that remembers a conversion of type typ from
// source: its user for a signup, its order otherwise (erasure removes it).
func DedupKey(prefix, source, typ, userID, orderID string) string {
	if typ == vocab.TypeSignup {
		return prefix + "seen:" + source + ":signup:" + userID
	}
	return prefix + "seen:" + source + ":" + typ + ":" + orderID
}

// Record submits one normalized conversion from source with the context
// of h (the caller fills country, and for pixels the link). A repeat is
// stored marked Duplicate and answered as one. The mark is information
// only: the attribution engine decides what counts, over every stored
// conversion, so if a first attempt was never stored (the process died
// between the check and the buffer) its retry is still counted once.
func (r *Recorder) Record(ctx context.Context, source string, in Input, h *hit.Hit) (Recorded, error) {
	out, err := r.RecordMany(ctx, source, []Input{in}, []*hit.Hit{h})
	if err != nil {
		return Recorded{}, err
	}
	return out[0], nil
}

// RecordMany records a batch as Record does each: one pipelined round trip
// to Redis for every repeat check, then every hit submitted at once so the
// buffer commits them in one group. hs may be nil or hold nils.
func (r *Recorder) RecordMany(ctx context.Context, source string, ins []Input, hs []*hit.Hit) ([]Recorded, error) {
	now := r.now().UTC()
	hits := make([]*hit.Hit, len(ins))
	keys := make([]string, len(ins))
	for i := range ins {
		in := &ins[i]
		var h *hit.Hit
		if i < len(hs) {
			h = hs[i]
		}
		if h == nil {
			h = &hit.Hit{}
		}
		h.ID = ids.New(now)
		h.Time = now
		h.Kind = hit.KindConversion
		h.Event, h.UserID, h.OrderID, h.ClickRef = in.Type, in.UserID, in.OrderID, in.ClickID
		if in.VisitorID != "" {
			h.Visitor = in.VisitorID
		}
		h.Source, h.OccurredAt, h.Existing = source, in.OccurredAt, in.Existing
		if in.Amount != nil && in.Type != vocab.TypeSignup {
			h.Amount, h.Currency = in.Amount.String(), in.Currency
		}
		if r.fp != nil && in.IP != "" && in.UserAgent != "" {
			h.Fingerprint = r.fp.Fingerprint(in.IP, in.UserAgent, in.OccurredAt)
		}
		hits[i], keys[i] = h, r.dedupKey(source, in)
	}
	// Each mark holds this request's own token, so that a request which
	// cannot keep its conversions removes its marks and only its marks: a
	// concurrent first request for the same order keeps its own.
	token := ids.New(now)
	cmds := make([]*redis.BoolCmd, len(ins))
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.SetNX(ctx, k, token, DedupTTL)
		}
		return nil
	})
	if err != nil {
		// Redis may have applied some SET NX whose replies never came
		// (a read timeout): left in place, they would answer the client's
		// retry as a repeat of a conversion that was never stored.
		if !neverSent(err) {
			r.forget(ctx, token, keys)
		}
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	// Within one batch, the second of two equal keys is a repeat too: SET NX
	// answered in order, so it already says so. Every Submit's own error
	// is kept, not just the first (so no errgroup): the marks of all the
	// lost conversions are forgotten below.
	errs := make([]error, len(ins))
	var wg sync.WaitGroup
	for i, h := range hits {
		h.Duplicate = !cmds[i].Val()
		wg.Go(func() { errs[i] = r.buf.Submit(h) })
	}
	wg.Wait()
	var lost []string
	for i, h := range hits {
		if errs[i] != nil && !h.Duplicate {
			lost = append(lost, keys[i]) // not kept: its retry must not be a "repeat"
		}
	}
	if len(lost) > 0 {
		r.forget(ctx, token, lost)
	}
	out := make([]Recorded, len(ins))
	var firstErr error
	for i, h := range hits {
		if errs[i] != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("record conversion: %w", errs[i])
			}
			continue
		}
		out[i] = Recorded{ID: h.ID, Duplicate: h.Duplicate}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// WithClock makes r read the time of its business rules from now
// instead of the wall clock (tests move it); it returns r.
func (r *Recorder) WithClock(now func() time.Time) *Recorder {
	r.now = now
	return r
}

// forgetScript deletes a repeat-check mark only if it still holds the
// token of the request that set it.
var forgetScript = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`)

// Forgetting marks: first within ForgetWait, before the 503 goes out (the
// client is told to retry after a second); if Redis still does not answer,
// in the background until ForgetGiveUp, since a retry can only be
// answered once Redis answers again. At most maxForgetting requests are
// forgotten in the background at once, so a frozen Redis under load does
// not pile up goroutines; past that the marks stay (the retry is then
// answered as a repeat, and still stored and counted).
const (
	ForgetWait    = time.Second
	ForgetGiveUp  = 5 * time.Minute
	maxForgetting = 1024
)

// forget removes this request's marks on keys (compare-and-delete by
// token, one key per call so the keys may live on any cluster slot).
func (r *Recorder) forget(ctx context.Context, token string, keys []string) {
	ctx = context.WithoutCancel(ctx) // the request may be gone; its marks must still go
	retry := func(until time.Duration) error {
		ctx, cancel := context.WithTimeout(ctx, until)
		defer cancel()
		wait := 50 * time.Millisecond
		for {
			_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, k := range keys {
					forgetScript.Eval(ctx, p, []string{k}, token)
				}
				return nil
			})
			if err == nil {
				return nil
			}
			select {
			case <-ctx.Done():
				return err
			case <-time.After(wait):
			}
			wait = min(2*wait, time.Second)
		}
	}
	if retry(ForgetWait) == nil {
		return
	}
	select {
	case r.forgetting <- struct{}{}:
	default:
		r.logger.Warn("conversion: too many unanswered requests to forget; their retries are answered as repeats (still stored and counted)", "keys", len(keys))
		return
	}
	go func() {
		defer func() { <-r.forgetting }()
		if err := retry(ForgetGiveUp); err != nil {
			r.logger.Warn("conversion: repeat-check marks of an unanswered request not removed; a retry is answered as a repeat (still stored and counted)", "keys", keys, "err", err)
		}
	}()
}

// neverSent says whether err means no command reached Redis (the
// connection could not be made), so no mark can have been set.
func neverSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// WithLogger makes r log what it could not clean up; it returns r.
func (r *Recorder) WithLogger(log *slog.Logger) *Recorder {
	r.logger = log
	return r
}

// Remember marks a conversion the pixel stored (source "ours"), so that
// the same order or signup reported later through the API is answered as
// a repeat, as one reported twice through the API is. The pixel answers
// without waiting on Redis: the key is queued and one background worker
// sets the queued marks in pipelines, best effort (a full queue or a slow
// Redis drops them); only a later answer's duplicate flag depends on it,
// never what is counted.
func (r *Recorder) Remember(source, typ, userID, orderID string) {
	if (typ == vocab.TypeSignup && userID == "") || (typ != vocab.TypeSignup && orderID == "") {
		return // nothing identifies a repeat of it
	}
	r.markOnce.Do(func() { go r.markLoop() })
	select {
	case r.marks <- DedupKey(r.prefix, source, typ, userID, orderID):
	default:
	}
}

// markLoop sets the marks Remember queued, up to markBatch per round trip,
// for as long as the process runs.
func (r *Recorder) markLoop() {
	const markBatch = 256
	keys := make([]string, 0, markBatch)
	for k := range r.marks {
		keys = append(keys[:0], k)
	more:
		for len(keys) < markBatch {
			select {
			case k := <-r.marks:
				keys = append(keys, k)
			default:
				break more
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys {
				p.SetNX(ctx, k, "pixel", DedupTTL)
			}
			return nil
		})
		cancel()
		if err != nil {
			r.logger.Debug("conversion: pixel conversions not remembered", "n", len(keys), "err", err)
		}
	}
}
