// Package postback receives partners' signed postbacks: what the users we
// sent to a partner (outbound links, our click id in xp_click) did there.
// Each partner signs its requests with an HMAC secret that xpromo issues
// (Store, `xpromo partner secret rotate`); Handler checks the signature,
// its freshness and that it was not seen before, then records the event
// as a conversion from source "partner:<id>".
//
// The signature scheme is specified in docs/POSTBACKS.md; Sign is its
// reference implementation.
package postback

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Parameter names.
const (
	ParamClickID    = "click_id"
	ParamType       = "type"
	ParamOrderID    = "order_id"
	ParamUserID     = "user_id"
	ParamAmount     = "amount"
	ParamCurrency   = "currency"
	ParamOccurredAt = "occurred_at"
	ParamTS         = "ts"
	ParamSig        = "sig"
)

// Limits of a postback.
const (
	MaxParams   = 32              // parameters in one request
	MaxKey      = 64              // bytes of a parameter name
	MaxValue    = 1024            // bytes of a parameter value
	MaxSkew     = 5 * time.Minute // ts must be strictly within this of the server's clock
	ReplayTTL   = 10 * time.Minute
	SigHexLen   = 2 * sha256.Size
	maxTSDigits = 12
)

// ParamError is a malformed parameter set: refused before any signature
// is checked.
type ParamError struct {
	Param  string // "" when it concerns no single parameter
	Reason string
}

func (e *ParamError) Error() string {
	if e.Param == "" {
		return e.Reason
	}
	return fmt.Sprintf("parameter %q: %s", e.Param, e.Reason)
}

func paramErr(p, format string, args ...any) *ParamError {
	return &ParamError{Param: p, Reason: fmt.Sprintf(format, args...)}
}

// validKey reports whether k is a parameter name: 1-64 of A-Z, a-z, 0-9,
// '_', '-', '.'. Names never hold '=' or a newline, so the signed message
// (key=value lines) is unambiguous.
func validKey(k string) bool {
	if k == "" || len(k) > MaxKey {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > MaxKey {
		return s[:MaxKey] + "…"
	}
	return s
}

// checkValue refuses values that are not valid UTF-8, hold a control
// character (C0, DEL, C1; so no newline) or are too long.
func checkValue(k, v string) *ParamError {
	if len(v) > MaxValue {
		return paramErr(k, "longer than %d bytes", MaxValue)
	}
	if !utf8.ValidString(v) {
		return paramErr(k, "is not valid UTF-8")
	}
	if strings.ContainsFunc(v, unicode.IsControl) {
		return paramErr(k, "holds a control character")
	}
	return nil
}

// Check validates a parameter set as the server does before verifying it.
func Check(params map[string]string) error {
	if len(params) > MaxParams {
		return paramErr("", "more than %d parameters", MaxParams)
	}
	for k, v := range params {
		if !validKey(k) {
			return paramErr(clip(k), "is not a parameter name (1-%d of A-Z, a-z, 0-9, _, -, .)", MaxKey)
		}
		if pe := checkValue(k, v); pe != nil {
			return pe
		}
	}
	return nil
}

// ParseParams decodes application/x-www-form-urlencoded strings (a query,
// a form body) into one parameter set, as Check validates it. A name given
// twice, within one string or across them, is refused: the signature
// covers one value per name.
func ParseParams(encoded ...string) (map[string]string, error) {
	out := map[string]string{}
	for _, s := range encoded {
		for part := range strings.SplitSeq(s, "&") {
			if part == "" {
				continue
			}
			if len(out) >= MaxParams {
				return nil, paramErr("", "more than %d parameters", MaxParams)
			}
			rk, rv, _ := strings.Cut(part, "=")
			k, err := url.QueryUnescape(rk)
			if err != nil {
				return nil, paramErr("", "malformed encoding of a name: %v", err)
			}
			if !validKey(k) {
				return nil, paramErr(clip(k), "is not a parameter name (1-%d of A-Z, a-z, 0-9, _, -, .)", MaxKey)
			}
			v, err := url.QueryUnescape(rv)
			if err != nil {
				return nil, paramErr(k, "malformed percent-encoding")
			}
			if _, dup := out[k]; dup {
				return nil, paramErr(k, "given more than once")
			}
			if pe := checkValue(k, v); pe != nil {
				return nil, pe
			}
			out[k] = v
		}
	}
	return out, nil
}

// Message is the signed text of params: every parameter but sig, as
// key=value lines sorted by key (bytewise), joined by "\n" (no newline at
// the end). Values are taken exactly as given.
func Message(params map[string]string) string {
	keys := make([]string, 0, len(params))
	n := 0
	for k, v := range params {
		if k == ParamSig {
			continue
		}
		keys = append(keys, k)
		n += len(k) + len(v) + 2
	}
	slices.Sort(keys)
	var b strings.Builder
	b.Grow(n)
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(params[k])
	}
	return b.String()
}

