// Package authtest gives tests one token per kind of reader, so API and
// dashboard tests check scope against the same cast.
package authtest

import (
	"context"
	"testing"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/http/auth"
)

// Specs is the cast: an admin, finance, a country manager of DE and one of
// FR, the partners alpha and bravo, and a service token.
func Specs() map[string]auth.Spec {
	return map[string]auth.Spec{
		"admin":     {Role: access.RoleAdmin},
		"finance":   {Role: access.RoleFinance},
		"cm-de":     {Role: access.RoleCountryManager, Countries: []string{"DE"}},
		"cm-fr":     {Role: access.RoleCountryManager, Countries: []string{"FR"}},
		"partner-a": {Role: access.RolePartner, Partner: "alpha"},
		"partner-b": {Role: access.RolePartner, Partner: "bravo"},
		"service":   {Role: access.RoleService},
	}
}

// Create stores a token for each of Specs, named after it, and returns
// the tokens and their ids by name.
func Create(ctx context.Context, t testing.TB, ts *auth.Store) (tokens, ids map[string]string) {
	t.Helper()
	tokens, ids = map[string]string{}, map[string]string{}
	for name, spec := range Specs() {
		spec.Name, spec.CreatedBy = name, "test"
		tok, rec, err := ts.Create(ctx, spec)
		if err != nil {
			t.Fatalf("authtest: create %s: %v", name, err)
		}
		tokens[name], ids[name] = tok, rec.ID
	}
	return tokens, ids
}
