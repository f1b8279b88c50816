package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/http/view"
)

func (s *Server) view(c echo.Context, snap *catalog.Snapshot, l catalog.Link) view.LinkView {
	return view.Link(view.TrackingBase(s.TrackingBase, c), snap, l)
}

func (s *Server) listLinks(c echo.Context) error {
	req, ok, err := listRequest(c, true)
	if !ok {
		return err
	}
	psID := strings.TrimSpace(c.QueryParam("partnership"))
	status := strings.TrimSpace(c.QueryParam("status"))
	switch status {
	case "", catalog.StatusActive, catalog.StatusPaused, catalog.StatusArchived:
	default:
		return badRequest(c, "status must be active, paused or archived")
	}
	direction := strings.TrimSpace(c.QueryParam("direction"))
	switch direction {
	case "", vocab.Inbound, vocab.Outbound:
	default:
		return badRequest(c, "direction must be inbound or outbound")
	}
	campaign := c.QueryParam("campaign")
	snap, err := s.visible(c.Request().Context(), req.p)
	if err != nil {
		return s.internal(c, "list links", err)
	}
	all := []view.LinkView{}
	for _, l := range snap.Links.All() {
		ps := snap.Partnerships[l.Partnership]
		if !req.scope.Allows(ps.Country, ps.Partner) {
			continue
		}
		if (psID != "" && l.Partnership != psID) || (status != "" && l.Status != status) ||
			(direction != "" && l.Direction != direction) || (campaign != "" && l.Campaign != campaign) {
			continue
		}
		all = append(all, s.view(c, snap, l))
	}
	slices.SortFunc(all, func(a, b view.LinkView) int { return strings.Compare(a.Code, b.Code) })
	return c.JSON(http.StatusOK, paginate(all, req))
}

// link finds the link named by :code for a caller whose role may
// (readsCatalog, or a write role, which reads the catalog too) and who may
// read it, with the part of the catalog the caller sees; otherwise it
// answers (401, 403 for the role, else 404) and ok is false.
func (s *Server) link(c echo.Context, may func(access.Principal) bool) (access.Principal, *catalog.Snapshot, catalog.Link, bool, error) {
	p, ok, err := caller(c, may)
	if !ok {
		return p, nil, catalog.Link{}, false, err
	}
	code := c.Param("code")
	if !catalog.ValidCode(code) {
		return p, nil, catalog.Link{}, false, notFound(c, "link")
	}
	snap, err := s.visible(c.Request().Context(), p)
	if err != nil {
		return p, nil, catalog.Link{}, false, s.internal(c, "get link", err)
	}
	l, found := snap.Links.Get(code)
	if !found {
		return p, nil, catalog.Link{}, false, notFound(c, "link")
	}
	return p, snap, l, true, nil
}

func (s *Server) getLink(c echo.Context) error {
	_, snap, l, ok, err := s.link(c, readsCatalog)
	if !ok {
		return err
	}
	setETag(c, l.Version)
	return c.JSON(http.StatusOK, s.view(c, snap, l))
}

