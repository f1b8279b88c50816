package upgrade_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/http/auth"
	"github.com/xpromo/xpromo/lib/secrets"
	"github.com/xpromo/xpromo/ops/upgrade"
	"github.com/xpromo/xpromo/schema"
	"github.com/xpromo/xpromo/testkit/testenv"
)

var (
	t0      = time.Date(2025, 3, 4, 10, 11, 12, 0, time.UTC)
	never   = time.Unix(0, 0).UTC() // DateTime 0 / Date 1970-01-01: none, as the old store wrote it
	expires = time.Date(2026, 1, 31, 23, 0, 0, 0, time.UTC)
	day     = func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	dec     = decimal.RequireFromString
)

// oldTerms are terms versions as the old store took them; writeOld writes
// them as its insertTerms did.
var oldTerms = []catalog.Terms{
	{Partnership: "ps-de", Version: 1, EffectiveFrom: day(2025, 1, 1), Currency: "EUR",
		InboundCPA: dec("12.3456"), InboundRevSharePct: dec("7.5"), InboundRevenueWindowDays: 365,
		OutboundCPA: dec("0"), OutboundRevSharePct: dec("0.0001"), OutboundRevenueWindowDays: 30,
		AttributionModel: "last_click", AttributionWindowDays: 30,
		TargetInboundUsersMonth: 1000, TargetOutboundUsersMonth: 0,
		StartDate: day(2025, 1, 1), EndDate: day(2025, 6, 30), Status: "active",
		FallbackURL: "https://acme.example/fallback", PartnerMayCreateLinks: true,
		CreatedAt: t0, CreatedBy: "admin"},
	{Partnership: "ps-de", Version: 2, EffectiveFrom: day(2025, 7, 1), Currency: "EUR",
		InboundCPA: dec("99999999999999.9999"), InboundRevSharePct: dec("12.5"), InboundRevenueWindowDays: 180,
		OutboundCPA: dec("1.5"), OutboundRevSharePct: dec("3"), OutboundRevenueWindowDays: 365,
		AttributionModel: "first_click", AttributionWindowDays: 7,
		TargetInboundUsersMonth: 4294967295, TargetOutboundUsersMonth: 12,
		StartDate: day(2025, 1, 1), Status: "paused", // EndDate zero: open-ended
		FallbackURL: "https://acme.example/fallback2", PartnerMayCreateLinks: false,
		CreatedAt: t0.Add(time.Hour), CreatedBy: "cm-de"},
}

var (
	wantPartners = map[string]catalog.Partner{
		"acme":  {ID: "acme", Name: "Acme GmbH", Domains: []string{"acme.example", "shop.acme.example"}, Status: "active", Countries: []string{"DE"}},
		"bolt":  {ID: "bolt", Name: "Bolt", Domains: []string{}, Status: "archived", Countries: []string{}},
		"quote": {ID: "quote", Name: "Tab\tand \"quote\" ünïcode", Domains: []string{"q.example"}, Status: "active", Countries: []string{"FR", "DE"}},
	}
	wantPartnerships = map[string]catalog.Partnership{
		"ps-de": {ID: "ps-de", Partner: "acme", Country: "DE", Direction: "both"},
		"ps-fr": {ID: "ps-fr", Partner: "quote", Country: "FR", Direction: "inbound"},
	}
	wantLinks = map[string]catalog.Link{
		"AbC123": {Code: "AbC123", Partnership: "ps-de", Partner: "acme", Direction: "outbound",
			URL: "https://acme.example/x?c={click_id}", Campaign: "spring", Status: "active", ExpiresAt: expires, CreatedBy: "admin"},
		"abc123": {Code: "abc123", Partnership: "ps-de", Partner: "acme", Direction: "inbound",
			URL: "https://us.example/land", Status: "paused"},
		"fr1": {Code: "fr1", Partnership: "ps-fr", Partner: "quote", Direction: "inbound",
			URL: "https://us.example/fr", Status: "archived", CreatedBy: "token:partner"},
	}
	wantAudit = []catalog.AuditEntry{ // newest first, as AuditLog returns them
		{TS: t0.Add(3 * time.Minute), ID: "a3", Actor: "cm-de", Action: "update", Entity: "link", EntityID: "AbC123", Country: "DE",
			Before: `{"code":"AbC123"}`, After: `{"code":"AbC123","status":"active"}`},
		{TS: t0.Add(2 * time.Minute), ID: "a2", Actor: "admin", Action: "set_terms", Entity: "partnership", EntityID: "ps-de", Country: "DE",
			After: `{"version":1}`},
		{TS: t0.Add(time.Minute), ID: "a1b", Actor: "admin", Action: "create", Entity: "partner", EntityID: "bolt", After: `{"id":"bolt"}`},
		{TS: t0.Add(time.Minute), ID: "a1a", Actor: "admin", Action: "create", Entity: "partner", EntityID: "acme", After: `{"id":"acme"}`},
	}
)

