// Package view holds what the HTTP faces show alike, so the JSON API and
// the dashboard present a link the same way from one definition.
package view

import (
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/xpromo/xpromo/domain/catalog"
)

// LinkView is a link as the faces show it: with its country and the
// tracking URL ready to paste.
type LinkView struct {
	catalog.Link
	Country     string `json:"country"`
	TrackingURL string `json:"tracking_url"`
	QRURL       string `json:"qr_url"`
}

// QR code sizes in pixels.
const (
	DefaultQRSize = 256
	MinQRSize     = 64
	MaxQRSize     = 1024
)

// TrackingBase is where tracking URLs point: public, the tracker's public
// base URL (e.g. "https://go.example.com"), or when it is empty the scheme
// and host the request came with.
func TrackingBase(public string, c echo.Context) string {
	if public != "" {
		return strings.TrimRight(public, "/")
	}
	return c.Scheme() + "://" + c.Request().Host
}

// Link shows l, a link of snap, with tracking URLs under base (see
// TrackingBase).
func Link(base string, snap *catalog.Snapshot, l catalog.Link) LinkView {
	return LinkView{
		Link:        l,
		Country:     snap.Partnerships[l.Partnership].Country,
		TrackingURL: base + "/r/" + l.Code,
		QRURL:       "/v1/links/" + l.Code + "/qr.png",
	}
}
