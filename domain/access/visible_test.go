package access

import (
	"slices"
	"testing"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/lib/cowmap"
)

// TestVisible: each reader's part of the catalog. Partner "solo" is filed
// under DE with no partnership; "alpha" runs ps-de in DE, "bravo" ps-fr
// in FR.
func TestVisible(t *testing.T) {
	full := &catalog.Snapshot{
		Partners: map[string]catalog.Partner{
			"alpha": {ID: "alpha"}, "bravo": {ID: "bravo"}, "solo": {ID: "solo", Countries: []string{"DE"}},
		},
		Partnerships: map[string]catalog.Partnership{
			"ps-de": {ID: "ps-de", Country: "DE", Partner: "alpha"},
			"ps-fr": {ID: "ps-fr", Country: "FR", Partner: "bravo"},
		},
		Links: linksOf(catalog.Link{Code: "de-in", Partnership: "ps-de"}, catalog.Link{Code: "fr-in", Partnership: "ps-fr"}),
		Terms: map[string][]catalog.Terms{"ps-de": {{}}, "ps-fr": {{}}},
	}
	for _, tc := range []struct {
		name                string
		p                   Principal
		partners, ps, links []string
	}{
		{"admin", Principal{Role: RoleAdmin}, []string{"alpha", "bravo", "solo"}, []string{"ps-de", "ps-fr"}, []string{"de-in", "fr-in"}},
		{"finance", Principal{Role: RoleFinance}, []string{"alpha", "bravo", "solo"}, []string{"ps-de", "ps-fr"}, []string{"de-in", "fr-in"}},
		{"cm-de", Principal{Role: RoleCountryManager, Countries: []string{"DE"}}, []string{"alpha", "solo"}, []string{"ps-de"}, []string{"de-in"}},
		{"partner bravo", Principal{Role: RolePartner, Partner: "bravo"}, []string{"bravo"}, []string{"ps-fr"}, []string{"fr-in"}},
		{"service", Principal{Role: RoleService}, nil, nil, nil},
		{"no role", Principal{}, nil, nil, nil},
	} {
		got := Visible(tc.p, full)
		if k := sorted(got.Partners); !slices.Equal(k, tc.partners) {
			t.Errorf("%s: partners %v, want %v", tc.name, k, tc.partners)
		}
		if k := sorted(got.Partnerships); !slices.Equal(k, tc.ps) {
			t.Errorf("%s: partnerships %v, want %v", tc.name, k, tc.ps)
		}
		if k := sorted(got.Terms); !slices.Equal(k, tc.ps) {
			t.Errorf("%s: terms of %v, want %v", tc.name, k, tc.ps)
		}
		if k := got.Links.Keys(); !slices.Equal(k, tc.links) {
			t.Errorf("%s: links %v, want %v", tc.name, k, tc.links)
		}
	}
}

func sorted[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func linksOf(ls ...catalog.Link) *cowmap.Map[catalog.Link] {
	m := cowmap.New[catalog.Link]()
	for _, l := range ls {
		m.Set(l.Code, l)
	}
	return m
}
