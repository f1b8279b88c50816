package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func sessionCookie(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == SessionCookie {
			return c
		}
	}
	t.Fatalf("no %s cookie in %v", SessionCookie, resp.Header["Set-Cookie"])
	return nil
}

func TestSignInOut(t *testing.T) {
	en := setup(t)
	b := en.browser()
	resp, _ := b.get("/app/")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/app/signin" {
		t.Fatalf("no session: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, page := b.get("/app/signin")
	for _, want := range []string{`<form id="signin" method="post" action="/app/signin">`, `name="token"`, `name="csrf"`, `<button type="submit">`} {
		if !strings.Contains(page, want) {
			t.Errorf("sign-in page lacks %s", want)
		}
	}
	if resp.StatusCode != 200 {
		t.Fatalf("sign-in page: %d", resp.StatusCode)
	}

	// A wrong token, a revoked one and junk: 401 with a message, no session.
	for _, tok := range []string{"xpt_aaaaaaaaaaaa_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "hello", ""} {
		bad := en.browser()
		_, p := bad.get("/app/signin")
		resp, body := bad.do("POST", "/app/signin", url.Values{"token": {tok}, "csrf": {csrfOf(t, p)}}, nil)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "not valid") {
			t.Errorf("token %q: %d %s", tok, resp.StatusCode, body)
		}
		for _, c := range resp.Cookies() {
			if c.Name == SessionCookie && c.Value != "" {
				t.Errorf("token %q got a session", tok)
			}
		}
	}

	// Each role lands on its home.
	for who, home := range map[string]string{
		"admin": "/app/admin", "finance": "/app/statements", "cm-de": "/app/country/DE", "cm-fr": "/app/country/FR",
		"partner-a": "/app/partner", "service": "/app/account",
	} {
		b := en.browser()
		resp := b.signIn(who)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != home {
			t.Errorf("%s: %d to %q, want %s", who, resp.StatusCode, resp.Header.Get("Location"), home)
			continue
		}
		if r, body := b.get(home); r.StatusCode != 200 || !strings.Contains(body, `<form id="signout" method="post" action="/app/signout">`) {
			t.Errorf("%s home %s: %d", who, home, r.StatusCode)
		}
		if r, _ := b.get("/app/"); r.Header.Get("Location") != home {
			t.Errorf("%s: /app/ goes to %s", who, r.Header.Get("Location"))
		}
	}

	// The cookie: HttpOnly, SameSite=Strict, /app, not Secure over plain
	// HTTP; Redis holds the session under the hash of its id, without the
	// token's secret.
	resp = b.signIn("cm-de")
	c := sessionCookie(t, resp)
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/app" || c.Secure || len(c.Value) != 43 {
		t.Errorf("cookie %+v", c)
	}
	sum := sha256.Sum256([]byte(c.Value))
	key := en.rd.Prefix + "session:" + hex.EncodeToString(sum[:])
	ctx := context.Background()
	m, err := en.rd.Client.HGetAll(ctx, key).Result()
	if err != nil || m["token_id"] != en.ids["cm-de"] || m["csrf"] == "" {
		t.Fatalf("session in Redis: %v %v", m, err)
	}
	secret := en.tokens["cm-de"][len("xpt_")+12+1:]
	for _, v := range m {
		if strings.Contains(v, secret) {
			t.Error("Redis holds the token's secret")
		}
	}
	if ttl := en.rd.Client.TTL(ctx, key).Val(); ttl <= 11*time.Hour || ttl > 12*time.Hour {
		t.Errorf("session TTL %s", ttl)
	}

	// Sign out: the session is gone from Redis and the cookie cleared.
	_, page = b.get("/app/country/DE")
	resp, _ = b.do("POST", "/app/signout", url.Values{"csrf": {csrfOf(t, page)}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/app/signin" {
		t.Fatalf("sign out: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if c := sessionCookie(t, resp); c.MaxAge >= 0 {
		t.Errorf("sign-out cookie not cleared: %+v", c)
	}
	if n := en.rd.Client.Exists(ctx, key).Val(); n != 0 {
		t.Error("session still in Redis after sign-out")
	}
	if resp, _ := b.get("/app/country/DE"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after sign-out: %d", resp.StatusCode)
	}
	// The old cookie replayed after sign-out does not work either.
	replay := en.browser()
	u, _ := url.Parse(en.http.URL)
	replay.c.Jar.SetCookies(u, []*http.Cookie{{Name: SessionCookie, Value: c.Value, Path: "/app"}})
	if resp, _ := replay.get("/app/country/DE"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("replayed cookie: %d", resp.StatusCode)
	}
}

func TestSecureCookieBehindHTTPS(t *testing.T) {
	en := setup(t, func(c *Config) { c.PublicURL = "https://go.example.com" })
	b := en.browser()
	_, page := b.get("/app/signin")
	resp, _ := b.do("POST", "/app/signin", url.Values{"token": {en.tokens["admin"]}, "csrf": {csrfOf(t, page)}},
		map[string]string{"Origin": "https://go.example.com"})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: %d", resp.StatusCode)
	}
	if c := sessionCookie(t, resp); !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Errorf("cookie %+v", c)
	}
}