func mac(secret, msg string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// Sign returns the lowercase hex HMAC-SHA256, keyed with secret (its
// bytes as given, "xps_" included), of Message(params). A sig in params
// is ignored.
func Sign(secret string, params map[string]string) string {
	return hex.EncodeToString(mac(secret, Message(params)))
}

// AuthError is a postback refused as unauthenticated. Reason is what the
// partner is told; it never says whether the partner exists.
type AuthError struct{ Reason string }

func (e *AuthError) Error() string { return "postback: " + e.Reason }

// Reasons of AuthError.
const (
	ReasonMissingTS    = "missing ts"
	ReasonBadTS        = "ts must be unix seconds"
	ReasonStaleTS      = "ts outside ±5 minutes of the server's clock"
	ReasonMissingSig   = "missing sig"
	ReasonBadSignature = "bad signature"
)

// ErrUnauthorized matches every *AuthError with errors.Is.
var ErrUnauthorized = errors.New("postback: unauthorized")

func (e *AuthError) Is(target error) bool { return target == ErrUnauthorized }

// CheckTS checks params' ts against now: present, unix seconds, and less
// than MaxSkew away.
func CheckTS(params map[string]string, now time.Time) (time.Time, error) {
	v, ok := params[ParamTS]
	if !ok || v == "" {
		return time.Time{}, &AuthError{ReasonMissingTS}
	}
	if len(v) > maxTSDigits || strings.ContainsFunc(v, func(r rune) bool { return r < '0' || r > '9' }) {
		return time.Time{}, &AuthError{ReasonBadTS}
	}
	sec, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, &AuthError{ReasonBadTS}
	}
	ts := time.Unix(sec, 0)
	if d := now.Sub(ts); d <= -MaxSkew || d >= MaxSkew {
		return ts, &AuthError{ReasonStaleTS}
	}
	return ts, nil
}

// Verify checks a parsed parameter set (Check, ParseParams) at now: ts
// fresh (CheckTS), then sig the HMAC of Message(params) under one of
// secrets (compared in constant time; hex in either case). It returns the
// sig in canonical form (lowercase), e.g. for a replay guard. With no
// secrets (an unknown partner) it still computes one MAC and fails as a
// bad signature.
func Verify(params map[string]string, secrets []string, now time.Time) (string, error) {
	if _, err := CheckTS(params, now); err != nil {
		return "", err
	}
	sigText, ok := params[ParamSig]
	if !ok || sigText == "" {
		return "", &AuthError{ReasonMissingSig}
	}
	got, decErr := hex.DecodeString(sigText)
	wellFormed := decErr == nil && len(got) == sha256.Size
	msg := Message(params)
	candidates := secrets
	if len(candidates) == 0 {
		candidates = []string{"xps_unknown_partner"} // the same work as for a known partner
	}
	match := false
	for _, s := range candidates {
		if hmac.Equal(mac(s, msg), got) {
			match = true
		}
	}
	if !match || !wellFormed || len(secrets) == 0 {
		return "", &AuthError{ReasonBadSignature}
	}
	return hex.EncodeToString(got), nil
}