// oldToken is an API token the old store issued: its string, which the
// copy must keep working, and the row the store wrote for it.
type oldToken struct {
	token                   string
	id, role, partner, name string
	countries               []string
	expires, revoked        time.Time // zero: never, not revoked
}

// tokenOf makes a token string as auth's generate does, from a fixed id
// and secret.
func tokenOf(id string, fill byte) (string, []byte) {
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = fill + byte(i)
	}
	return auth.Prefix + id + "_" + base64.RawURLEncoding.EncodeToString(secret), secret
}

var (
	partnerToken, partnerSecret = tokenOf("aaaaaaaaaaa2", 1)
	managerToken, managerSecret = tokenOf("bbbbbbbbbbb7", 100)
	oldTokens                   = []oldToken{
		{token: partnerToken, id: "aaaaaaaaaaa2", role: "partner", partner: "acme", name: "acme's shop", countries: []string{}, expires: expires},
		{token: managerToken, id: "bbbbbbbbbbb7", role: "country_manager", name: "cm", countries: []string{"DE", "FR"}, revoked: t0.Add(time.Hour)},
	}
	// Postback secrets of acme: version 1 revoked by a later rotation, 2
	// and 3 valid.
	oldSecrets = []string{"first-secret", "second-secret", "third-secret"}
	sealKey    = func() *secrets.Key {
		k, _, err := secrets.Generate()
		if err != nil {
			panic(err)
		}
		return k
	}()
)

