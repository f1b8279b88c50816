package postback

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/lib/pgdb"
	"github.com/xpromo/xpromo/lib/plaintext"
	"github.com/xpromo/xpromo/lib/secrets"
)

// Secrets and their cache.
const (
	SecretPrefix   = "xps_"
	secretBytes    = 32
	ActiveVersions = 2               // the newest two versions not revoked are valid
	DefaultRefresh = 5 * time.Second // how long Secrets trusts its cached copy
	// MaxStale is how long cached secrets go on serving while PostgreSQL
	// cannot be read; after that Secrets fails (the handler answers 503).
	MaxStale = 10 * time.Minute
	// retryAfterFailure spaces reloads while PostgreSQL fails and a stale
	// copy is served.
	retryAfterFailure = time.Second
	loadTimeout       = 5 * time.Second
)

const (
	selectSecrets = `SELECT version, sealed, created_at, created_by, revoked_at IS NOT NULL FROM partner_secrets WHERE partner = $1 ORDER BY version`
	insertSecret  = `INSERT INTO partner_secrets (partner, version, sealed, created_at, created_by)
SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4 FROM partner_secrets WHERE partner = $1 RETURNING version`
	// Every version older than the newest one not revoked before this
	// rotation is revoked, its sealed secret dropped: that one and the new
	// one stay valid.
	revokeOlder = `UPDATE partner_secrets SET revoked_at = $3, sealed = NULL WHERE partner = $1 AND revoked_at IS NULL
AND version < (SELECT max(version) FROM partner_secrets WHERE partner = $1 AND revoked_at IS NULL AND version < $2)`
	// Rotations of one partner wait for each other on this lock: without
	// it, the loser of the race for a version number could lose every
	// retry to the winner's next rotation.
	lockRotation = `SELECT pg_advisory_xact_lock(hashtext('partner_secrets'), hashtext($1))`
	// rotateAttempts bounds the retries of a rotation that lost its version
	// number to a writer that does not take the lock (a copy on upgrade).
	rotateAttempts = 3
)

// ErrConcurrentRotation means other processes kept rotating the same
// partner's secret while this one tried: nothing of this rotation is kept.
var ErrConcurrentRotation = errors.New("other rotations of this partner's secret kept taking the next version; nothing was changed: rotate again")

