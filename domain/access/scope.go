package access

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Scope restricts country/partner-keyed rows. It is applied in the SQL that
// reads the data, so no endpoint, filter or export can widen it.
//
// Countries nil means every country, a non-nil empty list none; Partner ""
// means every partner; Deny means no rows at all. Get one from
// Principal.Scope, which denies for unknown roles.
type Scope struct {
	Countries []string
	Partner   string
	Deny      bool
}

// None reports whether the scope can match no row.
func (s Scope) None() bool { return s.Deny || (s.Countries != nil && len(s.Countries) == 0) }

// Unrestricted reports whether the scope matches every row.
func (s Scope) Unrestricted() bool { return !s.None() && s.Countries == nil && s.Partner == "" }

// AllowsCountry reports whether rows of country cc may be read (for a
// partner scope, only its own rows of that country).
func (s Scope) AllowsCountry(cc string) bool {
	return !s.None() && (s.Countries == nil || slices.Contains(s.Countries, cc))
}

// AllowsPartner reports whether rows of partner id may be read.
func (s Scope) AllowsPartner(id string) bool {
	return !s.None() && (s.Partner == "" || s.Partner == id)
}

// Allows reports whether a row with this country and partner is in scope.
func (s Scope) Allows(country, partner string) bool {
	return s.AllowsCountry(country) && s.AllowsPartner(partner)
}

// WithCountries narrows the scope to the countries a request filters on;
// the result is never wider than s. No arguments leave s as it is.
func (s Scope) WithCountries(ccs ...string) Scope {
	if len(ccs) == 0 {
		return s
	}
	out := s
	out.Countries = []string{}
	for _, cc := range ccs {
		if (s.Countries == nil || slices.Contains(s.Countries, cc)) && !slices.Contains(out.Countries, cc) {
			out.Countries = append(out.Countries, cc)
		}
	}
	return out
}

// WithPartner narrows the scope to one partner; "" leaves s as it is.
func (s Scope) WithPartner(id string) Scope {
	if id == "" {
		return s
	}
	out := s
	out.Countries = slices.Clone(s.Countries)
	if s.Partner != "" && s.Partner != id {
		out.Deny = true
	}
	out.Partner = id
	return out
}

// countryCode reports whether cc can be a stored country: two upper-case
// letters. Anything else matches no row (and would make 18.16 refuse the
// query when compared with a FixedString(2) column).
func countryCode(cc string) bool {
	return len(cc) == 2 && cc[0] >= 'A' && cc[0] <= 'Z' && cc[1] >= 'A' && cc[1] <= 'Z'
}

var columnRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

// Where returns a SQL condition limiting rows to the scope, for tables
// whose country and partner are in the named columns, and the values to
// bind to its '?' placeholders, in order. It is "1" when unrestricted and
// "0" when nothing is allowed; a listed value that is not two upper-case
// letters matches nothing. A column given as "" means the table has
// none: a scope restricted on that dimension then matches nothing.
//
// Countries become one placeholder each ("country IN (?, ?)") rather than
// one bound slice: on 18.16 a slice binds as an array literal, and an IN
// list of constants uses the primary key. Column names are code, not
// input; an invalid one panics.
func (s Scope) Where(countryCol, partnerCol string) (clause string, args []any) {
	for _, c := range []string{countryCol, partnerCol} {
		if c != "" && !columnRe.MatchString(c) {
			panic(fmt.Sprintf("auth: Scope.Where: column %q is not an identifier", c))
		}
	}
	if s.None() {
		return "0", nil
	}
	var conds []string
	if s.Countries != nil {
		for _, cc := range s.Countries {
			if countryCode(cc) {
				args = append(args, cc)
			}
		}
		if countryCol == "" || len(args) == 0 {
			return "0", nil
		}
		ph := strings.TrimSuffix(strings.Repeat("?, ", len(args)), ", ")
		conds = append(conds, countryCol+" IN ("+ph+")")
	}
	if s.Partner != "" {
		if partnerCol == "" {
			return "0", nil
		}
		conds = append(conds, partnerCol+" = ?")
		args = append(args, s.Partner)
	}
	if len(conds) == 0 {
		return "1", nil
	}
	return "(" + strings.Join(conds, " AND ") + ")", args
}
