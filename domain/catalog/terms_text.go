package catalog

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// TermsSetter sets one field of a terms version from its text (xpromo
// partnership terms set's flags), or says why the text does not fit the
// field; the error quotes the text and names no field, which the caller
// adds. The dashboard's terms form uses them too, reading a blank number
// as zero and wording its own reasons.
type TermsSetter func(t *Terms, v string) error

// DecimalSetter sets an amount or a percentage: a decimal number.
func DecimalSetter(field func(*Terms) *decimal.Decimal) TermsSetter {
	return func(t *Terms, v string) error {
		d, err := decimal.NewFromString(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not a decimal number", v)
		}
		*field(t) = d
		return nil
	}
}

// DaysSetter sets a window: a whole number of days.
func DaysSetter(field func(*Terms) *uint16) TermsSetter {
	return func(t *Terms, v string) error {
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 16)
		if err != nil {
			return fmt.Errorf("%q: want a whole number of days", v)
		}
		*field(t) = uint16(n)
		return nil
	}
}

// UsersSetter sets a monthly target: a whole number of users, 0 for none.
func UsersSetter(field func(*Terms) *uint32) TermsSetter {
	return func(t *Terms, v string) error {
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
		if err != nil {
			return fmt.Errorf("%q: want a whole number of users (0: no target)", v)
		}
		*field(t) = uint32(n)
		return nil
	}
}

// StringSetter sets a text field, trimmed; Validate judges it.
func StringSetter(field func(*Terms) *string) TermsSetter {
	return func(t *Terms, v string) error {
		*field(t) = strings.TrimSpace(v)
		return nil
	}
}

// DateSetter sets a date, YYYY-MM-DD; when empty is true, blank text
// sets the zero date (open-ended).
func DateSetter(field func(*Terms) *time.Time, empty bool) TermsSetter {
	return func(t *Terms, v string) error {
		if empty && strings.TrimSpace(v) == "" {
			*field(t) = time.Time{}
			return nil
		}
		d, err := time.Parse(time.DateOnly, strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q: want YYYY-MM-DD", v)
		}
		*field(t) = d
		return nil
	}
}
