package auth

import (
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"golang.org/x/net/http/httpguts"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// FuzzTokenParse: Parse accepts exactly the canonical spelling of a
// token: what it accepts rebuilds to the same string, and a token it
// accepts is the only spelling of its id and secret.
func FuzzTokenParse(f *testing.F) {
	good, _, _, err := generate()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{good, good[:len(good)-1] + "B", strings.ToUpper(good), good + "=", good[:TokenLen-1],
		"xpt_aaaaaaaaaaaa_" + strings.Repeat("A", 43), "xpt_" + strings.Repeat("1", 12) + "_" + strings.Repeat("A", 43), ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, secret, err := Parse(s)
		if err != nil {
			if err != ErrMalformed || id != "" || secret != nil {
				t.Fatalf("Parse(%q) = %q, %x, %v", s, id, secret, err)
			}
			if len(s) >= 8 && strings.Contains(err.Error(), s) {
				t.Fatalf("the error repeats the input %q", s)
			}
			return
		}
		if len(s) != TokenLen || !ValidTokenID(id) || len(secret) != SecretBytes || !utf8.ValidString(s) {
			t.Fatalf("Parse(%q) accepted id %q secret %d bytes", s, id, len(secret))
		}
		if back := Prefix + id + "_" + base64.RawURLEncoding.EncodeToString(secret); back != s {
			t.Fatalf("Parse(%q) does not round-trip: %q", s, back)
		}
	})
}

// FuzzBearer: whatever the Authorization header, the middleware lets a
// request through only with the one valid token (Bearer in any case,
// blanks around the token), answers 401 JSON otherwise, never logs the
// secret and never puts a line break in a header.
func FuzzBearer(f *testing.F) {
	tok, id, hash, err := generate()
	if err != nil {
		f.Fatal(err)
	}
	revoked, rid, rhash, err := generate()
	if err != nil {
		f.Fatal(err)
	}
	var logs testenv.LogBuffer
	v := memVerifier(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Token{ID: id, hash: hash, Role: access.RoleAdmin}, Token{ID: rid, hash: rhash, Role: access.RoleAdmin, RevokedAt: time.Unix(1, 0)})
	e := echo.New()
	e.GET("/x", func(c echo.Context) error { return c.String(http.StatusOK, "ok") }, Middleware(v))
	for _, s := range []string{"Bearer " + tok, "bearer  " + tok + " ", "Bearer " + revoked, "Bearer " + tok[:len(tok)-1] + "A",
		"Basic " + tok, "Bearer", "Bearer xpt_", tok, "Bearer " + tok + "\x00", "Bearer " + strings.Replace(tok, "_", "-", 1)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, hdr string) {
		if !httpguts.ValidHeaderFieldValue(hdr) {
			return // a server never receives it
		}
		req := httptest.NewRequest("GET", "/x", nil)
		req.Header.Set("Authorization", hdr)
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req)
		scheme, rest, _ := strings.Cut(hdr, " ")
		valid := strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(rest) == tok
		switch {
		case valid && w.Code != http.StatusOK:
			t.Fatalf("%q: valid token refused with %d", hdr, w.Code)
		case !valid && w.Code != http.StatusUnauthorized:
			t.Fatalf("%q: status %d, want 401", hdr, w.Code)
		case !valid && !strings.HasPrefix(w.Body.String(), `{"error":"unauthorized"`):
			t.Fatalf("%q: body %q", hdr, w.Body.String())
		}
		for k, vs := range w.Header() {
			for _, v := range vs {
				if strings.ContainsAny(v, "\r\n") || strings.Contains(v, secretOf(tok)) {
					t.Fatalf("%q: header %s = %q", hdr, k, v)
				}
			}
		}
		if strings.Contains(logs.String(), secretOf(tok)) || strings.Contains(logs.String(), secretOf(revoked)) {
			t.Fatalf("%q: a secret reached the log", hdr)
		}
	})
}
