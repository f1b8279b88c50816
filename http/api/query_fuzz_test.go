package api

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/reports"
)

// FuzzReportQuery: whatever the query string of GET /reports/:name, the
// parameters are either refused with a one-line reason or valid, and the
// filters never widen the caller's scope: a country manager gets its own
// countries at most, a partner its own rows or nothing.
func FuzzReportQuery(f *testing.F) {
	for _, s := range []string{
		"", "from=2026-10-01&to=2026-10-31&granularity=day&country=DE,FR&format=csv",
		"country=%27%20OR%201%3D1%20--&partner=x%27%3B%20DROP%20TABLE%20hits", "from=2026-13-01", "to=1900-01-01",
		"granularity=hour&compare=year", "include_bots=maybe", "partner=bravo&country=de", "country=,,,&partnership=%00",
		"from=2020-01-01&to=2026-01-01", "format=xml%0d%0aX:y", "by=link&country=%E2%80%AEDE",
	} {
		for role := range 3 {
			f.Add(s, uint8(role))
		}
	}
	now := time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC)
	scopes := []access.Scope{
		access.Principal{Role: access.RoleAdmin}.Scope(),
		access.Principal{Role: access.RoleCountryManager, Countries: []string{"DE", "AT"}}.Scope(),
		access.Principal{Role: access.RolePartner, Partner: "alpha"}.Scope(),
	}
	f.Fuzz(func(t *testing.T, raw string, role uint8) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return // echo reads what parses; the rest is dropped as by url.ParseQuery
		}
		scope := scopes[int(role)%len(scopes)]
		par, format, _, err := reportQuery(q, scope, now)
		if err != nil {
			if msg := err.Error(); msg == "" || strings.ContainsFunc(msg, unicode.IsControl) {
				t.Fatalf("%q: refusal %q is not one clean line", raw, msg)
			}
			return
		}
		if err := par.Validate(); err != nil {
			t.Fatalf("%q: accepted invalid parameters: %v", raw, err)
		}
		if par.To.Before(par.From) || par.To.Sub(par.From) > reports.MaxPeriod {
			t.Fatalf("%q: period %v..%v", raw, par.From, par.To)
		}
		if format != "" && format != reports.FormatJSON && format != reports.FormatCSV {
			t.Fatalf("%q: format %q", raw, format)
		}
		for _, cc := range par.Countries {
			if catalog.ValidCountry("country", cc) != nil {
				t.Fatalf("%q: country %q", raw, cc)
			}
		}
		if scope.Countries != nil {
			if par.Countries == nil {
				t.Fatalf("%q: a country manager's report is not limited to countries", raw)
			}
			for _, cc := range par.Countries {
				if !slices.Contains(scope.Countries, cc) {
					t.Fatalf("%q: country %s outside the scope %v", raw, cc, scope.Countries)
				}
			}
		}
		if scope.Partner != "" && par.Partner != scope.Partner && (par.Countries == nil || len(par.Countries) > 0) {
			t.Fatalf("%q: partner %q reads partner %q's report", raw, scope.Partner, par.Partner)
		}
	})
}
