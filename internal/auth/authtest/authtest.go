// Package authtest gives tests one token per kind of reader, so API and
// dashboard tests check scope against the same cast.
package authtest

import (
	"context"
	"testing"

	"github.com/xpromo/xpromo/internal/auth"
)

// Specs is the cast: an admin, finance, a country manager of DE and one of
// FR, the partners alpha and bravo, and a service token.
func Specs() map[string]auth.Spec {
	return map[string]auth.Spec{
		"admin":     {Role: auth.RoleAdmin},
		"finance":   {Role: auth.RoleFinance},
		"cm-de":     {Role: auth.RoleCountryManager, Countries: []string{"DE"}},
		"cm-fr":     {Role: auth.RoleCountryManager, Countries: []string{"FR"}},
		"partner-a": {Role: auth.RolePartner, Partner: "alpha"},
		"partner-b": {Role: auth.RolePartner, Partner: "bravo"},
		"service":   {Role: auth.RoleService},
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