// LinkRequest is the body of POST /links. Code is optional (a short code
// is generated); ExpiresAt accepts a date or an RFC 3339 time.
type LinkRequest struct {
	Code        string    `json:"code"`
	Partnership string    `json:"partnership"`
	Direction   string    `json:"direction"`
	URL         string    `json:"url"`
	Campaign    string    `json:"campaign"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// linkDates accepts expires_at as "YYYY-MM-DD" (midnight UTC) or RFC 3339,
// and "" or null as "no expiry".
func linkDates(raw map[string]json.RawMessage) (string, string) {
	v, ok := raw["expires_at"]
	if !ok {
		return "", ""
	}
	var str string
	if string(v) == "null" {
		str = ""
	} else if err := json.Unmarshal(v, &str); err != nil {
		return "expires_at", "must be a date (YYYY-MM-DD) or an RFC 3339 time"
	}
	var t time.Time
	if str != "" {
		var err error
		if t, err = dateOrTime(str); err != nil {
			return "expires_at", "must be a date (YYYY-MM-DD) or an RFC 3339 time"
		}
	}
	raw["expires_at"], _ = json.Marshal(t.UTC())
	return "", ""
}

func (s *Server) createLink(c echo.Context) error {
	p, req, ok, err := createRequest[LinkRequest](c, readsCatalog, linkDates)
	if !ok {
		return err
	}
	ctx := c.Request().Context()
	snap, err := s.visible(ctx, p)
	if err != nil {
		return s.internal(c, "create link", err)
	}
	ps, found := snap.Partnerships[req.Partnership]
	if !found {
		return invalid(c, "partnership", "partnership "+quote(req.Partnership)+" does not exist")
	}
	terms, _ := catalog.TermsInForce(snap.Terms[ps.ID], s.Now())
	if !p.CanCreateLink(ps.Country, ps.Partner, terms.PartnerMayCreateLinks) {
		if p.Role == access.RolePartner {
			return fail(c, http.StatusForbidden, "forbidden", "the agreement does not allow partner-made links")
		}
		return forbidden(c, p)
	}
	// A new link that has already expired is a mistake (a typo in the
	// year): it would only ever send clicks to the fallback. Ending a link
	// early is PATCH's job.
	if now := s.Now(); !req.ExpiresAt.IsZero() && !req.ExpiresAt.After(now) {
		return invalid(c, "expires_at", req.ExpiresAt.UTC().Format(time.RFC3339)+" is not in the future (now "+now.UTC().Format(time.RFC3339)+")")
	}
	l, err := s.cat.AddLink(ctx, catalog.Link{
		Code: req.Code, Partnership: req.Partnership, Direction: req.Direction,
		URL: req.URL, Campaign: req.Campaign, ExpiresAt: req.ExpiresAt,
	}, p.Actor())
	if err != nil {
		return s.writeError(c, "create link", "code", err)
	}
	snap.Links.Set(l.Code, l)
	s.logChange(c, p, "link created", l.Code)
	return c.JSON(http.StatusCreated, s.view(c, snap, l))
}

func (s *Server) updateLink(c echo.Context) error {
	// Partners, finance and services never change links.
	p, snap, l, ok, err := s.link(c, access.Principal.WritesPartnerships)
	if !ok {
		return err
	}
	if !p.CanChangeLink(snap.Partnerships[l.Partnership].Country) {
		return forbidden(c, p)
	}
	var ch catalog.LinkChange
	if ok, err := decodeBody(c, &ch, linkDates); !ok {
		return err
	}
	if ch.IfVersion, _, ok, err = ifMatch(c, 1); !ok {
		return err
	}
	got, err := s.cat.UpdateLink(c.Request().Context(), l.Code, ch, p.Actor())
	if err != nil {
		return s.writeError(c, "update link", "code", err)
	}
	s.logChange(c, p, "link updated", l.Code)
	setETag(c, got.Version)
	return c.JSON(http.StatusOK, s.view(c, snap, got))
}

// linkQR answers the tracking URL as a QR code PNG, ?size= pixels square.
func (s *Server) linkQR(c echo.Context) error {
	_, snap, l, ok, err := s.link(c, readsCatalog)
	if !ok {
		return err
	}
	size := view.DefaultQRSize
	if v := c.QueryParam("size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < view.MinQRSize || n > view.MaxQRSize {
			return badRequest(c, "size must be an integer from "+strconv.Itoa(view.MinQRSize)+" to "+strconv.Itoa(view.MaxQRSize))
		}
		size = n
	}
	png, err := qrcode.Encode(s.view(c, snap, l).TrackingURL, qrcode.Medium, size)
	if err != nil {
		return s.internal(c, "link qr", err)
	}
	c.Response().Header().Set("Content-Disposition", `inline; filename="`+l.Code+`.png"`)
	return c.Blob(http.StatusOK, "image/png", png)
}
