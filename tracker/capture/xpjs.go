package capture

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// xpScript is xp.js, the first-party script advertisers embed to keep the
// click id on their own domain and report conversions (docs/XPJS.md).
//
//go:embed xp.js
var xpScript []byte

// scriptPath is where the tracker serves the script.
const scriptPath = "/xp.js"

// scriptETag is a strong validator: the hash of the embedded content, so it
// changes exactly when a new binary ships a different script.
var scriptETag = func() string {
	sum := sha256.Sum256(xpScript)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
}()

func (s *Server) registerScript(e *echo.Echo) {
	e.GET(scriptPath, serveScript)
	e.HEAD(scriptPath, serveScript)
}

func serveScript(c echo.Context) error {
	h := c.Response().Header()
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("ETag", scriptETag)
	h.Set("X-Content-Type-Options", "nosniff")
	// Advertisers' pages load the script cross-site; let pages that
	// require CORP (COEP: require-corp) do so too.
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	if etagMatch(c.Request().Header.Get("If-None-Match"), scriptETag) {
		return c.NoContent(http.StatusNotModified)
	}
	h.Set(echo.HeaderContentType, "application/javascript; charset=utf-8")
	if c.Request().Method == http.MethodHead {
		h.Set(echo.HeaderContentLength, strconv.Itoa(len(xpScript)))
		return c.NoContent(http.StatusOK)
	}
	return c.Blob(http.StatusOK, "application/javascript; charset=utf-8", xpScript)
}

// etagMatch applies If-None-Match's weak comparison (RFC 9110, 13.1.2):
// "*" or any listed tag equal to etag, with or without W/.
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}
