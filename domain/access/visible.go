package access

import (
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/lib/cowmap"
)

// Visible returns the partners, partnerships (with their terms) and links
// of full that p may read. Every face reads the catalog through it, so a
// handler, a form or a filter cannot show p what p may not see.
func Visible(p Principal, full *catalog.Snapshot) *catalog.Snapshot {
	out := &catalog.Snapshot{
		Partners: map[string]catalog.Partner{}, Partnerships: map[string]catalog.Partnership{},
		Links: cowmap.New[catalog.Link](), Terms: map[string][]catalog.Terms{}, LoadedAt: full.LoadedAt,
	}
	for id, ps := range full.Partnerships {
		if PartnershipVisible(p, ps) {
			out.Partnerships[id] = ps
			if ts, ok := full.Terms[id]; ok {
				out.Terms[id] = ts
			}
		}
	}
	for id, pt := range full.Partners {
		if partnerVisible(p, full, id) {
			out.Partners[id] = pt
		}
	}
	for code, l := range full.Links.All() {
		if _, ok := out.Partnerships[l.Partnership]; ok {
			out.Links.Set(code, l)
		}
	}
	return out
}

// PartnershipVisible reports whether p may read ps: its role may read the
// partnership and it is within p's scope.
func PartnershipVisible(p Principal, ps catalog.Partnership) bool {
	return p.CanReadPartnership(ps.Country, ps.Partner) && p.Scope().Allows(ps.Country, ps.Partner)
}

// partnerVisible: admin and finance see every partner; a country manager
// those filed under or with a partnership in its countries; a partner only
// itself.
func partnerVisible(p Principal, snap *catalog.Snapshot, id string) bool {
	if _, ok := snap.Partners[id]; !ok || !p.CanReadPartner(id) {
		return false
	}
	switch p.Role {
	case RoleAdmin, RoleFinance, RolePartner:
		return true
	case RoleCountryManager:
		for _, cc := range snap.Partners[id].Countries {
			if p.CanReadCountry(cc) {
				return true // filed under its countries (it created it)
			}
		}
		for _, ps := range snap.Partnerships {
			if ps.Partner == id && p.CanReadPartnership(ps.Country, ps.Partner) {
				return true
			}
		}
	}
	return false
}
