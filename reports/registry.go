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
