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
// mount it where auth.Middleware does not run, e.g.
// e.GET("/v1/openapi.json", api.OpenAPI).
func OpenAPI(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderCacheControl, "no-cache")
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPIDoc)
}
