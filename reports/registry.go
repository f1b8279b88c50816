// Package reports computes the reports from ClickHouse: partnerships,
// balance, breakdown, overlaps, capture quality and visitors by country,
// each a Table, served by name from Registry.
package reports

import (
	"context"
	"maps"
	"slices"
)

// Runner computes one report. by is the breakdown dimension (only the
// breakdown report reads it).
type Runner func(ctx context.Context, env *Env, p Params, by string) (*Table, error)

// Report describes one report the API and the CLI serve by name.
type Report struct {
	Summary string
	Run     Runner
}

// ignoringBy makes a Runner of a report that splits by no dimension.
func ignoringBy(run func(context.Context, *Env, Params) (*Table, error)) Runner {
	return func(ctx context.Context, env *Env, p Params, _ string) (*Table, error) {
		return run(ctx, env, p)
	}
}

// Registry holds every report by name.
var Registry = map[string]Report{
	"partnerships": {"per partnership, country, direction and period: views, clicks, unique visitors, new and returning users, conversions, revenue, rates", ignoringBy(PartnershipsReport)},
	"balance":      {"per partnership and country: users and revenue received (inbound) against given (outbound), net, ratio, targets and who falls behind", ignoringBy(BalanceReport)},
	"overlaps":     {"users claimed by more than one partnership in a country, and who won", ignoringBy(OverlapsReport)},
	"breakdown":    {"one partnership (--partnership) by link, campaign, sub, device, referrer or day (--by)", BreakdownReport},
	"quality":      {"capture quality per partner and country: rejected hits by reason, bots, duplicate conversions, ingest lag", ignoringBy(QualityReport)},
	"visitors":     {"per partnership and visitor country (by IP), from the raw hits: clicks, exact unique visitors, views", ignoringBy(VisitorsReport)},
}

// Names lists the reports, sorted.
func Names() []string {
	return slices.Sorted(maps.Keys(Registry))
}

// ParamError is a request's mistake (an unknown dimension, say): the API
// answers it 400.
type ParamError struct{ Reason string }

func (e *ParamError) Error() string { return e.Reason }
