package api

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// openAPIDoc is the OpenAPI 3.0 description of every route Register
// mounts, written by hand; openapi_test.go keeps it in step with the
// routes and the Go types.
//
//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI answers the OpenAPI document of the API. It needs no token:
// mount it where auth.Middleware does not run, e.g. with MountOpenAPI.
func OpenAPI(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderCacheControl, "no-cache")
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPIDoc)
}

// MountOpenAPI serves OpenAPI at path on e (normally "/v1/openapi.json",
// outside the authenticated group); other methods answer 405 with Allow.
func MountOpenAPI(e *echo.Echo, path string) {
	r := newRoutes(e)
	r.add(http.MethodGet, path, OpenAPI)
	r.refuseOthers()
}