func TestRevokedTokenEndsSession(t *testing.T) {
	en := setup(t)
	b := en.signedIn("cm-de")
	if resp, _ := b.get("/app/country/DE?from=" + fromDay + "&to=" + toDay); resp.StatusCode != 200 {
		t.Fatalf("before: %d", resp.StatusCode)
	}
	ctx := context.Background()
	if _, err := en.ts.Revoke(ctx, en.ids["cm-de"], "test"); err != nil {
		t.Fatal(err)
	}
	if err := en.v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	resp, _ := b.get("/app/country/DE")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/app/signin" {
		t.Fatalf("after revocation: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	keys, _ := en.rd.Client.Keys(ctx, en.rd.Prefix+"session:*").Result()
	if len(keys) != 0 {
		t.Errorf("sessions left: %v", keys)
	}
	// Signing in again with it is refused, saying why.
	if resp := en.browser().signIn("cm-de"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("sign in with a revoked token: %d", resp.StatusCode)
	}
}

func TestCSRF(t *testing.T) {
	en := setup(t)
	b := en.signedIn("finance")
	_, page := b.get("/app/statements?period=2026-10")
	good := csrfOf(t, page)
	for _, c := range []struct {
		name string
		form url.Values
		hd   map[string]string
	}{
		{"missing", url.Values{"period": {"2026-10"}}, nil},
		{"wrong", url.Values{"period": {"2026-10"}, "csrf": {strings.Repeat("A", 43)}}, nil},
		{"foreign origin", url.Values{"period": {"2026-10"}, "csrf": {good}}, map[string]string{"Origin": "https://evil.example"}},
		{"null origin", url.Values{"period": {"2026-10"}, "csrf": {good}}, map[string]string{"Origin": "null"}},
		{"foreign referer", url.Values{"period": {"2026-10"}, "csrf": {good}}, map[string]string{"Referer": "https://evil.example/x"}},
	} {
		for _, path := range []string{"/app/statements/close", "/app/signout"} {
			resp, _ := b.do("POST", path, c.form, c.hd)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s %s: %d", c.name, path, resp.StatusCode)
			}
		}
	}
	// Still signed in, the period still open.
	if _, body := b.get("/app/statements?period=2026-10"); !strings.Contains(body, `data-status="draft"`) {
		t.Error("a refused POST changed something")
	}
	// Same origin with the right token passes.
	resp, _ := b.do("POST", "/app/signout", url.Values{"csrf": {good}}, map[string]string{"Origin": en.http.URL})
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("good sign-out: %d", resp.StatusCode)
	}

	// The sign-in form: the field must match the pre-session cookie.
	nb := en.browser()
	nb.get("/app/signin")
	for _, c := range []struct {
		name string
		csrf string
		hd   map[string]string
	}{{"no field", "", nil}, {"wrong field", strings.Repeat("B", 43), nil}} {
		resp, _ := nb.do("POST", "/app/signin", url.Values{"token": {en.tokens["admin"]}, "csrf": {c.csrf}}, c.hd)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("sign-in %s: %d", c.name, resp.StatusCode)
		}
	}
	_, p := nb.get("/app/signin")
	resp, _ = nb.do("POST", "/app/signin", url.Values{"token": {en.tokens["admin"]}, "csrf": {csrfOf(t, p)}}, map[string]string{"Origin": "https://evil.example"})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in from a foreign origin: %d", resp.StatusCode)
	}
	// Without the cookie (another browser) the field alone is refused.
	other := en.browser()
	resp, _ = other.do("POST", "/app/signin", url.Values{"token": {en.tokens["admin"]}, "csrf": {csrfOf(t, p)}}, nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in without the csrf cookie: %d", resp.StatusCode)
	}
}

func TestSignInRateLimit(t *testing.T) {
	en := setup(t, func(c *Config) { c.SignInRate, c.SignInBurst = 0.01, 3 })
	b := en.browser()
	_, p := b.get("/app/signin")
	codes := []int{}
	for range 5 {
		resp, _ := b.do("POST", "/app/signin", url.Values{"token": {"xpt_guess"}, "csrf": {csrfOf(t, p)}}, nil)
		codes = append(codes, resp.StatusCode)
	}
	if codes[0] != http.StatusUnauthorized || codes[4] != http.StatusTooManyRequests {
		t.Errorf("codes %v", codes)
	}
}
