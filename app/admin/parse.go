package admin

// The text of flags as the catalog takes it. A value that does not parse
// is a *catalog.FieldError named after its flag, which the command line
// shows as "--name: ...".

import (
	"fmt"
	"strings"
	"time"

	"github.com/xpromo/xpromo/domain/catalog"
)

// badValue is the error of the value of flag name that does not parse.
func badValue(name, format string, args ...any) error {
	return &catalog.FieldError{Field: name, Reason: fmt.Sprintf(format, args...)}
}

// SplitList splits a comma-separated value; "" is the empty list.
func SplitList(v string) []string {
	out := []string{}
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// ParseDay parses the YYYY-MM-DD value of flag name as that day's UTC
// midnight.
func ParseDay(name, v string) (time.Time, error) {
	d, err := time.Parse(time.DateOnly, strings.TrimSpace(v))
	if err != nil {
		return time.Time{}, badValue(name, "%q: want YYYY-MM-DD", v)
	}
	return d, nil
}

// ParseTime parses the value of flag name that is a UTC day (YYYY-MM-DD,
// its midnight) or an RFC 3339 time; day reports the former.
func ParseTime(name, v string) (t time.Time, day bool, err error) {
	v = strings.TrimSpace(v)
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, true, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), false, nil
	}
	return time.Time{}, false, badValue(name, "%q: want YYYY-MM-DD (UTC) or an RFC 3339 time such as 2026-01-31T18:00:00Z", v)
}

// AuditPeriod sets filt's period from --from and --to (either may be
// empty): UTC days, both included, or RFC 3339 times, --to excluded; and
// checks its limit.
func AuditPeriod(filt *catalog.AuditFilter, from, to string) (err error) {
	if filt.Limit < 1 || filt.Limit > catalog.MaxAuditLimit {
		return badValue("limit", "%d must be 1-%d", filt.Limit, catalog.MaxAuditLimit)
	}
	if from != "" {
		if filt.From, _, err = ParseTime("from", from); err != nil {
			return err
		}
	}
	if to != "" {
		var day bool
		if filt.To, day, err = ParseTime("to", to); err != nil {
			return err
		}
		if day {
			filt.To = filt.To.AddDate(0, 0, 1) // the whole day
		}
	}
	if !filt.From.IsZero() && !filt.To.IsZero() && !filt.From.Before(filt.To) {
		return badValue("to", "%s is not after --from %s", to, from)
	}
	return nil
}
