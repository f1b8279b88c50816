package catalog

import (
	"testing"
	"time"

	"github.com/xpromo/xpromo/testkit/testenv"
)

func TestAuditLog(t *testing.T) {
	db := testenv.Postgres(t)
	ctx := testCtx(t)
	s := NewStore(db.Pool)

	t0 := time.Date(2024, 10, 1, 12, 0, 0, 0, time.UTC) // before the entry stamped with the clock
	entries := []AuditEntry{
		{TS: t0, Actor: "alice", Action: "add", Entity: "partnership", EntityID: "acme-de", Country: "DE", After: `{"id":"acme-de"}`},
		{TS: t0.Add(time.Minute), Actor: "bob", Action: "add", Entity: "partnership", EntityID: "acme-fr", Country: "FR", After: `{"id":"acme-fr"}`},
		{TS: t0.Add(2 * time.Minute), Actor: "alice", Action: "set_terms", Entity: "partnership", EntityID: "acme-de", Country: "DE", Before: `{"v":1}`, After: `{"v":2}`},
		{TS: t0.Add(3 * time.Minute), Actor: "alice", Action: "add", Entity: "partner", EntityID: "acme", After: `{"id":"acme"}`},
		{TS: t0.Add(4*time.Minute + 500*time.Millisecond), ID: "given-id", Actor: "carol", Action: "add", Entity: "link", EntityID: "x1", Country: "DE", After: `{}`},
	}
	for _, e := range entries {
		if err := s.Audit(ctx, e); err != nil {
			t.Fatalf("Audit(%+v): %v", e, err)
		}
	}
	before := time.Now().Add(-time.Second)
	if err := s.Audit(ctx, AuditEntry{Actor: "dave", Action: "add", Entity: "token", EntityID: "t1", After: `{}`}); err != nil {
		t.Fatalf("Audit without TS and ID: %v", err)
	}

	for _, bad := range []struct {
		e     AuditEntry
		field string
	}{
		{AuditEntry{Action: "a", Entity: "e"}, "actor"},
		{AuditEntry{Actor: "a", Entity: "e"}, "action"},
		{AuditEntry{Actor: "a", Action: "a"}, "entity"},
		{AuditEntry{Actor: "a", Action: "a", Entity: "e", After: "{"}, "after"},
		{AuditEntry{Actor: "a", Action: "a", Entity: "e", Before: "nope"}, "before"},
	} {
		wantFieldErr(t, s.Audit(ctx, bad.e), bad.field)
	}

	ids := func(es []AuditEntry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Actor+"/"+e.Action+"/"+e.EntityID)
		}
		return out
	}
	tests := []struct {
		name string
		f    AuditFilter
		want []string
	}{
		{"all, newest first", AuditFilter{}, []string{"dave/add/t1", "carol/add/x1", "alice/add/acme", "alice/set_terms/acme-de", "bob/add/acme-fr", "alice/add/acme-de"}},
		{"entity", AuditFilter{Entity: "partnership"}, []string{"alice/set_terms/acme-de", "bob/add/acme-fr", "alice/add/acme-de"}},
		{"entity and id", AuditFilter{Entity: "partnership", EntityID: "acme-de"}, []string{"alice/set_terms/acme-de", "alice/add/acme-de"}},
		{"actor", AuditFilter{Actor: "alice"}, []string{"alice/add/acme", "alice/set_terms/acme-de", "alice/add/acme-de"}},
		{"countries", AuditFilter{Countries: []string{"FR"}}, []string{"bob/add/acme-fr"}},
		{"two countries", AuditFilter{Countries: []string{"DE", "FR"}, Entity: "partnership"}, []string{"alice/set_terms/acme-de", "bob/add/acme-fr", "alice/add/acme-de"}},
		{"no countries", AuditFilter{Countries: []string{}}, nil},
		{"quote in a value is bound", AuditFilter{EntityID: "x' OR '1'='1"}, nil},
		{"time range", AuditFilter{From: t0.Add(time.Minute), To: t0.Add(3 * time.Minute)}, []string{"alice/set_terms/acme-de", "bob/add/acme-fr"}},
		{"fractional To keeps its second", AuditFilter{From: t0.Add(4 * time.Minute), To: t0.Add(4*time.Minute + 200*time.Millisecond)}, []string{"carol/add/x1"}},
		{"limit", AuditFilter{Limit: 2}, []string{"dave/add/t1", "carol/add/x1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.AuditLog(ctx, tt.f)
			if err != nil {
				t.Fatalf("AuditLog: %v", err)
			}
			if g := ids(got); len(g) != len(tt.want) || (len(g) > 0 && !equalStrings(g, tt.want)) {
				t.Fatalf("AuditLog = %v, want %v", g, tt.want)
			}
		})
	}

	all, err := s.AuditLog(ctx, AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if e := all[0]; e.ID == "" || e.TS.Before(before.Truncate(time.Second)) || e.TS.Location() != time.UTC {
		t.Errorf("filled entry = %+v", e)
	}
	if e := all[1]; e.ID != "given-id" || !e.TS.Equal(t0.Add(4*time.Minute)) {
		t.Errorf("entry with a given id = %+v, want its id and TS cut to the second", e)
	}
	if e := all[3]; e.Before != `{"v":1}` || e.After != `{"v":2}` || e.Country != "DE" {
		t.Errorf("entry = %+v", e)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
