package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/lib/notify"
	"github.com/xpromo/xpromo/lib/pgdb"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// TestSpecRefusesHostileText: a token's name (it reaches the audit log,
// API answers and log lines as the actor) is refused when it holds a
// line break, another control character or bytes that are not UTF-8.
func TestSpecRefusesHostileText(t *testing.T) {
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, name := range []string{"a\nb", "a\r\nlevel=ERROR msg=forged", "tab\there", "nul\x00", "bad \xff utf8", "\xc3", "del\x7f"} {
		_, err := Spec{Role: access.RoleAdmin, Name: name}.Validate(now)
		var fe *catalog.FieldError
		if !errors.As(err, &fe) || fe.Field != "name" {
			t.Errorf("name %q: %v, want a name field error", name, err)
		}
	}
	for _, name := range []string{"", "shop-backend", "O'Brien \\ `x`; DROP TABLE tokens --", "Zürich 東京 ‮rtl"} {
		if _, err := (Spec{Role: access.RoleAdmin, Name: name}).Validate(now); err != nil {
			t.Errorf("name %q refused: %v", name, err)
		}
	}
}

func TestSpecValidate(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	good := []struct {
		in   Spec
		want Spec
	}{
		{Spec{Role: access.RoleAdmin, Name: " ops "}, Spec{Role: access.RoleAdmin, Name: "ops"}},
		{Spec{Role: access.RoleCountryManager, Countries: []string{"fr", " DE", "FR", ""}}, Spec{Role: access.RoleCountryManager, Countries: []string{"DE", "FR"}}},
		{Spec{Role: access.RolePartner, Partner: "acme"}, Spec{Role: access.RolePartner, Partner: "acme"}},
		{Spec{Role: access.RoleFinance, ExpiresAt: now.Add(24 * time.Hour)}, Spec{Role: access.RoleFinance, ExpiresAt: now.Add(24 * time.Hour)}},
		{Spec{Role: access.RoleService, CreatedBy: "cli:ops"}, Spec{Role: access.RoleService, CreatedBy: "cli:ops"}},
	}
	for _, g := range good {
		got, err := g.in.Validate(now)
		if err != nil {
			t.Errorf("Validate(%+v): %v", g.in, err)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(g.want) {
			t.Errorf("Validate(%+v) = %+v, want %+v", g.in, got, g.want)
		}
	}
	bad := []struct {
		in    Spec
		field string
	}{
		{Spec{}, "role"},
		{Spec{Role: "root"}, "role"},
		{Spec{Role: access.RoleCountryManager}, "countries"},
		{Spec{Role: access.RoleCountryManager, Countries: []string{" "}}, "countries"},
		{Spec{Role: access.RoleCountryManager, Countries: []string{"UK"}}, "countries"},
		{Spec{Role: access.RoleCountryManager, Countries: []string{"DEU"}}, "countries"},
		{Spec{Role: access.RoleCountryManager, Countries: []string{"DE"}, Partner: "acme"}, "partner"},
		{Spec{Role: access.RolePartner}, "partner"},
		{Spec{Role: access.RolePartner, Partner: "Acme Inc"}, "partner"},
		{Spec{Role: access.RolePartner, Partner: "acme", Countries: []string{"DE"}}, "countries"},
		{Spec{Role: access.RoleAdmin, Countries: []string{"DE"}}, "countries"},
		{Spec{Role: access.RoleFinance, Partner: "acme"}, "partner"},
		{Spec{Role: access.RoleService, Countries: []string{"DE"}}, "countries"},
		{Spec{Role: access.RoleAdmin, Name: "a\nb"}, "name"},
		{Spec{Role: access.RoleAdmin, Name: strings.Repeat("x", 201)}, "name"},
		{Spec{Role: access.RoleAdmin, CreatedBy: "x\x00"}, "created_by"},
		{Spec{Role: access.RoleAdmin, ExpiresAt: now}, "expires_at"},
		{Spec{Role: access.RoleAdmin, ExpiresAt: now.Add(-time.Hour)}, "expires_at"},
	}
	for _, b := range bad {
		_, err := b.in.Validate(now)
		var fe *catalog.FieldError
		if !errors.As(err, &fe) || fe.Field != b.field {
			t.Errorf("Validate(%+v) = %v, want an error on %s", b.in, err, b.field)
		}
	}
}

func TestStoreAndVerifier(t *testing.T) {
	db := testenv.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store := NewStore(db.Pool)
	var logs testenv.LogBuffer
	v := NewVerifier(store, time.Hour, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))) // only Invalidate and Refresh reload here
	if err := v.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go v.Run(runCtx)

	cmTok, cm, err := store.Create(ctx, Spec{Role: access.RoleCountryManager, Countries: []string{"fr", "DE"}, Name: "country team", CreatedBy: "test"})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if cm.Role != access.RoleCountryManager || !slices.Equal(cm.Countries, []string{"DE", "FR"}) || cm.CreatedBy != "test" || !ValidTokenID(cm.ID) {
		t.Fatalf("created %+v", cm)
	}
	if !strings.HasPrefix(cmTok, Prefix+cm.ID+"_") {
		t.Fatalf("token %q does not carry id %s", cm.ID, cm.ID)
	}
	now := time.Now()
	if _, err := v.Verify(cmTok, now); !errors.Is(err, ErrUnknown) {
		t.Fatalf("Verify before reload = %v, want ErrUnknown", err)
	}
	waitVerify(t, v, cmTok, true)
	p, err := v.Verify(cmTok, now)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if p.TokenID != cm.ID || p.Role != access.RoleCountryManager || !slices.Equal(p.Countries, []string{"DE", "FR"}) || p.Name != "country team" {
		t.Fatalf("principal = %+v", p)
	}

	// Only the hash is stored.
	var stored string
	if err := db.Pool.QueryRow(ctx, "SELECT encode(secret_hash, 'hex') FROM tokens WHERE id = $1", cm.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	_, secret, _ := Parse(cmTok)
	if stored != HashSecret(secret) || strings.Contains(stored, secretOf(cmTok)) {
		t.Fatalf("stored secret_hash %q is not the SHA-256 of the secret", stored)
	}

	// Expiry.
	expTok, expT, err := store.Create(ctx, Spec{Role: access.RoleFinance, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(expTok, now); err != nil {
		t.Fatalf("Verify before expiry: %v", err)
	}
	if _, err := v.Verify(expTok, expT.ExpiresAt); !errors.Is(err, ErrExpired) {
		t.Fatalf("Verify at expiry = %v, want ErrExpired", err)
	}
	if got := expT.ExpiresAt; !got.Equal(now.Add(time.Hour).Truncate(time.Second)) {
		t.Fatalf("ExpiresAt = %v", got)
	}

	partnerTok, _, err := store.Create(ctx, Spec{Role: access.RolePartner, Partner: "acme"})
	if err != nil {
		t.Fatal(err)
	}

	// List: every token, no secret or hash anywhere.
	list, err := store.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(list) != 3 {
		t.Fatalf("List = %d tokens, want 3", len(list))
	}
	b, _ := json.Marshal(list)
	for _, tok := range []string{cmTok, expTok, partnerTok} {
		_, sec, _ := Parse(tok)
		if strings.Contains(string(b), secretOf(tok)) || strings.Contains(string(b), HashSecret(sec)) {
			t.Fatalf("List JSON holds a secret or hash: %s", b)
		}
	}
	byID := map[string]Token{}
	for _, tk := range list {
		byID[tk.ID] = tk
	}
	if got := byID[cm.ID]; got.Name != "country team" || !got.ExpiresAt.IsZero() || got.Revoked() || !got.CreatedAt.Equal(cm.CreatedAt) {
		t.Fatalf("listed %+v, created %+v", got, cm)
	}
	if got := byID[expT.ID]; !got.ExpiresAt.Equal(expT.ExpiresAt) || len(got.Countries) != 0 || got.Countries == nil {
		t.Fatalf("listed %+v", got)
	}

	// Revoke: the token stops working after Invalidate.
	rt, err := store.Revoke(ctx, cm.ID, "admin-token")
	if err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if !rt.Revoked() || rt.RevokedBy != "admin-token" {
		t.Fatalf("revoked %+v", rt)
	}
	if _, err := v.Verify(cmTok, now); err != nil {
		t.Fatalf("the old snapshot should still accept the token: %v", err)
	}
	v.Invalidate()
	waitVerify(t, v, cmTok, false)
	if _, err := v.Verify(cmTok, now); !errors.Is(err, ErrRevoked) {
		t.Fatalf("Verify after revoke = %v, want ErrRevoked", err)
	}
	again, err := store.Revoke(ctx, cm.ID, "someone else")
	if !errors.Is(err, ErrAlreadyRevoked) || !again.RevokedAt.Equal(rt.RevokedAt) || again.RevokedBy != "admin-token" {
		t.Fatalf("second Revoke = %+v, %v; want the first revocation unchanged", again, err)
	}
	if _, err := store.Revoke(ctx, "aaaaaaaaaaaa", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Revoke(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := store.Revoke(ctx, "' OR 1=1 --", "x"); err == nil {
		t.Fatal("Revoke with a malformed id succeeded")
	}
	list, err = store.List(ctx)
	if err != nil || len(list) != 3 {
		t.Fatalf("List after revoke = %d, %v; want 3", len(list), err)
	}

	// Bad creations never reach the table.
	if _, _, err := store.Create(ctx, Spec{Role: access.RoleAdmin, Countries: []string{"DE"}}); err == nil {
		t.Fatal("admin with a country created")
	}
	if v.Loads() < 3 {
		t.Fatalf("Loads = %d", v.Loads())
	}
	for _, tok := range []string{cmTok, expTok, partnerTok} {
		if strings.Contains(logs.String(), secretOf(tok)) {
			t.Fatalf("log holds a secret:\n%s", logs.String())
		}
	}
}

// waitVerify polls until Verify's success is want (the background reload).
func waitVerify(t *testing.T, v *Verifier, tok string, want bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := v.Verify(tok, time.Now())
		if (err == nil) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Verify still %v after 5s", err)
		}
		v.Invalidate()
		time.Sleep(5 * time.Millisecond)
	}
}

func TestVerifierStartFailsClosed(t *testing.T) {
	db := testenv.Postgres(t)
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, "DROP TABLE tokens"); err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(NewStore(db.Pool), 0, nil)
	if err := v.Start(ctx); err == nil {
		t.Fatal("Start without a tokens table succeeded")
	}
	tok, _, _, _ := generate()
	if _, err := v.Verify(tok, time.Now()); !errors.Is(err, ErrUnknown) {
		t.Fatalf("Verify = %v, want ErrUnknown", err)
	}
}

// With a one-hour interval, a token created elsewhere works here within a
// second of a notification: notify.Watch calls Trigger, Run reloads.
func TestVerifierTriggerByNotification(t *testing.T) {
	db := testenv.Postgres(t)
	r := testenv.NewRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	store := NewStore(db.Pool)
	v := NewVerifier(store, time.Hour, testenv.Logger(t))
	if err := v.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	wg.Go(func() { v.Run(runCtx) })

	n := notify.New(r.Client, r.Prefix+"tokens:changed", testenv.Logger(t))
	base := v.Loads()
	wg.Go(func() { n.Watch(runCtx, v.Trigger) })
	testenv.WaitFor(t, time.Second, "a reload when the watcher subscribes", func() bool { return v.Loads() > base })

	tok, _, err := store.Create(ctx, Spec{Role: access.RoleAdmin, Name: "wake", CreatedBy: "test"})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := v.Verify(tok, time.Now()); !errors.Is(err, ErrUnknown) {
		t.Fatalf("Verify before the notification = %v, want ErrUnknown", err)
	}
	before := v.Loads()
	if err := n.Publish(ctx); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	testenv.WaitFor(t, time.Second, "a reload after Publish", func() bool { return v.Loads() > before })
	if _, err := v.Verify(tok, time.Now()); err != nil {
		t.Fatalf("Verify after the notification: %v", err)
	}

	before = v.Loads()
	v.Trigger()
	testenv.WaitFor(t, time.Second, "a reload after Trigger", func() bool { return v.Loads() > before })
}

// TestScopeWhereOnClickHouse runs access.Scope.Where in real queries on 18.16.
func TestScopeWhereOnClickHouse(t *testing.T) {
	db := testenv.ClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := db.Conn.Exec(ctx, `CREATE TABLE scoped (id String, country FixedString(2), partner String, amount UInt32) ENGINE = MergeTree ORDER BY (country, partner, id)`); err != nil {
		t.Fatal(err)
	}
	batch, err := db.Conn.PrepareBatch(ctx, `INSERT INTO scoped (id, country, partner, amount)`)
	if err != nil {
		t.Fatal(err)
	}
	rows := []struct {
		id, country, partner string
	}{
		{"de-a", "DE", "a"}, {"de-b", "DE", "b"}, {"fr-a", "FR", "a"}, {"fr-b", "FR", "b"},
		{"it-x", "IT", "a' OR '1'='1"},
	}
	for i, r := range rows {
		if err := batch.Append(r.id, r.country, r.partner, uint32(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
	query := func(s access.Scope, extra string, extraArgs ...any) []string {
		t.Helper()
		where, args := s.Where("country", "partner")
		q := "SELECT id FROM scoped WHERE " + where + extra + " ORDER BY id"
		var rows []struct {
			ID string `ch:"id"`
		}
		if err := db.Conn.Select(ctx, &rows, q, append(args, extraArgs...)...); err != nil {
			t.Fatalf("%s %v: %v", q, args, err)
		}
		out := []string{}
		for _, r := range rows {
			out = append(out, r.ID)
		}
		return out
	}
	tests := []struct {
		name  string
		scope access.Scope
		want  []string
	}{
		{"admin", access.Principal{Role: access.RoleAdmin}.Scope(), []string{"de-a", "de-b", "fr-a", "fr-b", "it-x"}},
		{"finance", access.Principal{Role: access.RoleFinance}.Scope(), []string{"de-a", "de-b", "fr-a", "fr-b", "it-x"}},
		{"country manager DE", access.Principal{Role: access.RoleCountryManager, Countries: []string{"DE"}}.Scope(), []string{"de-a", "de-b"}},
		{"country manager DE+IT", access.Principal{Role: access.RoleCountryManager, Countries: []string{"DE", "IT"}}.Scope(), []string{"de-a", "de-b", "it-x"}},
		{"country manager, no country", access.Principal{Role: access.RoleCountryManager}.Scope(), []string{}},
		{"partner a", access.Principal{Role: access.RolePartner, Partner: "a"}.Scope(), []string{"de-a", "fr-a"}},
		{"partner a, filtered to FR", access.Principal{Role: access.RolePartner, Partner: "a"}.Scope().WithCountries("FR"), []string{"fr-a"}},
		{"country manager DE, filtered to FR", access.Principal{Role: access.RoleCountryManager, Countries: []string{"DE"}}.Scope().WithCountries("FR"), []string{}},
		{"country manager DE, filtered to partner b", access.Principal{Role: access.RoleCountryManager, Countries: []string{"DE"}}.Scope().WithPartner("b"), []string{"de-b"}},
		{"hostile partner value is only a value", access.Scope{Partner: "a' OR '1'='1"}, []string{"it-x"}},
		{"hostile country value is only a value", access.Scope{Countries: []string{"DE') OR ('1'='1"}}, []string{}},
		{"service", access.Principal{Role: access.RoleService}.Scope(), []string{}},
		{"no role", access.Principal{}.Scope(), []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := query(tt.scope, ""); !slices.Equal(got, tt.want) {
				t.Fatalf("rows = %v, want %v", got, tt.want)
			}
		})
	}
	// Placeholders of the caller's own conditions follow the scope's.
	got := query(access.Principal{Role: access.RoleCountryManager, Countries: []string{"DE", "FR"}}.Scope(), " AND amount >= ?", uint32(3))
	if !slices.Equal(got, []string{"fr-a", "fr-b"}) {
		t.Fatalf("with an extra condition: %v", got)
	}
}

// TestRevokeRace: two API instances (two pools) revoking one token at the
// same moment: exactly one revokes it, the other is told it was already
// revoked, and the row was written once.
func TestRevokeRace(t *testing.T) {
	db := testenv.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	other, err := pgdb.Open(ctx, db.URL, false)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	stores := []*Store{NewStore(db.Pool), NewStore(other)}
	for round := range 20 {
		_, tok, err := stores[0].Create(ctx, Spec{Role: access.RoleService, Name: "race", CreatedBy: "test"})
		if err != nil {
			t.Fatal(err)
		}
		var (
			wg   sync.WaitGroup
			errs = make([]error, len(stores))
			got  = make([]Token, len(stores))
		)
		for i, s := range stores {
			wg.Go(func() { got[i], errs[i] = s.Revoke(ctx, tok.ID, fmt.Sprintf("revoker-%d", i)) })
		}
		wg.Wait()
		won := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if won >= 0 {
					t.Fatalf("round %d: both revokes succeeded", round)
				}
				won = i
			case !errors.Is(err, ErrAlreadyRevoked):
				t.Fatalf("round %d: revoke %d: %v", round, i, err)
			}
		}
		if won < 0 {
			t.Fatalf("round %d: no revoke succeeded: %v", round, errs)
		}
		loser := got[1-won]
		if loser.RevokedBy != got[won].RevokedBy || !loser.RevokedAt.Equal(got[won].RevokedAt) || got[won].version != 2 {
			t.Fatalf("round %d: winner %+v, loser was shown %+v", round, got[won], loser)
		}
	}
}

// TestAuditedChanges: CreateAudited and RevokeAudited file their audit
// entry with the change; when the entry cannot be written, neither is the
// change.
func TestAuditedChanges(t *testing.T) {
	db := testenv.Postgres(t)
	ctx := context.Background()
	store, cat := NewStore(db.Pool), catalog.NewStore(db.Pool)
	_, tok, err := store.CreateAudited(ctx, Spec{Role: access.RoleFinance, Name: "books", CreatedBy: "api:admin"}, cat)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.RevokeAudited(ctx, tok.ID, "cli:me", cat); err != nil {
		t.Fatal(err)
	}
	if _, err := store.RevokeAudited(ctx, tok.ID, "cli:me", cat); !errors.Is(err, ErrAlreadyRevoked) {
		t.Fatalf("second revoke: %v", err)
	}
	entries, err := cat.AuditLog(ctx, catalog.AuditFilter{Entity: catalog.EntityToken, EntityID: tok.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Action != catalog.ActionRevoke || entries[0].Actor != "cli:me" || entries[1].Action != catalog.ActionCreate ||
		entries[1].Actor != "api:admin" || entries[1].Before != "" || !strings.Contains(entries[0].Before, `"name":"books"`) ||
		strings.Contains(entries[0].Before, "revoked_at") || !strings.Contains(entries[0].After, `"revoked_by":"cli:me"`) {
		t.Fatalf("audit entries %+v", entries)
	}

	// No audit log table: the change is rolled back with its entry.
	if _, err := db.Pool.Exec(ctx, "DROP TABLE audit_log"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.CreateAudited(ctx, Spec{Role: access.RoleFinance, Name: "lost", CreatedBy: "x"}, cat); err == nil {
		t.Fatal("CreateAudited without an audit log succeeded")
	}
	_, live, err := store.Create(ctx, Spec{Role: access.RoleAdmin, Name: "live", CreatedBy: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.RevokeAudited(ctx, live.ID, "x", cat); err == nil {
		t.Fatal("RevokeAudited without an audit log succeeded")
	}
	list, err := store.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Both tokens were made in the same second: List's order between them
	// is their random ids', so the live one is looked up.
	i := slices.IndexFunc(list, func(tk Token) bool { return tk.ID == live.ID })
	if len(list) != 2 || i < 0 || list[i].Revoked() {
		t.Fatalf("tokens after failed audited changes: %+v", list)
	}
}

// TestVerifierServesWhileDatabaseDown: once loaded, the tokens go on
// verifying while PostgreSQL cannot be reached; writes fail.
func TestVerifierServesWhileDatabaseDown(t *testing.T) {
	db := testenv.Postgres(t)
	ctx := context.Background()
	pool, err := pgdb.Open(ctx, db.URL, false)
	if err != nil {
		t.Fatal(err)
	}
	store := NewStore(pool)
	tok, _, err := store.Create(ctx, Spec{Role: access.RoleAdmin, Name: "ops", CreatedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(store, time.Hour, testenv.Logger(t))
	if err := v.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// The database goes away under the pool: its sessions end and new ones
	// are refused.
	admin, err := pgx.Connect(ctx, testenv.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	for _, q := range []string{
		"ALTER DATABASE " + db.Name + " ALLOW_CONNECTIONS false",
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + db.Name + "'",
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _, _ = admin.Exec(ctx, "ALTER DATABASE "+db.Name+" ALLOW_CONNECTIONS true") })
	pool.Reset()
	if err := v.Refresh(ctx); err == nil {
		t.Fatal("Refresh without the database succeeded")
	}
	if p, err := v.Verify(tok, time.Now()); err != nil || p.Role != access.RoleAdmin {
		t.Fatalf("Verify while the database is down = %+v, %v", p, err)
	}
	if _, _, err := store.Create(ctx, Spec{Role: access.RoleAdmin, Name: "new", CreatedBy: "test"}); !pgdb.Unavailable(err) {
		t.Fatalf("Create while the database is down = %v, want an unavailable error (503)", err)
	}
}
