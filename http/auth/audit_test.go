package auth

import (
	"testing"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/domain/catalog"
)

func TestAuditEntry(t *testing.T) {
	before := Token{ID: "abcdefghijkm", Role: access.RoleAdmin, Name: "ops"}
	after := before
	after.RevokedBy = "cli:me"
	e, err := AuditEntry("cli:me", catalog.ActionRevoke, &before, after)
	if err != nil {
		t.Fatal(err)
	}
	if e.Actor != "cli:me" || e.Action != catalog.ActionRevoke || e.Entity != catalog.EntityToken || e.EntityID != "abcdefghijkm" || e.Country != "" {
		t.Errorf("entry = %+v", e)
	}
	if e.Before == "" || e.After == e.Before {
		t.Errorf("before %q, after %q: want both records, different", e.Before, e.After)
	}
	if e, _ := AuditEntry("a", catalog.ActionCreate, nil, after); e.Before != "" {
		t.Errorf("a creation has no before: %q", e.Before)
	}
}