// writeOld writes the catalog above into ch as the ClickHouse store of
// earlier releases wrote it: its insert statements, a version stamp per
// write, 1970 for "none", UInt8 for booleans.
func writeOld(t *testing.T, ctx context.Context, ch driver.Conn) {
	t.Helper()
	stamp := func(at time.Time) []any { return []any{at.Truncate(time.Second), uint64(at.UnixNano())} }
	row := func(vals []any, at time.Time) []any { return append(vals, stamp(at)...) }
	// acme's later version goes in first, in its own part: only FINAL
	// (the highest version) tells which row holds.
	testenv.Insert(t, ctx, ch, schema.Partners.Insert(),
		row([]any{"acme", "Acme GmbH", []string{"acme.example", "shop.acme.example"}, "active", []string{"DE"}}, t0.Add(time.Hour)))
	testenv.Insert(t, ctx, ch, schema.Partners.Insert(),
		row([]any{"acme", "Acme (old name)", []string{"acme.example"}, "active", []string{"DE"}}, t0),
		row([]any{"bolt", "Bolt", []string{}, "archived", []string{}}, t0),
		row([]any{"quote", "Tab\tand \"quote\" ünïcode", []string{"q.example"}, "active", []string{"FR", "DE"}}, t0))
	testenv.Insert(t, ctx, ch, schema.Partnerships.Insert(),
		row([]any{"ps-de", "acme", "DE", "inbound"}, t0),
		row([]any{"ps-fr", "quote", "FR", "inbound"}, t0))
	testenv.Insert(t, ctx, ch, schema.Partnerships.Insert(),
		row([]any{"ps-de", "acme", "DE", "both"}, t0.Add(time.Minute)))
	links := make([][]any, 0, len(wantLinks))
	for _, l := range []catalog.Link{wantLinks["AbC123"], wantLinks["abc123"], wantLinks["fr1"]} {
		exp := never
		if !l.ExpiresAt.IsZero() {
			exp = l.ExpiresAt
		}
		links = append(links, row([]any{l.Code, l.Partnership, l.Partner, l.Direction, l.URL, l.Campaign, l.Status, exp, l.CreatedBy}, t0))
	}
	testenv.Insert(t, ctx, ch, schema.Links.Insert(), links...)
	for _, tv := range oldTerms {
		end := never
		if !tv.EndDate.IsZero() {
			end = tv.EndDate
		}
		var may uint8
		if tv.PartnerMayCreateLinks {
			may = 1
		}
		testenv.Insert(t, ctx, ch, schema.PartnershipTerms.Insert(), []any{tv.Partnership, tv.Version, tv.EffectiveFrom, tv.Currency,
			tv.InboundCPA, tv.InboundRevSharePct, tv.InboundRevenueWindowDays,
			tv.OutboundCPA, tv.OutboundRevSharePct, tv.OutboundRevenueWindowDays,
			tv.AttributionModel, tv.AttributionWindowDays,
			tv.TargetInboundUsersMonth, tv.TargetOutboundUsersMonth,
			tv.StartDate, end, tv.Status, tv.FallbackURL, may,
			tv.CreatedAt, tv.CreatedBy})
	}
	audit := func(e catalog.AuditEntry) []any {
		return []any{e.TS, e.ID, e.Actor, e.Action, e.Entity, e.EntityID, e.Country, e.Before, e.After}
	}
	var entries [][]any
	for _, e := range wantAudit {
		entries = append(entries, audit(e))
	}
	testenv.Insert(t, ctx, ch, schema.AuditLog.Insert(), entries...)

	// Tokens as the old auth store wrote them: the secret's hash in hex,
	// 1970 for never and not revoked, a revocation as a new version.
	for _, tk := range oldTokens {
		_, secret, err := auth.Parse(tk.token)
		if err != nil {
			t.Fatal(err)
		}
		tokenRow := func(revoked time.Time, version uint64) []any {
			exp, by := never, ""
			if !tk.expires.IsZero() {
				exp = tk.expires
			}
			if revoked != never {
				by = "admin"
			}
			return []any{tk.id, auth.HashSecret(secret), tk.role, tk.countries, tk.partner, tk.name,
				t0, exp, revoked, "admin", by, version}
		}
		testenv.Insert(t, ctx, ch, schema.Tokens.Insert(), tokenRow(never, 1))
		if !tk.revoked.IsZero() {
			testenv.Insert(t, ctx, ch, schema.Tokens.Insert(), tokenRow(tk.revoked, 2))
		}
	}
	// Secrets as the old postback store wrote them: sealed bytes in a
	// String, a revocation the same (partner, version) again with revoked
	// 1 and nothing sealed.
	for i, plain := range oldSecrets {
		sealed, err := sealKey.Seal([]byte(plain), []byte("acme"))
		if err != nil {
			t.Fatal(err)
		}
		testenv.Insert(t, ctx, ch, schema.PartnerSecrets.Insert(), []any{"acme", uint32(i + 1), string(sealed), t0.Add(time.Duration(i) * time.Hour), "admin", uint8(0)})
	}
	testenv.Insert(t, ctx, ch, schema.PartnerSecrets.Insert(), []any{"acme", uint32(1), "", t0, "admin", uint8(1)})
	// A retried insert stored a2 twice (audit_log is a plain MergeTree).
	testenv.Insert(t, ctx, ch, schema.AuditLog.Insert(), audit(wantAudit[1]))

	// The USD rate of the day loaded twice, the second load correcting
	// it: FINAL keeps the later.
	day := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	rate := func(cur, perEUR string, loaded time.Time) []any {
		return []any{day, cur, decimal.RequireFromString(perEUR), loaded}
	}
	testenv.Insert(t, ctx, ch, schema.FXRates.Insert(), rate("USD", "1.1", t0), rate("JPY", "161.23", t0))
	testenv.Insert(t, ctx, ch, schema.FXRates.Insert(), rate("USD", "1.08230000", t0.Add(time.Hour)))
	testenv.Insert(t, ctx, ch, schema.CountrySettings.Insert(),
		[]any{"DE", "Europe/London", t0, "admin", uint64(1)}, []any{"FR", "Europe/Paris", t0, "admin", uint64(1)})
	testenv.Insert(t, ctx, ch, schema.CountrySettings.Insert(), []any{"DE", "Europe/Berlin", t0.Add(time.Hour), "cm-de", uint64(2)})
	// Two closes of 2026-09 raced; readers took the first.
	statement := func(period, id string, at time.Time) []any {
		sum := sha256.Sum256([]byte(`[]`))
		return []any{period, id, hex.EncodeToString(sum[:]), at, "finance", `[]`}
	}
	testenv.Insert(t, ctx, ch, schema.Statements.Insert(),
		statement("2026-09", "st_2026-09_second", t0.Add(time.Second)), statement("2026-08", "st_2026-08_only", t0))
	testenv.Insert(t, ctx, ch, schema.Statements.Insert(), statement("2026-09", "st_2026-09_first", t0))
}

