package catalog

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func TestTermsSetters(t *testing.T) {
	var x Terms
	cpa := DecimalSetter(func(t *Terms) *decimal.Decimal { return &t.InboundCPA })
	days := DaysSetter(func(t *Terms) *uint16 { return &t.AttributionWindowDays })
	users := UsersSetter(func(t *Terms) *uint32 { return &t.TargetInboundUsersMonth })
	status := StringSetter(func(t *Terms) *string { return &t.Status })
	end := DateSetter(func(t *Terms) *time.Time { return &t.EndDate }, true)
	start := DateSetter(func(t *Terms) *time.Time { return &t.StartDate }, false)
	for _, err := range []error{cpa(&x, " 12.5 "), days(&x, "45"), users(&x, "100"), status(&x, " paused "), end(&x, "2026-12-31"), start(&x, "2026-01-01")} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if !x.InboundCPA.Equal(decimal.RequireFromString("12.5")) || x.AttributionWindowDays != 45 || x.TargetInboundUsersMonth != 100 ||
		x.Status != "paused" || x.EndDate.Format(time.DateOnly) != "2026-12-31" || x.StartDate.Format(time.DateOnly) != "2026-01-01" {
		t.Errorf("terms = %+v", x)
	}
	if err := end(&x, " "); err != nil || !x.EndDate.IsZero() {
		t.Errorf("blank end date: %v, %v", err, x.EndDate)
	}
	for name, err := range map[string]error{"cpa": cpa(&x, "ten"), "days": days(&x, "70000"), "users": users(&x, "-1"), "start": start(&x, "")} {
		if err == nil {
			t.Errorf("%s: bad text accepted", name)
		}
	}
	if err := cpa(&x, "ten"); err == nil || err.Error() != `"ten" is not a decimal number` {
		t.Errorf("cpa error %v", err)
	}
}
