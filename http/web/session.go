package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/http/auth"
)

// Cookie names. Both are HttpOnly, SameSite=Strict, Path=/app.
const (
	SessionCookie = "xpromo_session"
	// PreCSRFCookie carries the CSRF secret of the sign-in form, before
	// there is a session (double-submit: cookie and hidden field must match).
	PreCSRFCookie = "xpromo_csrf"
	// CSRFField is the hidden field of every POST form.
	CSRFField = "csrf"
)

// session is what Redis keeps for a signed-in browser: the token by id
// and the SHA-256 of its secret (never the secret), the CSRF secret and
// the expiry. The key is the SHA-256 of the cookie's session id, so Redis
// alone does not give a usable cookie either.
type session struct {
	key       string
	tokenID   string
	tokenHash [sha256.Size]byte
	csrf      string
	expires   time.Time
	p         access.Principal
}

func randomID() (string, error) {
	b := make([]byte, 32) // 256 bits
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func (s *Server) sessionKey(id string) string {
	h := sha256.Sum256([]byte(id))
	return s.cfg.KeyPrefix + "session:" + hex.EncodeToString(h[:])
}

// createSession stores a session for the token and returns the cookie's
// session id.
func (s *Server) createSession(ctx context.Context, token string) (string, error) {
	id, secret, err := auth.Parse(token)
	if err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	sid, err := randomID()
	if err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	csrf, err := randomID()
	if err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	exp := s.cfg.Now().Add(s.cfg.SessionTTL)
	key := s.sessionKey(sid)
	pipe := s.cfg.Redis.TxPipeline()
	pipe.HSet(ctx, key, "token_id", id, "token_hash", auth.HashSecret(secret), "csrf", csrf, "expires", strconv.FormatInt(exp.Unix(), 10))
	pipe.Expire(ctx, key, s.cfg.SessionTTL)
	if _, err := pipe.Exec(ctx); err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	return sid, nil
}

// errNoSession: no cookie, an unknown or expired session, or a token that
// no longer verifies (revoked, expired): the reader signs in again.
var errNoSession = errors.New("no session")

// loadSession reads the session of r and re-checks its token through the
// Verifier, so a revoked token ends its sessions at once; such a session
// is deleted.
func (s *Server) loadSession(r *http.Request) (*session, error) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return nil, errNoSession
	}
	ctx := r.Context()
	key := s.sessionKey(c.Value)
	m, err := s.cfg.Redis.HGetAll(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("load session: %w", err)
	}
	if len(m) == 0 {
		return nil, errNoSession
	}
	sess := &session{key: key, tokenID: m["token_id"], csrf: m["csrf"]}
	exp, _ := strconv.ParseInt(m["expires"], 10, 64)
	sess.expires = time.Unix(exp, 0)
	h, herr := hex.DecodeString(m["token_hash"])
	now := s.cfg.Now()
	if herr != nil || len(h) != sha256.Size || sess.csrf == "" || !now.Before(sess.expires) {
		s.deleteSession(ctx, key)
		return nil, errNoSession
	}
	copy(sess.tokenHash[:], h)
	p, err := s.cfg.Verifier.VerifyHash(sess.tokenID, sess.tokenHash, now)
	if err != nil {
		s.log.Info("web: session ended, its token no longer verifies", "token", sess.tokenID, "err", err)
		s.deleteSession(ctx, key)
		return nil, errNoSession
	}
	sess.p = p
	return sess, nil
}

func (s *Server) deleteSession(ctx context.Context, key string) {
	if err := s.cfg.Redis.Del(context.WithoutCancel(ctx), key).Err(); err != nil && !errors.Is(err, redis.Nil) {
		s.log.Warn("web: delete session", "err", err)
	}
}

// secure reports whether cookies get the Secure flag: the request came
// over TLS or the configured public URL is https.
func (s *Server) secure(r *http.Request) bool {
	return r.TLS != nil || s.publicHTTPS
}

func (s *Server) cookie(r *http.Request, name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/app", MaxAge: maxAge, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: s.secure(r)}
}

// equalSecret compares two secrets in constant time.
func equalSecret(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// sameOrigin checks the Origin header, or else the Referer, when present:
// its host must be the request's host (or the public URL's). A POST with
// neither passes on the CSRF token alone.
func (s *Server) sameOrigin(r *http.Request) bool {
	src := r.Header.Get("Origin")
	if src == "" {
		src = r.Header.Get("Referer")
	}
	if src == "" {
		return true
	}
	u, err := url.Parse(src)
	if err != nil || u.Host == "" {
		return false // includes Origin: null
	}
	host := strings.ToLower(u.Host)
	return host == strings.ToLower(r.Host) || (s.publicHost != "" && host == s.publicHost)
}