// The rows the copy must leave in PostgreSQL for the tables beyond the
// catalog's own, as text: what FINAL or the first close chose.
var wantOther = map[string][]string{
	"fx_rates":         {"2026-10-01 JPY 161.23", "2026-10-01 USD 1.0823"},
	"country_settings": {"DE Europe/Berlin cm-de", "FR Europe/Paris admin"},
	"statements":       {"2026-08 st_2026-08_only", "2026-09 st_2026-09_first"},
}

var otherRows = map[string]string{
	"fx_rates":         `SELECT date::text || ' ' || currency || ' ' || trim_scale(per_eur)::text FROM fx_rates ORDER BY 1`,
	"country_settings": `SELECT country || ' ' || timezone || ' ' || updated_by FROM country_settings ORDER BY 1`,
	"statements":       `SELECT period || ' ' || id FROM statements ORDER BY 1`,
}

func checkOther(t *testing.T, ctx context.Context, pg *testenv.PG) {
	t.Helper()
	for table, q := range otherRows {
		rows, err := pg.Pool.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, wantOther[table]) {
			t.Errorf("%s: %q, want %q", table, got, wantOther[table])
		}
	}
}

var wantCounts = map[string]int{"partners": 3, "partnerships": 2, "partnership_terms": 2, "links": 3,
	"tokens": 2, "partner_secrets": 3, "audit_log": 4,
	"fx_rates": 2, "country_settings": 2, "statements": 2}

