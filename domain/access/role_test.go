package access

import (
	"fmt"
	"reflect"
	"testing"
)

func TestParseRole(t *testing.T) {
	for _, r := range Roles {
		if got, err := ParseRole(string(r)); err != nil || got != r {
			t.Errorf("ParseRole(%q) = %q, %v", r, got, err)
		}
	}
	for _, s := range []string{"", "Admin", "root", "country-manager", " admin"} {
		if _, err := ParseRole(s); err == nil {
			t.Errorf("ParseRole(%q) succeeded", s)
		}
	}
}

// TestPermissions checks every role against every action. Columns:
// admin, country manager of DE+FR, country manager with no country,
// partner a, partner with no id, finance, service, no role, unknown role.
func TestPermissions(t *testing.T) {
	principals := []Principal{
		{Role: RoleAdmin},
		{Role: RoleCountryManager, Countries: []string{"DE", "FR"}},
		{Role: RoleCountryManager},
		{Role: RolePartner, Partner: "a"},
		{Role: RolePartner},
		{Role: RoleFinance},
		{Role: RoleService},
		{},
		{Role: "root", Countries: []string{"DE"}, Partner: "a"},
	}
	const (
		T = true
		F = false
	)
	actions := []struct {
		name string
		fn   func(Principal) bool
		want [9]bool
	}{
		{"read country DE", func(p Principal) bool { return p.CanReadCountry("DE") }, [9]bool{T, T, F, F, F, T, F, F, F}},
		{"read country IT", func(p Principal) bool { return p.CanReadCountry("IT") }, [9]bool{T, F, F, F, F, T, F, F, F}},
		{"read country empty", func(p Principal) bool { return p.CanReadCountry("") }, [9]bool{T, F, F, F, F, T, F, F, F}},
		{"write country FR", func(p Principal) bool { return p.CanWriteCountry("FR") }, [9]bool{T, T, F, F, F, F, F, F, F}},
		{"write country IT", func(p Principal) bool { return p.CanWriteCountry("IT") }, [9]bool{T, F, F, F, F, F, F, F, F}},
		{"read partner a", func(p Principal) bool { return p.CanReadPartner("a") }, [9]bool{T, T, T, T, F, T, F, F, F}},
		{"read partner b", func(p Principal) bool { return p.CanReadPartner("b") }, [9]bool{T, T, T, F, F, T, F, F, F}},
		{"read partner empty", func(p Principal) bool { return p.CanReadPartner("") }, [9]bool{T, T, T, F, F, T, F, F, F}},
		{"write partner", Principal.CanWritePartner, [9]bool{T, T, F, F, F, F, F, F, F}},
		{"read partnership DE/a", func(p Principal) bool { return p.CanReadPartnership("DE", "a") }, [9]bool{T, T, F, T, F, T, F, F, F}},
		{"read partnership DE/b", func(p Principal) bool { return p.CanReadPartnership("DE", "b") }, [9]bool{T, T, F, F, F, T, F, F, F}},
		{"read partnership IT/a", func(p Principal) bool { return p.CanReadPartnership("IT", "a") }, [9]bool{T, F, F, T, F, T, F, F, F}},
		{"read partnership IT/b", func(p Principal) bool { return p.CanReadPartnership("IT", "b") }, [9]bool{T, F, F, F, F, T, F, F, F}},
		{"write partnership DE", func(p Principal) bool { return p.CanWritePartnership("DE") }, [9]bool{T, T, F, F, F, F, F, F, F}},
		{"write partnership IT", func(p Principal) bool { return p.CanWritePartnership("IT") }, [9]bool{T, F, F, F, F, F, F, F, F}},
		{"create link DE/a allowed", func(p Principal) bool { return p.CanCreateLink("DE", "a", true) }, [9]bool{T, T, F, T, F, F, F, F, F}},
		{"create link DE/a not allowed", func(p Principal) bool { return p.CanCreateLink("DE", "a", false) }, [9]bool{T, T, F, F, F, F, F, F, F}},
		{"create link IT/a allowed", func(p Principal) bool { return p.CanCreateLink("IT", "a", true) }, [9]bool{T, F, F, T, F, F, F, F, F}},
		{"create link IT/b allowed", func(p Principal) bool { return p.CanCreateLink("IT", "b", true) }, [9]bool{T, F, F, F, F, F, F, F, F}},
		{"create link DE/empty allowed", func(p Principal) bool { return p.CanCreateLink("DE", "", true) }, [9]bool{T, T, F, F, F, F, F, F, F}},
		{"change link DE", func(p Principal) bool { return p.CanChangeLink("DE") }, [9]bool{T, T, F, F, F, F, F, F, F}},
		{"change link IT", func(p Principal) bool { return p.CanChangeLink("IT") }, [9]bool{T, F, F, F, F, F, F, F, F}},
		{"read statement DE/a", func(p Principal) bool { return p.CanReadStatement("DE", "a") }, [9]bool{T, T, F, T, F, T, F, F, F}},
		{"read statement IT/b", func(p Principal) bool { return p.CanReadStatement("IT", "b") }, [9]bool{T, F, F, F, F, T, F, F, F}},
		{"read reports", Principal.CanReadReports, [9]bool{T, T, T, T, T, T, F, F, F}},
		{"send conversions", Principal.CanSendConversions, [9]bool{T, F, F, F, F, F, T, F, F}},
		{"manage tokens", Principal.CanManageTokens, [9]bool{T, F, F, F, F, F, F, F, F}},
		{"read audit", Principal.CanReadAudit, [9]bool{T, T, F, F, F, T, F, F, F}},
		{"read insights", Principal.CanReadInsights, [9]bool{T, T, F, F, F, T, F, F, F}},
	}
	for _, a := range actions {
		for i, p := range principals {
			t.Run(fmt.Sprintf("%s/%d-%s", a.name, i, p.Role), func(t *testing.T) {
				if got := a.fn(p); got != a.want[i] {
					t.Errorf("%+v: %s = %v, want %v", p, a.name, got, a.want[i])
				}
			})
		}
	}
}

func TestPrincipalScope(t *testing.T) {
	deny := Scope{Deny: true}
	tests := []struct {
		p    Principal
		want Scope
	}{
		{Principal{Role: RoleAdmin}, Scope{}},
		{Principal{Role: RoleFinance}, Scope{}},
		{Principal{Role: RoleCountryManager, Countries: []string{"DE", "FR"}}, Scope{Countries: []string{"DE", "FR"}}},
		{Principal{Role: RoleCountryManager}, deny},
		{Principal{Role: RoleCountryManager, Countries: []string{}}, deny},
		{Principal{Role: RolePartner, Partner: "a"}, Scope{Partner: "a"}},
		{Principal{Role: RolePartner}, deny},
		{Principal{Role: RoleService}, deny},
		{Principal{}, deny},
		{Principal{Role: "root"}, deny},
	}
	for _, tt := range tests {
		got := tt.p.Scope()
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%+v.Scope() = %+v, want %+v", tt.p, got, tt.want)
		}
	}
	// The scope does not share the principal's slice.
	p := Principal{Role: RoleCountryManager, Countries: []string{"DE"}}
	s := p.Scope()
	s.Countries[0] = "FR"
	if p.Countries[0] != "DE" {
		t.Error("Scope shares the Countries slice with the principal")
	}
}
