package api

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/reports"
)

// reportQuery reads a report request's query: the period (from, to,
// default this month to today), granularity, compare, include_bots,
// format, by, and the filters country, partner and partnership, which
// narrow scope (the caller's) and never widen it. Every error is the
// client's: answer it 400. It is apart from the handler so that it can be
// fuzzed without a database.
func reportQuery(q url.Values, scope access.Scope, now time.Time) (par reports.Params, format, by string, err error) {
	now = now.UTC()
	par.From = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	par.To = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	if err := par.ReadDates(q); err != nil {
		return par, "", "", err
	}
	par.Granularity, par.Compare = q.Get("granularity"), q.Get("compare")
	if v := q.Get("include_bots"); v != "" {
		if par.IncludeBots, err = strconv.ParseBool(v); err != nil {
			return par, "", "", errors.New("include_bots must be true or false")
		}
	}
	// The scope comes from the token; filters narrow it.
	if v := q.Get("country"); v != "" {
		var ccs []string
		for _, cc := range strings.Split(v, ",") {
			ccs = append(ccs, strings.ToUpper(strings.TrimSpace(cc)))
		}
		scope = scope.WithCountries(ccs...)
	}
	if v := strings.TrimSpace(q.Get("partner")); v != "" {
		scope = scope.WithPartner(v)
	}
	if scope.None() {
		par.Countries = []string{} // nothing: an empty report, not an error
	} else {
		par.Countries, par.Partner = scope.Countries, scope.Partner
	}
	if v := strings.TrimSpace(q.Get("partnership")); v != "" {
		par.Partnerships = []string{v}
	}
	format = q.Get("format")
	switch format {
	case "", reports.FormatJSON, reports.FormatCSV, reports.FormatXLSX:
	default:
		return par, "", "", errors.New("format must be json, csv or xlsx")
	}
	if err := par.Validate(); err != nil {
		return par, "", "", err
	}
	return par, format, q.Get("by"), nil
}
