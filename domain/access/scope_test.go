package access

import (
	"reflect"
	"testing"
)

func TestScopeWhere(t *testing.T) {
	tests := []struct {
		name       string
		s          Scope
		cCol, pCol string
		clause     string
		args       []any
	}{
		{"all", Scope{}, "country", "partner", "1", nil},
		{"all, no columns", Scope{}, "", "", "1", nil},
		{"deny", Scope{Deny: true}, "country", "partner", "0", nil},
		{"deny wins over filters", Scope{Deny: true, Countries: []string{"DE"}}, "country", "partner", "0", nil},
		{"empty countries", Scope{Countries: []string{}}, "country", "partner", "0", nil},
		{"one country", Scope{Countries: []string{"DE"}}, "country", "partner", "(country IN (?))", []any{"DE"}},
		{"two countries", Scope{Countries: []string{"DE", "FR"}}, "p.country", "p.partner", "(p.country IN (?, ?))", []any{"DE", "FR"}},
		{"partner", Scope{Partner: "a"}, "country", "partner", "(partner = ?)", []any{"a"}},
		{"both", Scope{Countries: []string{"DE"}, Partner: "a"}, "country", "partner_id", "(country IN (?) AND partner_id = ?)", []any{"DE", "a"}},
		{"countries, table without country", Scope{Countries: []string{"DE"}}, "", "partner", "0", nil},
		{"partner, table without partner", Scope{Partner: "a"}, "country", "", "0", nil},
		{"partner, table without country", Scope{Partner: "a"}, "", "partner", "(partner = ?)", []any{"a"}},
		{"hostile partner stays bound", Scope{Countries: []string{"DE"}, Partner: "a' OR '1'='1"}, "country", "partner", "(country IN (?) AND partner = ?)", []any{"DE", "a' OR '1'='1"}},
		{"non-country values match nothing", Scope{Countries: []string{"DE') OR 1=1 --", "de", "D"}}, "country", "partner", "0", nil},
		{"non-country values dropped", Scope{Countries: []string{"DEU", "FR"}}, "country", "partner", "(country IN (?))", []any{"FR"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clause, args := tt.s.Where(tt.cCol, tt.pCol)
			if clause != tt.clause || !reflect.DeepEqual(args, tt.args) {
				t.Fatalf("Where = %q, %#v; want %q, %#v", clause, args, tt.clause, tt.args)
			}
		})
	}
}

func TestScopeWherePanicsOnBadColumn(t *testing.T) {
	for _, col := range []string{"country; DROP TABLE x", "1country", "a.b.c", "country)", " country"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Where(%q) did not panic", col)
				}
			}()
			Scope{}.Where(col, "partner")
		}()
	}
}

func TestScopeNarrowing(t *testing.T) {
	all := Scope{}
	de := Scope{Countries: []string{"DE"}}
	a := Scope{Partner: "a"}
	tests := []struct {
		name    string
		got     Scope
		allowed [][2]string // country, partner pairs that must pass
		refused [][2]string
	}{
		{"all narrowed to FR", all.WithCountries("FR"), [][2]string{{"FR", "x"}}, [][2]string{{"DE", "x"}}},
		{"DE narrowed to DE,FR stays DE", de.WithCountries("DE", "FR"), [][2]string{{"DE", "x"}}, [][2]string{{"FR", "x"}}},
		{"DE narrowed to FR is empty", de.WithCountries("FR"), nil, [][2]string{{"FR", "x"}, {"DE", "x"}}},
		{"DE, no filter", de.WithCountries(), [][2]string{{"DE", "x"}}, [][2]string{{"FR", "x"}}},
		{"partner a narrowed to b is empty", a.WithPartner("b"), nil, [][2]string{{"DE", "a"}, {"DE", "b"}}},
		{"partner a narrowed to a", a.WithPartner("a"), [][2]string{{"DE", "a"}}, [][2]string{{"DE", "b"}}},
		{"partner a narrowed to DE", a.WithCountries("DE"), [][2]string{{"DE", "a"}}, [][2]string{{"FR", "a"}, {"DE", "b"}}},
		{"all narrowed to partner b", all.WithPartner("b"), [][2]string{{"IT", "b"}}, [][2]string{{"IT", "a"}}},
		{"deny narrowed stays deny", Scope{Deny: true}.WithCountries("DE").WithPartner("a"), nil, [][2]string{{"DE", "a"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range tt.allowed {
				if !tt.got.Allows(r[0], r[1]) {
					t.Errorf("%+v refuses %v", tt.got, r)
				}
			}
			for _, r := range tt.refused {
				if tt.got.Allows(r[0], r[1]) {
					t.Errorf("%+v allows %v", tt.got, r)
				}
			}
			if len(tt.allowed) == 0 {
				if c, _ := tt.got.Where("country", "partner"); c != "0" {
					t.Errorf("empty scope %+v: Where = %q, want 0", tt.got, c)
				}
			}
		})
	}
	if !all.Unrestricted() || de.Unrestricted() || a.Unrestricted() || (Scope{Deny: true}).Unrestricted() {
		t.Error("Unrestricted is wrong")
	}
	// Narrowing never changes the original.
	_ = de.WithCountries("FR")
	if !reflect.DeepEqual(de.Countries, []string{"DE"}) {
		t.Errorf("WithCountries changed the original: %v", de.Countries)
	}
}