// Version describes one secret version; the secret itself is never part
// of it.
type Version struct {
	Partner   string    `json:"partner"`
	Version   uint32    `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	Revoked   bool      `json:"revoked"` // revoked explicitly (by a later rotation)
	Active    bool      `json:"active"`  // valid now: one of the newest two not revoked

	sealed []byte
}

// Store keeps partners' postback secrets in PostgreSQL, sealed with the
// server key and the partner id as additional data.
type Store struct {
	// Refresh is how long Secrets serves a partner's secrets from memory
	// before reading them again (DefaultRefresh when 0). A rotation made by
	// another process (the CLI) is seen within it. Set before use.
	Refresh time.Duration

	db  *pgxpool.Pool
	key *secrets.Key
	log *slog.Logger
	now func() time.Time

	mu    sync.Mutex
	cache map[string]*entry
}

type entry struct {
	mu       sync.Mutex
	ok       bool
	secrets  []string
	loaded   time.Time
	failedAt time.Time
}

// NewStore returns a Store on db sealing with key; log may be nil.
func NewStore(db *pgxpool.Pool, key *secrets.Key, log *slog.Logger) *Store {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{db: db, key: key, log: log, now: time.Now, cache: map[string]*entry{}}
}

func checkPartnerID(partner string) error {
	if partner == "" || len(partner) > 128 || !plaintext.Valid(partner) {
		return fmt.Errorf("partner id %q: want 1-128 bytes without control characters", partner)
	}
	return nil
}

// newSecret returns "xps_" and 32 random bytes in unpadded base64url.
func newSecret() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return SecretPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// versions reads every version of partner's secret, oldest first, with
// Active set.
func (s *Store) versions(ctx context.Context, partner string) ([]Version, error) {
	if !utf8.ValidString(partner) || strings.ContainsRune(partner, 0) {
		return nil, nil // PostgreSQL cannot hold such a key: no secret
	}
	rows, err := s.db.Query(ctx, selectSecrets, partner)
	if err != nil {
		return nil, fmt.Errorf("read secrets of %s: %w", partner, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Version, error) {
		v := Version{Partner: partner}
		err := row.Scan(&v.Version, &v.sealed, &v.CreatedAt, &v.CreatedBy, &v.Revoked)
		v.CreatedAt = v.CreatedAt.UTC()
		return v, err
	})
	if err != nil {
		return nil, fmt.Errorf("read secrets of %s: %w", partner, err)
	}
	active := 0
	for i := len(out) - 1; i >= 0 && active < ActiveVersions; i-- {
		if !out[i].Revoked {
			out[i].Active = true
			active++
		}
	}
	return out, nil
}

// open decrypts the active versions' secrets, newest first.
func (s *Store) open(partner string, vs []Version) ([]string, error) {
	var out []string
	for i := len(vs) - 1; i >= 0; i-- {
		if !vs[i].Active {
			continue
		}
		pt, err := s.key.Open(vs[i].sealed, []byte(partner))
		if err != nil {
			return nil, fmt.Errorf("secret %d of partner %s (server key %s): %w", vs[i].Version, partner, s.key.ID(), err)
		}
		out = append(out, string(pt))
	}
	return out, nil
}

// List returns every version of partner's secret, newest first, without
// the secrets.
func (s *Store) List(ctx context.Context, partner string) ([]Version, error) {
	vs, err := s.versions(ctx, partner)
	if err != nil {
		return nil, err
	}
	slices.Reverse(vs)
	for i := range vs {
		vs[i].sealed = nil
	}
	return vs, nil
}

// Rotate makes a new secret for partner and returns it; it is stored only
// sealed and cannot be read back. The previous secret stays valid until
// the next rotation, so the partner can switch without losing postbacks;
// every older one is revoked. actor is recorded as created_by.
//
// Versions are numbered without gaps: two processes rotating the same
// partner at once take turns (an advisory lock), and the primary key
// refuses a second version N whatever happens; a rotation it refuses
// tries again as N+1 (ErrConcurrentRotation after rotateAttempts).
func (s *Store) Rotate(ctx context.Context, partner, actor string) (string, error) {
	return s.RotateAudited(ctx, partner, actor, nil)
}

// RotateAudited is Rotate that also files the rotation
// (RotationAuditEntry) in audit's log, in the same transaction. A nil
// audit files nothing.
func (s *Store) RotateAudited(ctx context.Context, partner, actor string, audit *catalog.Store) (string, error) {
	if err := checkPartnerID(partner); err != nil {
		return "", err
	}
	actor = strings.TrimSpace(actor)
	if actor == "" || len(actor) > 200 || !plaintext.Valid(actor) {
		return "", errors.New("actor: is required, at most 200 bytes, no control characters")
	}
	secret, err := newSecret()
	if err != nil {
		return "", fmt.Errorf("rotate secret of %s: %w", partner, err)
	}
	sealed, err := s.key.Seal([]byte(secret), []byte(partner))
	if err != nil {
		return "", fmt.Errorf("rotate secret of %s: %w", partner, err)
	}
	now := s.now().UTC().Truncate(time.Second)
	for range rotateAttempts {
		err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, lockRotation, partner); err != nil {
				return err
			}
			var version uint32
			if err := tx.QueryRow(ctx, insertSecret, partner, sealed, now, actor).Scan(&version); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, revokeOlder, partner, version, now); err != nil {
				return err
			}
			if audit == nil {
				return nil
			}
			return audit.AuditTx(ctx, tx, RotationAuditEntry(actor, partner, version, s.key.ID()))
		})
		if _, lost := pgdb.Violation(err, pgdb.UniqueViolation); !lost {
			break
		}
	}
	if _, lost := pgdb.Violation(err, pgdb.UniqueViolation); lost {
		return "", fmt.Errorf("rotate secret of %s: %w", partner, ErrConcurrentRotation)
	}
	if _, missing := pgdb.Violation(err, pgdb.ForeignKeyViolation); missing {
		return "", fmt.Errorf("rotate secret of %s: partner %w", partner, catalog.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("rotate secret of %s: %w", partner, err)
	}
	// This process sees its rotation at once; others within Refresh.
	if list, err := s.load(ctx, partner); err == nil {
		s.set(partner, list, s.now())
	} else {
		s.Forget(partner)
	}
	return secret, nil
}

// Secrets returns partner's valid secrets, newest first (none: the
// partner has no secret yet). It answers from memory, reading PostgreSQL
// again when its copy is older than Refresh; while PostgreSQL fails it
// goes on with a copy up to MaxStale old. Call it only for partners that
// exist: every partner asked about is remembered.
func (s *Store) Secrets(ctx context.Context, partner string) ([]string, error) {
	e := s.entryOf(partner)
	e.mu.Lock()
	defer e.mu.Unlock()
	now := s.now()
	refresh := s.Refresh
	if refresh <= 0 {
		refresh = DefaultRefresh
	}
	if e.ok && now.Sub(e.loaded) < refresh {
		return slices.Clone(e.secrets), nil
	}
	stale := e.ok && now.Sub(e.loaded) < MaxStale
	if stale && now.Sub(e.failedAt) < retryAfterFailure {
		return slices.Clone(e.secrets), nil
	}
	list, err := s.load(ctx, partner)
	if err != nil {
		if stale {
			e.failedAt = now
			s.log.Warn("postback: cannot reload secrets, using the copy in memory", "partner", partner, "age", now.Sub(e.loaded).Round(time.Second), "err", err)
			return slices.Clone(e.secrets), nil
		}
		return nil, err
	}
	e.ok, e.secrets, e.loaded, e.failedAt = true, list, now, time.Time{}
	return slices.Clone(list), nil
}

func (s *Store) load(ctx context.Context, partner string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, loadTimeout)
	defer cancel()
	vs, err := s.versions(ctx, partner)
	if err != nil {
		return nil, err
	}
	return s.open(partner, vs)
}

// entryOf is partner's cache entry, made on first use.
func (s *Store) entryOf(partner string) *entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.cache[partner]
	if e == nil {
		e = &entry{}
		s.cache[partner] = e
	}
	return e
}

// set replaces partner's cached secrets.
func (s *Store) set(partner string, list []string, at time.Time) {
	e := s.entryOf(partner)
	e.mu.Lock()
	e.ok, e.secrets, e.loaded, e.failedAt = true, list, at, time.Time{}
	e.mu.Unlock()
}

// Forget drops partner's cached secrets: the next Secrets reads them
// again (e.g. when told that another process rotated them).
func (s *Store) Forget(partner string) {
	s.mu.Lock()
	delete(s.cache, partner)
	s.mu.Unlock()
}

// CheckKey reports whether the server key opens the secrets already
// stored (a few of the newest, of any partner): a CLI started without the
// servers' XPROMO_SECRET_KEY must not seal new secrets the servers cannot
// read. An empty table passes.
func (s *Store) CheckKey(ctx context.Context) error {
	rows, err := s.db.Query(ctx, `SELECT partner, version, sealed FROM partner_secrets WHERE revoked_at IS NULL ORDER BY created_at DESC LIMIT 20`)
	if err != nil {
		return fmt.Errorf("check the server key: %w", err)
	}
	type stored struct {
		Partner string
		Version uint32
		Sealed  []byte
	}
	found, err := pgx.CollectRows(rows, pgx.RowToStructByPos[stored])
	if err != nil {
		return fmt.Errorf("check the server key: %w", err)
	}
	for _, r := range found {
		if _, err := s.key.Open(r.Sealed, []byte(r.Partner)); errors.Is(err, secrets.ErrWrongKey) {
			return fmt.Errorf("server key %s does not open the stored secrets (secret %d of partner %s): %w", s.key.ID(), r.Version, r.Partner, err)
		}
	}
	return nil
}

// WithClock makes s read the time of its business rules from now
// instead of the wall clock (tests move it); it returns s.
func (s *Store) WithClock(now func() time.Time) *Store {
	s.now = now
	return s
}