func TestCopyCatalog(t *testing.T) {
	ctx := context.Background()
	ch := testenv.ClickHouse(t)
	pg := testenv.Postgres(t)
	writeOld(t, ctx, ch.Conn)

	first, err := upgrade.CopyCatalog(ctx, ch.Conn, pg.Pool, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, first, wantCounts, wantCounts)
	checkOther(t, ctx, pg)
	checkTokens(t, ctx, pg)
	checkSecrets(t, ctx, pg)

	store := catalog.NewStore(pg.Pool)
	snap, err := store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Copied rows start at version 1 (ClickHouse's rows had none); the
	// rest is compared as copied.
	for id, p := range snap.Partners {
		if p.Version != 1 {
			t.Errorf("partner %s copied at version %d, want 1", id, p.Version)
		}
		p.Version = 0
		snap.Partners[id] = p
	}
	for id, ps := range snap.Partnerships {
		if ps.Version != 1 {
			t.Errorf("partnership %s copied at version %d, want 1", id, ps.Version)
		}
		ps.Version = 0
		snap.Partnerships[id] = ps
	}
	for code, l := range snap.Links.All() {
		if l.Version != 1 {
			t.Errorf("link %s copied at version %d, want 1", code, l.Version)
		}
		l.Version = 0
		snap.Links.Set(code, l)
	}
	if !reflect.DeepEqual(snap.Partners, wantPartners) {
		t.Errorf("partners:\n got %+v\nwant %+v", snap.Partners, wantPartners)
	}
	if !reflect.DeepEqual(snap.Partnerships, wantPartnerships) {
		t.Errorf("partnerships:\n got %+v\nwant %+v", snap.Partnerships, wantPartnerships)
	}
	if !reflect.DeepEqual(maps.Collect(snap.Links.All()), wantLinks) {
		t.Errorf("links:\n got %+v\nwant %+v", maps.Collect(snap.Links.All()), wantLinks)
	}
	got, err := store.TermsVersions(ctx, "ps-de")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(oldTerms) {
		t.Fatalf("terms: %d versions, want %d", len(got), len(oldTerms))
	}
	fields := []struct {
		name string
		get  func(catalog.Terms) any
	}{
		{"partnership", func(v catalog.Terms) any { return v.Partnership }},
		{"version", func(v catalog.Terms) any { return v.Version }},
		{"effective_from", func(v catalog.Terms) any { return v.EffectiveFrom }},
		{"currency", func(v catalog.Terms) any { return v.Currency }},
		{"inbound_cpa", func(v catalog.Terms) any { return v.InboundCPA.String() }},
		{"inbound_revshare_pct", func(v catalog.Terms) any { return v.InboundRevSharePct.String() }},
		{"inbound_revenue_window_days", func(v catalog.Terms) any { return v.InboundRevenueWindowDays }},
		{"outbound_cpa", func(v catalog.Terms) any { return v.OutboundCPA.String() }},
		{"outbound_revshare_pct", func(v catalog.Terms) any { return v.OutboundRevSharePct.String() }},
		{"outbound_revenue_window_days", func(v catalog.Terms) any { return v.OutboundRevenueWindowDays }},
		{"attribution_model", func(v catalog.Terms) any { return v.AttributionModel }},
		{"attribution_window_days", func(v catalog.Terms) any { return v.AttributionWindowDays }},
		{"target_inbound_users_month", func(v catalog.Terms) any { return v.TargetInboundUsersMonth }},
		{"target_outbound_users_month", func(v catalog.Terms) any { return v.TargetOutboundUsersMonth }},
		{"start_date", func(v catalog.Terms) any { return v.StartDate }},
		{"end_date", func(v catalog.Terms) any { return v.EndDate }},
		{"status", func(v catalog.Terms) any { return v.Status }},
		{"fallback_url", func(v catalog.Terms) any { return v.FallbackURL }},
		{"partner_may_create_links", func(v catalog.Terms) any { return v.PartnerMayCreateLinks }},
		{"created_at", func(v catalog.Terms) any { return v.CreatedAt }},
		{"created_by", func(v catalog.Terms) any { return v.CreatedBy }},
	}
	for i, want := range oldTerms {
		for _, f := range fields {
			if g, w := f.get(got[i]), f.get(want); !reflect.DeepEqual(g, w) {
				t.Errorf("terms v%d %s = %v, want %v", want.Version, f.name, g, w)
			}
		}
	}
	if !reflect.DeepEqual(snap.Terms["ps-de"], got) {
		t.Errorf("Load's terms differ from TermsVersions'")
	}
	log, err := store.AuditLog(ctx, catalog.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(log, wantAudit) {
		t.Errorf("audit log:\n got %+v\nwant %+v", log, wantAudit)
	}

	// The columns the catalog types do not show: updated_at from
	// ClickHouse, version restarted at 1, rev from catalog_rev.
	var (
		updated      time.Time
		version      int
		maxRev, last int64
	)
	if err := pg.Pool.QueryRow(ctx, `SELECT updated_at, version FROM partners WHERE id = 'acme'`).Scan(&updated, &version); err != nil {
		t.Fatal(err)
	}
	if !updated.Equal(t0.Add(time.Hour)) || version != 1 {
		t.Errorf("acme: updated_at %v version %d, want %v and 1", updated, version, t0.Add(time.Hour))
	}
	if err := pg.Pool.QueryRow(ctx, `SELECT greatest((SELECT max(rev) FROM partners), (SELECT max(rev) FROM partnerships),
		(SELECT max(rev) FROM partnership_terms), (SELECT max(rev) FROM links)), (SELECT last_value FROM catalog_rev)`).Scan(&maxRev, &last); err != nil {
		t.Fatal(err)
	}
	var next int64
	if err := pg.Pool.QueryRow(ctx, `SELECT nextval('catalog_rev')`).Scan(&next); err != nil {
		t.Fatal(err)
	}
	if next <= maxRev {
		t.Errorf("catalog_rev's next value %d is not ahead of the copied rows' rev %d", next, maxRev)
	}

	// Again: nothing to copy, the same figures.
	second, err := upgrade.CopyCatalog(ctx, ch.Conn, pg.Pool, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, second, wantCounts, map[string]int{})
	for i := range first {
		if first[i].Checksum != second[i].Checksum || second[i].Checksum != second[i].TargetChecksum {
			t.Errorf("%s: checksums %s, then %s / %s", first[i].Table, first[i].Checksum, second[i].Checksum, second[i].TargetChecksum)
		}
	}

	// Changed in PostgreSQL since the copy: PostgreSQL's row is kept.
	name := "Acme AG"
	if _, err := store.UpdatePartner(ctx, "acme", catalog.PartnerChange{Name: &name}, "admin"); err != nil {
		t.Fatal(err)
	}
	third, err := upgrade.CopyCatalog(ctx, ch.Conn, pg.Pool, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, third, wantCounts, map[string]int{})
	if p := third[0]; p.Kept != 1 || p.Checksum != first[0].Checksum || p.TargetChecksum == p.Checksum {
		t.Errorf("partners after an edit in PostgreSQL: %+v", p)
	}
	if snap, err := store.Load(ctx); err != nil || snap.Partners["acme"].Name != name {
		t.Errorf("acme after a copy over its edit: %+v, %v", snap.Partners["acme"], err)
	}
}

func checkCounts(t *testing.T, got []upgrade.TableCopy, source, copied map[string]int) {
	t.Helper()
	order := []string{"partners", "partnerships", "partnership_terms", "links", "tokens", "partner_secrets", "audit_log", "fx_rates", "country_settings", "statements"}
	if len(got) != len(order) {
		t.Fatalf("%d tables, want %d: %+v", len(got), len(order), got)
	}
	for i, tc := range got {
		if tc.Table != order[i] || tc.Skipped || tc.Source != source[tc.Table] || tc.Target != source[tc.Table] || tc.Copied != copied[tc.Table] {
			t.Errorf("%+v, want %s with source %d, target %d, copied %d", tc, order[i], source[order[i]], source[order[i]], copied[order[i]])
		}
		if len(tc.Checksum) != 64 {
			t.Errorf("%s: checksum %q", tc.Table, tc.Checksum)
		}
	}
}

// A partnership PostgreSQL holds under another id for the same partner and
// country makes ClickHouse's unplaceable: the copy fails, naming it, and
// leaves nothing behind.
func TestCopyCatalogConflict(t *testing.T) {
	ctx := context.Background()
	ch := testenv.ClickHouse(t)
	pg := testenv.Postgres(t)
	writeOld(t, ctx, ch.Conn)
	store := catalog.NewStore(pg.Pool)
	if _, err := store.AddPartner(ctx, catalog.Partner{ID: "acme", Name: "Acme", Domains: []string{"acme.example"}}, "admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.AddPartnership(ctx, catalog.Partnership{ID: "other", Partner: "acme", Country: "DE", Direction: "both"}, "admin"); err != nil {
		t.Fatal(err)
	}
	_, err := upgrade.CopyCatalog(ctx, ch.Conn, pg.Pool, testenv.Logger(t))
	if err == nil || !strings.Contains(err.Error(), "partnerships") || !strings.Contains(err.Error(), "ps-de") {
		t.Fatalf("err = %v, want one naming partnerships and ps-de", err)
	}
	for table, want := range map[string]int{"partners": 1, "partnerships": 1, "partnership_terms": 0, "links": 0, "audit_log": 2} {
		var n int
		if err := pg.Pool.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s", table)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Errorf("%s: %d rows after a failed copy, want %d", table, n, want)
		}
	}
}

func TestCopyCatalogFreshInstall(t *testing.T) {
	ctx := context.Background()
	ch := testenv.EmptyClickHouse(t)
	pg := testenv.Postgres(t)
	got, err := upgrade.CopyCatalog(ctx, ch.Conn, pg.Pool, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(wantCounts) {
		t.Fatalf("%+v", got)
	}
	for _, tc := range got {
		if !tc.Skipped || tc.Source != 0 || tc.Copied != 0 {
			t.Errorf("%+v, want skipped", tc)
		}
	}
}

// A copied row that reads back unlike ClickHouse's (here a trigger
// rewrites it on the way in) fails the copy, naming the table and key.
func TestCopyCatalogVerifies(t *testing.T) {
	ctx := context.Background()
	ch := testenv.ClickHouse(t)
	pg := testenv.Postgres(t)
	writeOld(t, ctx, ch.Conn)
	if _, err := pg.Pool.Exec(ctx, `CREATE FUNCTION mangle() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.code = 'fr1' THEN NEW.campaign := 'mangled'; END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER mangle BEFORE INSERT ON links FOR EACH ROW EXECUTE FUNCTION mangle();`); err != nil {
		t.Fatal(err)
	}
	_, err := upgrade.CopyCatalog(ctx, ch.Conn, pg.Pool, testenv.Logger(t))
	if err == nil || !strings.Contains(err.Error(), "links: key fr1") {
		t.Fatalf("err = %v, want one naming links and fr1", err)
	}
	var n int
	if err := pg.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM partners) + (SELECT count(*) FROM links) + (SELECT count(*) FROM audit_log)`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d rows left by a failed copy", n)
	}
}

// checkTokens: the old token strings authenticate against PostgreSQL as
// they did, the revoked one is refused, and the rows read as written.
func checkTokens(t *testing.T, ctx context.Context, pg *testenv.PG) {
	t.Helper()
	store := auth.NewStore(pg.Pool)
	v := auth.NewVerifier(store, time.Minute, testenv.Logger(t))
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(24 * time.Hour)
	if p, err := v.Verify(partnerToken, now); err != nil || p.Role != "partner" || p.Partner != "acme" {
		t.Errorf("the partner token after the copy: %+v, %v", p, err)
	}
	if _, err := v.Verify(partnerToken, expires); err == nil {
		t.Errorf("the partner token is accepted at its expiry")
	}
	if p, err := v.Verify(managerToken, now); err == nil {
		t.Errorf("the revoked token is accepted after the copy: %+v", p)
	}
	list, err := store.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(oldTokens) {
		t.Fatalf("%d tokens, want %d", len(list), len(oldTokens))
	}
	for i, tk := range list {
		w := oldTokens[i]
		if tk.ID != w.id || string(tk.Role) != w.role || tk.Partner != w.partner || tk.Name != w.name ||
			!slices.Equal(tk.Countries, w.countries) || !tk.CreatedAt.Equal(t0) ||
			!tk.ExpiresAt.Equal(w.expires) || !tk.RevokedAt.Equal(w.revoked) {
			t.Errorf("token %d: %+v, want %+v", i, tk, w)
		}
	}
}

// checkSecrets: the valid versions open with the server key to the
// secrets sealed by the old store; the revoked one keeps nothing.
func checkSecrets(t *testing.T, ctx context.Context, pg *testenv.PG) {
	t.Helper()
	rows, err := pg.Pool.Query(ctx, `SELECT version, sealed, revoked_at FROM partner_secrets WHERE partner = 'acme' ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Version int
		Sealed  []byte
		Revoked *time.Time
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(oldSecrets) {
		t.Fatalf("%d secret versions, want %d", len(got), len(oldSecrets))
	}
	if r := got[0]; r.Sealed != nil || r.Revoked == nil || !r.Revoked.Equal(t0) {
		t.Errorf("revoked version 1: sealed %x, revoked_at %v; want none and its created_at", r.Sealed, r.Revoked)
	}
	for i, r := range got[1:] {
		plain, err := sealKey.Open(r.Sealed, []byte("acme"))
		if err != nil || string(plain) != oldSecrets[i+1] || r.Revoked != nil || r.Version != i+2 {
			t.Errorf("version %d: %q, %v, revoked %v; want %q", r.Version, plain, err, r.Revoked, oldSecrets[i+1])
		}
	}
}
