package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/lib/plaintext"
	"github.com/xpromo/xpromo/schema"
)

// ErrNotFound is returned for a token id that does not exist.
var ErrNotFound = errors.New("token not found")

// ErrAlreadyRevoked is returned, with the token as it is, by Revoke of a
// revoked token.
var ErrAlreadyRevoked = errors.New("token already revoked")

// Token is a stored token without its secret or hash, safe to list.
type Token struct {
	ID        string      `json:"id"`
	Role      access.Role `json:"role"`
	Countries []string    `json:"countries"`
	Partner   string      `json:"partner"`
	Name      string      `json:"name"`
	CreatedAt time.Time   `json:"created_at"`
	ExpiresAt time.Time   `json:"expires_at,omitzero"` // zero: never
	RevokedAt time.Time   `json:"revoked_at,omitzero"` // zero: not revoked
	CreatedBy string      `json:"created_by"`
	RevokedBy string      `json:"revoked_by,omitempty"`

	hash    [sha256.Size]byte // unexported: never marshalled
	version uint64
}

// Principal is who a request carrying this token acts as.
func (t Token) Principal() access.Principal {
	return access.Principal{TokenID: t.ID, Name: t.Name, Role: t.Role, Countries: slices.Clone(t.Countries), Partner: t.Partner}
}

// Revoked reports whether the token has been revoked.
func (t Token) Revoked() bool { return !t.RevokedAt.IsZero() }

// Expired reports whether the token has expired at now.
func (t Token) Expired(now time.Time) bool { return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) }

// Spec describes a token to create.
type Spec struct {
	Role      access.Role
	Countries []string // country_manager: one or more ISO 3166-1 alpha-2 codes
	Partner   string   // partner: the partner id
	Name      string   // what the token is for
	ExpiresAt time.Time
	CreatedBy string // who asked, for the record
}

// Store reads and writes the tokens table.
type Store struct {
	conn driver.Conn
	now  func() time.Time
}

// NewStore returns a Store on conn.
func NewStore(conn driver.Conn) *Store { return &Store{conn: conn, now: time.Now} }

const (
	selectTokens = `SELECT id, secret_hash, toString(role), countries, partner, name, created_at, expires_at, revoked_at, created_by, revoked_by, version FROM tokens FINAL`
)

// epoch stands for "never" in expires_at and "not revoked" in revoked_at.
var epoch = time.Unix(0, 0).UTC()

const maxText = 200

func validText(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxText || !plaintext.Valid(s) {
		return "", &catalog.FieldError{Field: field, Reason: fmt.Sprintf("at most %d bytes of UTF-8, no control characters", maxText)}
	}
	return s, nil
}

// Validate checks and normalises a spec: country managers need at least one
// valid country, partners a partner id (its existence is the caller's
// business), and no other role may carry either.
func (sp Spec) Validate(now time.Time) (Spec, error) {
	if !sp.Role.Valid() {
		_, err := access.ParseRole(string(sp.Role))
		return sp, &catalog.FieldError{Field: "role", Reason: err.Error()}
	}
	var countries []string
	for _, cc := range sp.Countries {
		cc = strings.ToUpper(strings.TrimSpace(cc))
		if cc == "" {
			continue
		}
		if err := catalog.ValidCountry("countries", cc); err != nil {
			return sp, err
		}
		if !slices.Contains(countries, cc) {
			countries = append(countries, cc)
		}
	}
	slices.Sort(countries)
	sp.Countries = countries
	sp.Partner = strings.TrimSpace(sp.Partner)
	switch sp.Role {
	case access.RoleCountryManager:
		if len(countries) == 0 {
			return sp, &catalog.FieldError{Field: "countries", Reason: "a country_manager token needs at least one country"}
		}
		if sp.Partner != "" {
			return sp, &catalog.FieldError{Field: "partner", Reason: "only a partner token names a partner"}
		}
	case access.RolePartner:
		if err := catalog.ValidID("partner", sp.Partner); err != nil {
			return sp, err
		}
		if len(countries) > 0 {
			return sp, &catalog.FieldError{Field: "countries", Reason: "only a country_manager token names countries"}
		}
	default:
		if len(countries) > 0 {
			return sp, &catalog.FieldError{Field: "countries", Reason: "only a country_manager token names countries"}
		}
		if sp.Partner != "" {
			return sp, &catalog.FieldError{Field: "partner", Reason: "only a partner token names a partner"}
		}
	}
	var err error
	if sp.Name, err = validText("name", sp.Name); err != nil {
		return sp, err
	}
	if sp.CreatedBy, err = validText("created_by", sp.CreatedBy); err != nil {
		return sp, err
	}
	if !sp.ExpiresAt.IsZero() {
		sp.ExpiresAt = sp.ExpiresAt.UTC().Truncate(time.Second) // DateTime has seconds
		if !sp.ExpiresAt.After(now) || !sp.ExpiresAt.After(epoch) {
			return sp, &catalog.FieldError{Field: "expires_at", Reason: "must be in the future"}
		}
	}
	return sp, nil
}

