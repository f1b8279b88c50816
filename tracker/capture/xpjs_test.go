package capture

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/xpromo/xpromo/lib/metrics"
	"github.com/xpromo/xpromo/tracker/agent"
	"github.com/xpromo/xpromo/tracker/hit"
)

// scriptServer mounts the capture routes the way the tracker does; the
// script needs neither catalog nor buffer.
func scriptServer(t *testing.T) *echo.Echo {
	t.Helper()
	s := New(nil, nil, agent.New(0), NewClientIP(nil), slog.New(slog.DiscardHandler), metrics.Discard())
	e := echo.New()
	s.Register(e)
	return e
}

func getScript(e *echo.Echo, method string, hdr map[string]string) *httptest.ResponseRecorder {
	return serve(e, httptest.NewRequest(method, "https://t.example/xp.js", nil), hdr)
}

func TestScriptServed(t *testing.T) {
	e := scriptServer(t)
	w := getScript(e, http.MethodGet, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	want := map[string]string{
		"Content-Type":                 "application/javascript; charset=utf-8",
		"Cache-Control":                "public, max-age=3600",
		"X-Content-Type-Options":       "nosniff",
		"Cross-Origin-Resource-Policy": "cross-origin",
		"ETag":                         scriptETag,
	}
	for k, v := range want {
		if got := w.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if w.Header().Get("Set-Cookie") != "" {
		t.Errorf("the script sets a cookie: %q", w.Header().Get("Set-Cookie"))
	}
	if !bytes.Equal(w.Body.Bytes(), xpScript) {
		t.Error("body differs from the embedded script")
	}
	disk, err := os.ReadFile("xp.js")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(disk, xpScript) {
		t.Error("xp.js on disk differs from the embedded copy")
	}
	sum := sha256.Sum256(disk)
	if tag := `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`; scriptETag != tag {
		t.Errorf("ETag %s, want the content hash %s", scriptETag, tag)
	}
}

func TestScriptHead(t *testing.T) {
	e := scriptServer(t)
	w := getScript(e, http.MethodHead, nil)
	if w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Fatalf("status %d, %d body bytes", w.Code, w.Body.Len())
	}
	if got := w.Header().Get("Content-Length"); got != strconv.Itoa(len(xpScript)) {
		t.Errorf("Content-Length %q, want %d", got, len(xpScript))
	}
	for k, v := range map[string]string{"Content-Type": "application/javascript; charset=utf-8", "ETag": scriptETag, "Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"} {
		if got := w.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestScriptETag(t *testing.T) {
	e := scriptServer(t)
	for _, inm := range []string{scriptETag, "W/" + scriptETag, `"other", ` + scriptETag, "*"} {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			w := getScript(e, method, map[string]string{"If-None-Match": inm})
			if w.Code != http.StatusNotModified || w.Body.Len() != 0 {
				t.Errorf("%s If-None-Match %s: status %d, %d body bytes", method, inm, w.Code, w.Body.Len())
			}
			if w.Header().Get("ETag") != scriptETag || w.Header().Get("Cache-Control") != "public, max-age=3600" {
				t.Errorf("%s If-None-Match %s: 304 without validators: %v", method, inm, w.Header())
			}
		}
	}
	for _, inm := range []string{`"other"`, strings.Trim(scriptETag, `"`), `W/"x"`, ""} {
		w := getScript(e, http.MethodGet, map[string]string{"If-None-Match": inm})
		if w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), xpScript) {
			t.Errorf("If-None-Match %q: status %d", inm, w.Code)
		}
	}
}

func TestScriptSource(t *testing.T) {
	src := string(xpScript)
	for _, banned := range []string{"eval(", "Function(", "document.write", "setTimeout('", "innerHTML"} {
		if strings.Contains(src, banned) {
			t.Errorf("xp.js contains %q", banned)
		}
	}
	if !strings.Contains(src, "'use strict';") {
		t.Error("xp.js is not in strict mode")
	}
	if len(xpScript) >= 4096 {
		t.Errorf("xp.js is %d bytes, want < 4 KiB", len(xpScript))
	}
}

// harnessResult is what testdata/xpjs_harness.js prints.
type harnessResult struct {
	Checks   int      `json:"checks"`
	Failures []string `json:"failures"`
	Sent     []struct {
		Name string `json:"name"`
		URL  string `json:"url"`
	} `json:"sent"`
}

// TestScriptBehaviour runs xp.js under node against a fake page, then
// feeds the conversion URLs it sent through the tracker's own parser.
func TestScriptBehaviour(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is required for this test (make test installs it: scripts/test-tools.sh, apt-get install -y nodejs)")
	}
	script, err := filepath.Abs("xp.js")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "xpjs_harness.js"), script)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("harness failed (%v):\n%s%s", err, stderr.String(), stdout.String())
		}
		t.Fatal(err)
	}
	var res harnessResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("harness output: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	if res.Checks < 100 {
		t.Errorf("harness ran only %d checks", res.Checks)
	}
	for _, f := range res.Failures {
		t.Error(f)
	}
	if len(res.Sent) < 10 {
		t.Errorf("harness reported %d sent conversions", len(res.Sent))
	}
	for _, s := range res.Sent {
		u, err := url.Parse(s.URL)
		if err != nil || u.Path != "/p.gif" {
			t.Errorf("%s: bad URL %q (%v)", s.Name, s.URL, err)
			continue
		}
		if len(u.RawQuery) > MaxQuery {
			t.Errorf("%s: query of %d bytes", s.Name, len(u.RawQuery))
		}
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			t.Errorf("%s: %v", s.Name, err)
			continue
		}
		var h hit.Hit
		if reason := conversion(&h, q); reason != "" {
			t.Errorf("%s: the tracker rejects %s: %s", s.Name, s.URL, reason)
		}
	}
}
