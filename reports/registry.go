// Package reports computes the reports from ClickHouse: partnerships,
// balance, breakdown, overlaps, capture quality and visitors by country,
// each a Table, served by name from Registry.
package reports

import (
	"context"
	"sort"
)

// Runner computes one report. by is the breakdown dimension (only the
// breakdown report reads it).
type Runner func(ctx context.Context, env *Env, p Params, by string) (*Table, error)

// Report describes one report the API and the CLI serve by name.
type Report struct {
	Summary string
	Run     Runner
}

// Registry holds every report by name.
var Registry = map[string]Report{
	"partnerships": {"per partnership, country, direction and period: views, clicks, unique visitors, new and returning users, conversions, revenue, rates",
		func(ctx context.Context, env *Env, p Params, _ string) (*Table, error) {
			return PartnershipsReport(ctx, env, p)
		}},
	"balance": {"per partnership and country: users and revenue received (inbound) against given (outbound), net, ratio, targets and who falls behind",
		func(ctx context.Context, env *Env, p Params, _ string) (*Table, error) {
			return BalanceReport(ctx, env, p)
		}},
	"overlaps": {"users claimed by more than one partnership in a country, and who won",
		func(ctx context.Context, env *Env, p Params, _ string) (*Table, error) {
			return OverlapsReport(ctx, env, p)
		}},
	"breakdown": {"one partnership (--partnership) by link, campaign, sub, device, referrer or day (--by)", BreakdownReport},
	"quality": {"capture quality per partner and country: rejected hits by reason, bots, duplicate conversions, ingest lag",
		func(ctx context.Context, env *Env, p Params, _ string) (*Table, error) {
			return QualityReport(ctx, env, p)
		}},
	"visitors": {"per partnership and visitor country (by IP), from the raw hits: clicks, exact unique visitors, views",
		func(ctx context.Context, env *Env, p Params, _ string) (*Table, error) {
			return VisitorsReport(ctx, env, p)
		}},
}

// Names lists the reports, sorted.
func Names() []string {
	out := make([]string, 0, len(Registry))
	for n := range Registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ParamError is a request's mistake (an unknown dimension, say): the API
// answers it 400.
type ParamError struct{ Reason string }

func (e *ParamError) Error() string { return e.Reason }
