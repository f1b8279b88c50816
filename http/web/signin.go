package web

import (
	"bytes"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/xpromo/xpromo/http/auth"
)

// signInForm shows the sign-in form with a fresh pre-session CSRF secret
// (cookie and hidden field), or the one the browser already holds.
func (s *Server) signInForm(c echo.Context, code int, msg string) error {
	r := c.Request()
	csrf := ""
	if ck, err := r.Cookie(PreCSRFCookie); err == nil && len(ck.Value) == 43 {
		csrf = ck.Value
	} else {
		var err error
		if csrf, err = randomID(); err != nil {
			return err
		}
		http.SetCookie(c.Response(), s.cookie(r, PreCSRFCookie, csrf, 3600))
	}
	loc := newLocale(r.Header.Get("Accept-Language"))
	pg := &page{Title: "Sign in", Template: "signin", CSRF: csrf, Error: msg, Lang: loc.Lang()}
	var b bytes.Buffer
	if err := s.pages["signin"].Execute(&b, pg); err != nil {
		return err
	}
	return s.write(c, code, b.Bytes())
}

// signIn checks the form's CSRF secret and origin, verifies the token as
// the API does, and starts a session: 303 to the role's home.
func (s *Server) signIn(c echo.Context) error {
	r := c.Request()
	ck, err := r.Cookie(PreCSRFCookie)
	if !s.sameOrigin(r) || err != nil || !equalSecret(r.PostFormValue(CSRFField), ck.Value) {
		s.log.Info("web: sign-in refused (CSRF)", "ip", c.RealIP(), "origin", r.Header.Get("Origin"))
		return s.signInForm(c, http.StatusForbidden, "The sign-in form expired or did not come from this site. Try again.")
	}
	token := strings.TrimSpace(r.PostFormValue("token"))
	p, err := s.cfg.Verifier.Verify(token, s.cfg.Now())
	if err != nil {
		s.log.Info("web: sign-in refused", "ip", c.RealIP(), "err", err) // names the token id at most
		why := "This token is not valid."
		switch {
		case errors.Is(err, auth.ErrExpired):
			why = "This token has expired."
		case errors.Is(err, auth.ErrRevoked):
			why = "This token has been revoked."
		}
		return s.signInForm(c, http.StatusUnauthorized, why+" Paste a current xpromo API token (xpt_...).")
	}
	sid, err := s.createSession(r.Context(), token)
	if err != nil {
		s.log.Error("web: sign-in", "err", err)
		return s.signInForm(c, http.StatusServiceUnavailable, "Sessions are unavailable right now; try again in a moment.")
	}
	http.SetCookie(c.Response(), s.cookie(r, SessionCookie, sid, int(s.cfg.SessionTTL.Seconds())))
	http.SetCookie(c.Response(), s.cookie(r, PreCSRFCookie, "", -1))
	s.log.Info("web: signed in", "token", p.TokenID, "role", p.Role)
	return c.Redirect(http.StatusSeeOther, home(p))
}
