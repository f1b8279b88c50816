package access

import (
	"fmt"
	"slices"
	"strings"
)

// Role is what a token may do. The zero Role may do nothing.
type Role string

// The roles. Their permissions are the Can* methods of Principal.
const (
	RoleAdmin          Role = "admin"           // everything
	RoleCountryManager Role = "country_manager" // partnerships, links and reports of its countries
	RolePartner        Role = "partner"         // its own links, results and statements
	RoleFinance        Role = "finance"         // reads everything, statements and exports
	RoleService        Role = "service"         // sends conversions only
)

// Roles lists every role, in a stable order.
var Roles = []Role{RoleAdmin, RoleCountryManager, RolePartner, RoleFinance, RoleService}

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if !r.Valid() {
		return "", fmt.Errorf("role %q: want one of admin, country_manager, partner, finance, service", s)
	}
	return r, nil
}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// Principal is the authenticated caller of a request.
type Principal struct {
	TokenID   string   `json:"token_id"`
	Name      string   `json:"name"`
	Role      Role     `json:"role"`
	Countries []string `json:"countries,omitempty"` // country_manager only
	Partner   string   `json:"partner,omitempty"`   // partner only
}

// Actor names p in the audit log and in created_by: its name, else its
// token.
func (p Principal) Actor() string {
	if strings.TrimSpace(p.Name) != "" {
		return p.Name
	}
	return "token:" + p.TokenID
}

func (p Principal) hasCountry(cc string) bool {
	return cc != "" && slices.Contains(p.Countries, cc)
}

func (p Principal) isPartner(id string) bool {
	return p.Role == RolePartner && p.Partner != "" && id == p.Partner
}

// Every check below names the roles it allows; anything else, including
// an unknown or empty role, is refused.

// CanReadCountry: country-wide data (all partners of a country).
func (p Principal) CanReadCountry(cc string) bool {
	switch p.Role {
	case RoleAdmin, RoleFinance:
		return true
	case RoleCountryManager:
		return p.hasCountry(cc)
	}
	return false
}

// CanWriteCountry: create or change things in a country.
func (p Principal) CanWriteCountry(cc string) bool {
	switch p.Role {
	case RoleAdmin:
		return true
	case RoleCountryManager:
		return p.hasCountry(cc)
	}
	return false
}

// CanReadPartner: a partner's record (name, domains). Country managers see
// the directory, to set up partnerships; a partner sees only itself.
func (p Principal) CanReadPartner(partnerID string) bool {
	switch p.Role {
	case RoleAdmin, RoleFinance, RoleCountryManager:
		return true
	case RolePartner:
		return p.isPartner(partnerID)
	}
	return false
}

// CanWritePartner: create partner records (a country manager's are
// filed under its countries) and change them (a country manager only
// those not shared with other countries; the handler checks that).
func (p Principal) CanWritePartner() bool {
	return p.Role == RoleAdmin || (p.Role == RoleCountryManager && len(p.Countries) > 0)
}

// CanReadPartnership: a partnership given its country and partner, with
// its links and results.
func (p Principal) CanReadPartnership(country, partner string) bool {
	switch p.Role {
	case RoleAdmin, RoleFinance:
		return true
	case RoleCountryManager:
		return p.hasCountry(country)
	case RolePartner:
		return p.isPartner(partner)
	}
	return false
}

// WritesPartnerships: the roles that change partnerships and links at
// all; the country is checked per object (CanWritePartnership,
// CanChangeLink).
func (p Principal) WritesPartnerships() bool {
	return p.Role == RoleAdmin || p.Role == RoleCountryManager
}

// CanWritePartnership: create or change a partnership in country.
func (p Principal) CanWritePartnership(country string) bool {
	return p.CanWriteCountry(country)
}

// CanCreateLink: add a link to a partnership. A partner may only when its
// agreement allows partner-made links (partnerMayCreate).
func (p Principal) CanCreateLink(country, partner string, partnerMayCreate bool) bool {
	switch p.Role {
	case RoleAdmin:
		return true
	case RoleCountryManager:
		return p.hasCountry(country)
	case RolePartner:
		return partnerMayCreate && p.isPartner(partner)
	}
	return false
}

// CanChangeLink: change or disable an existing link; partners cannot.
func (p Principal) CanChangeLink(country string) bool {
	return p.CanWriteCountry(country)
}

// CanReadStatement: the statement of one partner in one country.
func (p Principal) CanReadStatement(country, partner string) bool {
	return p.CanReadPartnership(country, partner)
}

// CanReadReports: report and export endpoints; rows are limited by Scope.
func (p Principal) CanReadReports() bool {
	switch p.Role {
	case RoleAdmin, RoleFinance, RoleCountryManager, RolePartner:
		return true
	}
	return false
}

// CanReadInsights: the cross-country results of partners (normalized
// rates, ranks and bands for every country; counts and money only where
// CanReadCountry). Partners and services never see them.
func (p Principal) CanReadInsights() bool { return p.readsOrManages() }

// CanSendConversions: server-to-server conversion capture.
func (p Principal) CanSendConversions() bool {
	return p.Role == RoleService || p.Role == RoleAdmin
}

// CanManageTokens: create, list and revoke tokens.
func (p Principal) CanManageTokens() bool { return p.Role == RoleAdmin }

// CanReadAudit: the audit log; a country manager's is limited to entries
// filed under its countries (AuditFilter.Countries).
func (p Principal) CanReadAudit() bool { return p.readsOrManages() }

// readsOrManages: admin, finance, and a country manager of some country.
func (p Principal) readsOrManages() bool {
	switch p.Role {
	case RoleAdmin, RoleFinance:
		return true
	case RoleCountryManager:
		return len(p.Countries) > 0
	}
	return false
}

// Scope is the set of rows p may read from country/partner-keyed data.
func (p Principal) Scope() Scope {
	switch p.Role {
	case RoleAdmin, RoleFinance:
		return Scope{}
	case RoleCountryManager:
		if len(p.Countries) == 0 {
			return Scope{Deny: true}
		}
		return Scope{Countries: slices.Clone(p.Countries)}
	case RolePartner:
		if p.Partner == "" {
			return Scope{Deny: true}
		}
		return Scope{Partner: p.Partner}
	}
	return Scope{Deny: true}
}
