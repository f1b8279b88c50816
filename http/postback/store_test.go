package postback

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/lib/pgdb"
	"github.com/xpromo/xpromo/lib/secrets"
	"github.com/xpromo/xpromo/testkit/testenv"
)

func testKey(t testing.TB, b byte) *secrets.Key {
	t.Helper()
	raw := make([]byte, secrets.KeySize)
	for i := range raw {
		raw[i] = b
	}
	k, err := secrets.NewKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var secretRe = regexp.MustCompile(`^xps_[A-Za-z0-9_-]{43}$`)

func TestStoreRotation(t *testing.T) {
	db := newDB(t)
	ctx := context.Background()
	s := NewStore(db.Pool, testKey(t, 1), testenv.Logger(t))

	if got, err := s.Secrets(ctx, "acme"); err != nil || len(got) != 0 {
		t.Fatalf("Secrets before any rotation = %v, %v", got, err)
	}
	s1, err := s.Rotate(ctx, "acme", "cli:tester")
	if err != nil {
		t.Fatal(err)
	}
	if !secretRe.MatchString(s1) {
		t.Fatalf("secret %q is not xps_ and 32 bytes of base64url", s1)
	}
	// Rotate refreshes this process's cache at once.
	if got, err := s.Secrets(ctx, "acme"); err != nil || !slices.Equal(got, []string{s1}) {
		t.Fatalf("Secrets after the first rotation = %v, %v", got, err)
	}
	s2, err := s.Rotate(ctx, "acme", "cli:tester")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Secrets(ctx, "acme"); !slices.Equal(got, []string{s2, s1}) {
		t.Fatalf("after the second rotation: %v, want the new and the previous", got)
	}
	s3, err := s.Rotate(ctx, "acme", "api:admin")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Secrets(ctx, "acme"); !slices.Equal(got, []string{s3, s2}) {
		t.Fatalf("after the third rotation: %v, want s3, s2 (s1 revoked)", got)
	}
	if s1 == s2 || s2 == s3 {
		t.Fatal("rotation repeated a secret")
	}
	// Another partner is independent.
	b1, err := s.Rotate(ctx, "beta", "cli:tester")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Secrets(ctx, "beta"); !slices.Equal(got, []string{b1}) {
		t.Fatalf("beta: %v", got)
	}

	vs, err := s.List(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	type brief struct {
		v               uint32
		revoked, active bool
		by              string
	}
	var got []brief
	for _, v := range vs {
		got = append(got, brief{v.Version, v.Revoked, v.Active, v.CreatedBy})
		if v.CreatedAt.IsZero() || v.Partner != "acme" || v.sealed != nil {
			t.Errorf("version %+v", v)
		}
	}
	want := []brief{{3, false, true, "api:admin"}, {2, false, true, "cli:tester"}, {1, true, false, "cli:tester"}}
	if !slices.Equal(got, want) {
		t.Fatalf("List = %+v, want %+v", got, want)
	}

	// Stored sealed only; the revoked version's secret is gone from its
	// winning row.
	rows, err := db.Pool.Query(ctx, "SELECT version, coalesce(sealed, ''), revoked_at IS NOT NULL FROM partner_secrets WHERE partner = 'acme' ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Version uint32
		Sealed  []byte
		Revoked bool
	}
	stored, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range stored {
		for _, sec := range []string{s1, s2, s3, strings.TrimPrefix(s1, SecretPrefix)} {
			if strings.Contains(string(r.Sealed), sec) {
				t.Fatalf("version %d stored in the clear", r.Version)
			}
		}
		if (r.Version == 1) != r.Revoked || (r.Version == 1) != (len(r.Sealed) == 0) {
			t.Fatalf("row of version %d: revoked %v, sealed %d bytes", r.Version, r.Revoked, len(r.Sealed))
		}
	}

	// A second process (another server) sees the same secrets.
	other := NewStore(db.Pool, testKey(t, 1), nil)
	if got, err := other.Secrets(ctx, "acme"); err != nil || !slices.Equal(got, []string{s3, s2}) {
		t.Fatalf("another store: %v, %v", got, err)
	}

	// Bad input.
	if _, err := s.Rotate(ctx, "", "x"); err == nil {
		t.Fatal("Rotate with no partner succeeded")
	}
	if _, err := s.Rotate(ctx, "acme", " "); err == nil {
		t.Fatal("Rotate with no actor succeeded")
	}
}

func TestStoreWrongKeyAndMovedSecret(t *testing.T) {
	db := newDB(t)
	ctx := context.Background()
	s := NewStore(db.Pool, testKey(t, 1), nil)
	if _, err := s.Rotate(ctx, "acme", "t"); err != nil {
		t.Fatal(err)
	}
	wrong := NewStore(db.Pool, testKey(t, 2), nil)
	_, err := wrong.Secrets(ctx, "acme")
	if !errors.Is(err, secrets.ErrWrongKey) || !strings.Contains(err.Error(), "cannot decrypt: wrong XPROMO_SECRET_KEY?") || !strings.Contains(err.Error(), "acme") {
		t.Fatalf("Secrets with another server key: %v", err)
	}

	// A sealed secret copied to another partner's row does not open there.
	if _, err := db.Pool.Exec(ctx, "INSERT INTO partner_secrets SELECT 'evil', version, sealed, created_at, created_by, revoked_at FROM partner_secrets WHERE partner = 'acme'"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Secrets(ctx, "evil"); !errors.Is(err, secrets.ErrCorrupt) {
		t.Fatalf("Secrets of a moved secret: %v, want ErrCorrupt", err)
	}
}

func TestStoreCache(t *testing.T) {
	db := newDB(t)
	ctx := context.Background()
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	server := NewStore(db.Pool, testKey(t, 1), testenv.Logger(t))
	server.now = clock
	cli := NewStore(db.Pool, testKey(t, 1), nil)

	s1, err := cli.Rotate(ctx, "acme", "t")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := server.Secrets(ctx, "acme"); !slices.Equal(got, []string{s1}) {
		t.Fatalf("first read: %v", got)
	}
	s2, err := cli.Rotate(ctx, "acme", "t") // another process rotates
	if err != nil {
		t.Fatal(err)
	}
	advance(DefaultRefresh - time.Second)
	if got, _ := server.Secrets(ctx, "acme"); !slices.Equal(got, []string{s1}) {
		t.Fatalf("within Refresh the cached copy serves: %v", got)
	}
	advance(2 * time.Second)
	if got, _ := server.Secrets(ctx, "acme"); !slices.Equal(got, []string{s2, s1}) {
		t.Fatalf("after Refresh: %v", got)
	}
	// The returned slice is a copy.
	got, _ := server.Secrets(ctx, "acme")
	got[0] = "changed"
	if again, _ := server.Secrets(ctx, "acme"); again[0] != s2 {
		t.Fatal("a caller changed the cache")
	}

	// PostgreSQL gone: the copy serves until MaxStale, then Secrets fails.
	broken := NewStore(closedPool(t, db), testKey(t, 1), testenv.Logger(t))
	broken.now = clock
	broken.set("acme", []string{s2, s1}, clock())
	advance(DefaultRefresh + time.Second)
	if got, err := broken.Secrets(ctx, "acme"); err != nil || !slices.Equal(got, []string{s2, s1}) {
		t.Fatalf("stale copy while PostgreSQL fails: %v, %v", got, err)
	}
	advance(MaxStale)
	if got, err := broken.Secrets(ctx, "acme"); err == nil {
		t.Fatalf("Secrets after MaxStale without PostgreSQL = %v", got)
	}
	if _, err := broken.Secrets(ctx, "beta"); err == nil {
		t.Fatal("Secrets of an uncached partner without PostgreSQL succeeded")
	}
}

// closedPool is a pool on db that has been closed: every query fails.
func closedPool(t *testing.T, db *testenv.PG) *pgxpool.Pool {
	t.Helper()
	pool, err := pgdb.Open(context.Background(), db.URL, false)
	if err != nil {
		t.Fatal(err)
	}
	pool.Close()
	return pool
}

// newDB is a fresh catalog database holding the partners the tests give
// secrets to (a secret belongs to a partner that exists).
func newDB(t *testing.T) *testenv.PG {
	t.Helper()
	db := testenv.Postgres(t)
	cs := catalog.NewStore(db.Pool)
	for _, id := range []string{"acme", "beta", "evil"} {
		if _, err := cs.AddPartner(context.Background(), catalog.Partner{ID: id, Name: id}, "test"); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func TestStoreCheckKey(t *testing.T) {
	db := newDB(t)
	ctx := context.Background()
	s := NewStore(db.Pool, testKey(t, 1), nil)
	wrong := NewStore(db.Pool, testKey(t, 2), nil)
	if err := wrong.CheckKey(ctx); err != nil {
		t.Fatalf("CheckKey on an empty table: %v", err)
	}
	if _, err := s.Rotate(ctx, "acme", "t"); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckKey(ctx); err != nil {
		t.Fatalf("CheckKey with the right key: %v", err)
	}
	if err := wrong.CheckKey(ctx); !errors.Is(err, secrets.ErrWrongKey) {
		t.Fatalf("CheckKey with another key: %v", err)
	}
}

// TestRotateRace: two processes (two pools) each rotating one partner's
// secret 50 times at once end with versions 1..100, no gap, no repeat,
// and only the newest two valid.
func TestRotateRace(t *testing.T) {
	db := newDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	other, err := pgdb.Open(ctx, db.URL, false)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	const each = 50
	var wg sync.WaitGroup
	errs := make(chan error, 2*each)
	for _, pool := range []*pgxpool.Pool{db.Pool, other} {
		s := NewStore(pool, testKey(t, 1), nil)
		wg.Go(func() {
			for range each {
				if _, err := s.Rotate(ctx, "acme", "race"); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Rotate: %v", err)
	}
	vs, err := NewStore(db.Pool, nil, nil).List(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2*each {
		t.Fatalf("%d versions, want %d", len(vs), 2*each)
	}
	for i, v := range vs {
		want := uint32(2*each - i)
		if v.Version != want || v.Active != (i < ActiveVersions) || v.Revoked != (i >= ActiveVersions) {
			t.Fatalf("version #%d = %+v, want version %d", i, v, want)
		}
	}
}
