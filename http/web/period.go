package web

import (
	"net/url"
	"time"

	"github.com/xpromo/xpromo/reports"
)

// Comparison choices of the period form; "none" is the API's empty compare.
const (
	compareNone    = "none"
	defaultCompare = reports.ComparePrevious
)

// periodForm is the <form id="period">: inclusive dates and the
// comparison, as query parameters.
type periodForm struct {
	From, To, Compare string
	Hidden            map[string]string // other query parameters the page keeps
}

// Query is the form's values, for CSV links.
func (f *periodForm) Query() url.Values {
	v := url.Values{}
	for k, x := range f.Hidden {
		v.Set(k, x)
	}
	v.Set("from", f.From)
	v.Set("to", f.To)
	v.Set("compare", f.Compare)
	return v
}

// period reads from, to and compare as GET /v1/reports/NAME does, with two
// differences: the default is the current month so far in loc (the
// country's zone; the API uses UTC), and compare defaults to previous
// ("none" for no comparison, the API's empty compare).
func period(q url.Values, now time.Time, loc *time.Location) (reports.Params, *periodForm, error) {
	var par reports.Params
	local := now.In(loc)
	par.From = time.Date(local.Year(), local.Month(), 1, 0, 0, 0, 0, time.UTC)
	par.To = time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, time.UTC)
	if err := par.ReadDates(q); err != nil {
		return par, nil, badRequest(err.Error())
	}
	form := &periodForm{From: par.From.Format(time.DateOnly), To: par.To.Format(time.DateOnly), Compare: q.Get("compare")}
	switch form.Compare {
	case "":
		form.Compare = defaultCompare
		par.Compare = defaultCompare
	case compareNone:
	case reports.ComparePrevious, reports.CompareYear:
		par.Compare = form.Compare
	default:
		return par, nil, badRequest("compare must be previous, year or none")
	}
	if err := par.Validate(); err != nil {
		return par, nil, badRequest(err.Error())
	}
	return par, form, nil
}

// days lists the calendar days from-to, inclusive, as YYYY-MM-DD.
func days(from, to time.Time) []string {
	var out []string
	for d := from; !d.After(to) && len(out) <= 3*366; d = d.AddDate(0, 0, 1) {
		out = append(out, d.Format(time.DateOnly))
	}
	return out
}
