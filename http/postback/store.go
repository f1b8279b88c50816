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

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/xpromo/xpromo/lib/plaintext"
	"github.com/xpromo/xpromo/lib/secrets"
	"github.com/xpromo/xpromo/schema"
)

// Secrets and their cache.
const (
	SecretPrefix   = "xps_"
	secretBytes    = 32
	ActiveVersions = 2               // the newest two versions not revoked are valid
	DefaultRefresh = 5 * time.Second // how long Secrets trusts its cached copy
	// MaxStale is how long cached secrets go on serving while ClickHouse
	// cannot be read; after that Secrets fails (the handler answers 503).
	MaxStale = 10 * time.Minute
	// retryAfterFailure spaces reloads while ClickHouse fails and a stale
	// copy is served.
	retryAfterFailure = time.Second
	loadTimeout       = 5 * time.Second
)

const (
	selectSecrets = `SELECT version, sealed, created_at, created_by, revoked FROM partner_secrets WHERE partner = ? ORDER BY version`
)

// ErrConcurrentRotation means another process rotated the same partner's
// secret at the same moment: neither new secret is kept.
var ErrConcurrentRotation = errors.New("another rotation of this partner's secret ran at the same time; both new secrets are revoked: rotate again")

// Version describes one secret version; the secret itself is never part
// of it.
type Version struct {
	Partner   string    `json:"partner"`
	Version   uint32    `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	Revoked   bool      `json:"revoked"` // revoked explicitly (by a later rotation)
	Active    bool      `json:"active"`  // valid now: one of the newest two not revoked

	sealed [][]byte // distinct sealed values (more than one only after a concurrent rotation, until merged)
}

// Store keeps partners' postback secrets in ClickHouse, sealed with the
// server key and the partner id as additional data.
type Store struct {
	// Refresh is how long Secrets serves a partner's secrets from memory
	// before reading them again (DefaultRefresh when 0). A rotation made by
	// another process (the CLI) is seen within it. Set before use.
	Refresh time.Duration

	conn     driver.Conn
	key      *secrets.Key
	log      *slog.Logger
	now      func() time.Time
	rotateMu sync.Mutex

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

// NewStore returns a Store on conn sealing with key; log may be nil.
func NewStore(conn driver.Conn, key *secrets.Key, log *slog.Logger) *Store {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{conn: conn, key: key, log: log, now: time.Now, cache: map[string]*entry{}}
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
// Active set. Rows of one version are merged: a revocation row wins (so
// does a merge: revoked is the table's replacing version).
func (s *Store) versions(ctx context.Context, partner string) ([]Version, error) {
	var rows []struct {
		Version   uint32    `ch:"version"`
		Sealed    string    `ch:"sealed"`
		CreatedAt time.Time `ch:"created_at"`
		CreatedBy string    `ch:"created_by"`
		Revoked   uint8     `ch:"revoked"`
	}
	if err := s.conn.Select(ctx, &rows, selectSecrets, partner); err != nil {
		return nil, fmt.Errorf("read secrets of %s: %w", partner, err)
	}
	var out []Version
	for _, r := range rows {
		if len(out) == 0 || out[len(out)-1].Version != r.Version {
			out = append(out, Version{Partner: partner, Version: r.Version, CreatedAt: r.CreatedAt.UTC(), CreatedBy: r.CreatedBy})
		}
		cur := &out[len(out)-1]
		if r.Revoked != 0 {
			cur.Revoked = true
		} else if r.Sealed != "" && !slices.ContainsFunc(cur.sealed, func(b []byte) bool { return string(b) == r.Sealed }) {
			cur.sealed = append(cur.sealed, []byte(r.Sealed))
			cur.CreatedAt, cur.CreatedBy = r.CreatedAt.UTC(), r.CreatedBy
		}
	}
	active := 0
	for i := len(out) - 1; i >= 0 && active < ActiveVersions; i-- {
		if !out[i].Revoked && len(out[i].sealed) > 0 {
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
		for _, sealed := range vs[i].sealed {
			pt, err := s.key.Open(sealed, []byte(partner))
			if err != nil {
				return nil, fmt.Errorf("secret %d of partner %s (server key %s): %w", vs[i].Version, partner, s.key.ID(), err)
			}
			out = append(out, string(pt))
		}
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
// Rotations in one process are serialised. Two processes rotating the
// same partner at the same moment both get ErrConcurrentRotation when
// they see each other (the version they both wrote is revoked).
func (s *Store) Rotate(ctx context.Context, partner, actor string) (string, error) {
	if err := checkPartnerID(partner); err != nil {
		return "", err
	}
	actor = strings.TrimSpace(actor)
	if actor == "" || len(actor) > 200 || !plaintext.Valid(actor) {
		return "", errors.New("actor: is required, at most 200 bytes, no control characters")
	}
	s.rotateMu.Lock()
	defer s.rotateMu.Unlock()
	vs, err := s.versions(ctx, partner)
	if err != nil {
		return "", err
	}
	var next uint32 = 1
	keep := -1 // the newest version not revoked stays valid
	for i, v := range vs {
		next = max(next, v.Version+1)
		if !v.Revoked && len(v.sealed) > 0 {
			keep = i
		}
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
	rows := []secretRow{{next, string(sealed), now, actor, 0}}
	for i, v := range vs {
		if i != keep && !v.Revoked {
			rows = append(rows, secretRow{v.Version, "", v.CreatedAt, v.CreatedBy, 1})
		}
	}
	if err := s.insert(ctx, partner, rows); err != nil {
		return "", err
	}

	// Read back: the new version must hold our secret alone.
	vs, err = s.versions(ctx, partner)
	if err != nil {
		return "", fmt.Errorf("rotate secret of %s: stored, but cannot read it back (do not use it; rotate again): %w", partner, err)
	}
	for _, v := range vs {
		if v.Version != next {
			continue
		}
		if len(v.sealed) != 1 || string(v.sealed[0]) != string(sealed) {
			_ = s.insert(context.WithoutCancel(ctx), partner, []secretRow{{next, "", now, actor, 1}})
			s.Forget(partner)
			return "", fmt.Errorf("rotate secret of %s: %w", partner, ErrConcurrentRotation)
		}
	}
	if list, err := s.open(partner, vs); err == nil {
		s.set(partner, list, s.now())
	} else {
		s.Forget(partner)
	}
	return secret, nil
}

// secretRow is one row of partner_secrets (the partner aside). A
// revocation repeats a version with revoked 1 and no sealed secret.
type secretRow struct {
	version   uint32
	sealed    string
	createdAt time.Time
	createdBy string
	revoked   uint8
}

func (s *Store) insert(ctx context.Context, partner string, rows []secretRow) error {
	batch, err := s.conn.PrepareBatch(ctx, schema.PartnerSecrets.Insert())
	if err != nil {
		return fmt.Errorf("write secrets of %s: %w", partner, err)
	}
	defer batch.Close()
	for _, r := range rows {
		if err := batch.Append(partner, r.version, r.sealed, r.createdAt, r.createdBy, r.revoked); err != nil {
			return fmt.Errorf("write secrets of %s: %w", partner, err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("write secrets of %s: %w", partner, err)
	}
	return nil
}

// Secrets returns partner's valid secrets, newest first (none: the
// partner has no secret yet). It answers from memory, reading ClickHouse
// again when its copy is older than Refresh; while ClickHouse fails it
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
	rows, err := s.conn.Query(ctx, `SELECT partner, version, sealed FROM partner_secrets WHERE revoked = 0 AND sealed != '' ORDER BY created_at DESC LIMIT 20`)
	if err != nil {
		return fmt.Errorf("check the server key: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			partner, sealed string
			version         uint32
		)
		if err := rows.Scan(&partner, &version, &sealed); err != nil {
			return fmt.Errorf("check the server key: %w", err)
		}
		if _, err := s.key.Open([]byte(sealed), []byte(partner)); errors.Is(err, secrets.ErrWrongKey) {
			return fmt.Errorf("server key %s does not open the stored secrets (secret %d of partner %s): %w", s.key.ID(), version, partner, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("check the server key: %w", err)
	}
	return nil
}

// WithClock makes s read the time of its business rules from now
// instead of the wall clock (tests move it); it returns s.
func (s *Store) WithClock(now func() time.Time) *Store {
	s.now = now
	return s
}