// Create stores a new token and returns its string, which is shown once
// and cannot be recovered, and the stored record.
func (s *Store) Create(ctx context.Context, spec Spec) (string, Token, error) {
	now := s.now().UTC()
	spec, err := spec.Validate(now)
	if err != nil {
		return "", Token{}, fmt.Errorf("create token: %w", err)
	}
	token, id, hash, err := generate()
	if err != nil {
		return "", Token{}, fmt.Errorf("create token: %w", err)
	}
	t := Token{
		ID:        id,
		Role:      spec.Role,
		Countries: spec.Countries,
		Partner:   spec.Partner,
		Name:      spec.Name,
		CreatedAt: now.Truncate(time.Second),
		ExpiresAt: spec.ExpiresAt,
		CreatedBy: spec.CreatedBy,
		hash:      hash,
		version:   uint64(now.UnixNano()),
	}
	if t.Countries == nil {
		t.Countries = []string{}
	}
	if err := s.write(ctx, t); err != nil {
		return "", Token{}, fmt.Errorf("create token %s: %w", id, err)
	}
	return token, t, nil
}

// Revoke writes a new version of the token with revoked_at set. Revoking a
// revoked token changes nothing: it returns the token as it is and
// ErrAlreadyRevoked.
func (s *Store) Revoke(ctx context.Context, id, by string) (Token, error) {
	if !ValidTokenID(id) {
		return Token{}, fmt.Errorf("revoke token: %w", &catalog.FieldError{Field: "id", Reason: fmt.Sprintf("%q is not a token id (12 characters a-z, 2-7)", id)})
	}
	by, err := validText("revoked_by", by)
	if err != nil {
		return Token{}, fmt.Errorf("revoke token %s: %w", id, err)
	}
	ts, err := s.query(ctx, selectTokens+` WHERE id = ?`, id)
	if err != nil {
		return Token{}, fmt.Errorf("revoke token %s: %w", id, err)
	}
	if len(ts) == 0 {
		return Token{}, fmt.Errorf("revoke token %s: %w", id, ErrNotFound)
	}
	t := ts[0]
	if t.Revoked() {
		return t, fmt.Errorf("revoke token %s: %w", id, ErrAlreadyRevoked)
	}
	now := s.now().UTC()
	t.RevokedAt = now.Truncate(time.Second)
	t.RevokedBy = by
	t.version = max(uint64(now.UnixNano()), t.version+1)
	if err := s.write(ctx, t); err != nil {
		return Token{}, fmt.Errorf("revoke token %s: %w", id, err)
	}
	return t, nil
}

// List returns every token, oldest first, without secrets or hashes.
func (s *Store) List(ctx context.Context) ([]Token, error) {
	ts, err := s.query(ctx, selectTokens+` ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return ts, nil
}

// Load reads every token, keyed by id, for a Verifier snapshot.
func (s *Store) Load(ctx context.Context) (map[string]Token, error) {
	ts, err := s.query(ctx, selectTokens)
	if err != nil {
		return nil, fmt.Errorf("load tokens: %w", err)
	}
	out := make(map[string]Token, len(ts))
	for _, t := range ts {
		out[t.ID] = t
	}
	return out, nil
}

func orEpoch(t time.Time) time.Time {
	if t.IsZero() {
		return epoch
	}
	return t.UTC()
}

func fromEpoch(t time.Time) time.Time {
	if !t.After(epoch) {
		return time.Time{}
	}
	return t.UTC()
}

func (s *Store) write(ctx context.Context, t Token) error {
	// INSERT ... VALUES through Exec hangs on 18.16: one row goes as a batch.
	batch, err := s.conn.PrepareBatch(ctx, schema.Tokens.Insert())
	if err != nil {
		return err
	}
	defer batch.Close()
	if err := batch.Append(t.ID, hex.EncodeToString(t.hash[:]), string(t.Role), t.Countries, t.Partner, t.Name,
		t.CreatedAt, orEpoch(t.ExpiresAt), orEpoch(t.RevokedAt), t.CreatedBy, t.RevokedBy, t.version); err != nil {
		return err
	}
	return batch.Send()
}

func (s *Store) query(ctx context.Context, q string, args ...any) ([]Token, error) {
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		var (
			t    Token
			hash string
			role string
		)
		if err := rows.Scan(&t.ID, &hash, &role, &t.Countries, &t.Partner, &t.Name, &t.CreatedAt,
			&t.ExpiresAt, &t.RevokedAt, &t.CreatedBy, &t.RevokedBy, &t.version); err != nil {
			return nil, err
		}
		h, err := hex.DecodeString(hash)
		if err != nil || len(h) != sha256.Size {
			// A damaged row can never verify; keep it listed so it can be revoked.
			h = make([]byte, sha256.Size)
		}
		copy(t.hash[:], h)
		t.Role = access.Role(role)
		t.CreatedAt = t.CreatedAt.UTC()
		t.ExpiresAt = fromEpoch(t.ExpiresAt)
		t.RevokedAt = fromEpoch(t.RevokedAt)
		if t.Countries == nil {
			t.Countries = []string{}
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// WithClock makes s read the time of its business rules from now
// instead of the wall clock (tests move it); it returns s.
func (s *Store) WithClock(now func() time.Time) *Store {
	s.now = now
	return s
}
