package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/xpromo/xpromo/domain/catalog"
)

// Optimistic concurrency (docs/API.md, "Concurrency"): a read of a
// partner, partnership, link or terms answers its version as a strong
// ETag; a change may send it back in If-Match and is refused with 412
// when someone changed the object since. If-Match is optional: most
// callers are scripts that mean to set what they send.

// setETag names version as the answer's strong ETag.
func setETag(c echo.Context, version int) {
	c.Response().Header().Set("ETag", `"`+strconv.Itoa(version)+`"`)
}

// ifMatch reads If-Match: the version it names, and whether it names one
// (absent and "*" name none). A value that is not one quoted version is
// answered 400 here and ok is false. min is the lowest version there can
// be: 1 for rows, 0 (no terms yet) for terms.
func ifMatch(c echo.Context, min int) (version int, given, ok bool, err error) {
	h := strings.TrimSpace(c.Request().Header.Get("If-Match"))
	if h == "" || h == "*" {
		return 0, false, true, nil
	}
	if len(h) >= 2 && h[0] == '"' && h[len(h)-1] == '"' {
		if v, err := strconv.Atoi(h[1 : len(h)-1]); err == nil && v >= min && strconv.Itoa(v) == h[1:len(h)-1] {
			return v, true, true, nil
		}
	}
	return 0, false, false, badRequest(c, `If-Match must be one quoted version as an ETag gives it (e.g. "3"), or *`)
}

// stale answers a change refused by its If-Match: 412 naming the current
// version, which is also the answer's ETag. ok is false when err is not
// a stale refusal.
func stale(c echo.Context, err error) (bool, error) {
	var se *catalog.StaleError
	if !errors.As(err, &se) {
		return false, nil
	}
	setETag(c, se.Current)
	return true, fail(c, http.StatusPreconditionFailed, "precondition_failed",
		se.Error()+"; nothing was changed: read it again (ETag \""+strconv.Itoa(se.Current)+"\") and retry")
}
