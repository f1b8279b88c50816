package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/lib/pgdb"
	"github.com/xpromo/xpromo/lib/plaintext"
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
	version int32
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

// Store reads and writes the tokens table in PostgreSQL.
type Store struct {
	db  *pgxpool.Pool
	now func() time.Time
}

// NewStore returns a Store on db.
func NewStore(db *pgxpool.Pool) *Store { return &Store{db: db, now: time.Now} }

const (
	tokenColumns = `id, secret_hash, role, countries, partner, name, created_at, expires_at, revoked_at, created_by, revoked_by, version`
	selectTokens = `SELECT ` + tokenColumns + ` FROM tokens`
	insertToken  = `INSERT INTO tokens (` + tokenColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`
	// Only a token not revoked is revoked: of two revokes at once, one
	// updates the row and the other finds it revoked.
	revokeToken = `UPDATE tokens SET revoked_at = $2, revoked_by = $3, version = version + 1
WHERE id = $1 AND revoked_at IS NULL RETURNING ` + tokenColumns
)

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
		sp.ExpiresAt = sp.ExpiresAt.UTC().Truncate(time.Second) // tokens are kept in whole seconds
		if !sp.ExpiresAt.After(now) {
			return sp, &catalog.FieldError{Field: "expires_at", Reason: "must be in the future"}
		}
	}
	return sp, nil
}

// Create stores a new token and returns its string, which is shown once
// and cannot be recovered, and the stored record.
func (s *Store) Create(ctx context.Context, spec Spec) (string, Token, error) {
	return s.CreateAudited(ctx, spec, nil)
}

// CreateAudited is Create that also files the creation (AuditEntry, by
// spec.CreatedBy) in audit's log, in the same transaction: a token is
// never made without its record. A nil audit files nothing.
func (s *Store) CreateAudited(ctx context.Context, spec Spec, audit *catalog.Store) (string, Token, error) {
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
		version:   1,
	}
	if t.Countries == nil {
		t.Countries = []string{}
	}
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, insertToken, t.ID, t.hash[:], string(t.Role), t.Countries, t.Partner, t.Name,
			t.CreatedAt, pgdb.NullTime(t.ExpiresAt), pgdb.NullTime(t.RevokedAt), t.CreatedBy, t.RevokedBy, t.version); err != nil {
			return err
		}
		return s.audit(ctx, tx, audit, spec.CreatedBy, catalog.ActionCreate, nil, t)
	})
	if err != nil {
		return "", Token{}, fmt.Errorf("create token %s: %w", id, err)
	}
	return token, t, nil
}

// Revoke sets the token's revoked_at. Revoking a revoked token changes
// nothing: it returns the token as it is and ErrAlreadyRevoked, also to
// the loser of two revokes at once.
func (s *Store) Revoke(ctx context.Context, id, by string) (Token, error) {
	return s.RevokeAudited(ctx, id, by, nil)
}

// RevokeAudited is Revoke that also files the revocation (AuditEntry, by
// by, with the token before and after) in audit's log, in the same
// transaction. A nil audit files nothing.
func (s *Store) RevokeAudited(ctx context.Context, id, by string, audit *catalog.Store) (Token, error) {
	if !ValidTokenID(id) {
		return Token{}, fmt.Errorf("revoke token: %w", &catalog.FieldError{Field: "id", Reason: fmt.Sprintf("%q is not a token id (12 characters a-z, 2-7)", id)})
	}
	by, err := validText("revoked_by", by)
	if err != nil {
		return Token{}, fmt.Errorf("revoke token %s: %w", id, err)
	}
	var (
		t       Token
		already bool
	)
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, revokeToken, id, s.now().UTC().Truncate(time.Second), by)
		if err != nil {
			return err
		}
		t, err = pgx.CollectExactlyOneRow(rows, scanToken)
		if errors.Is(err, pgx.ErrNoRows) {
			// Not there, or revoked already (by another writer, maybe just
			// now: the UPDATE waited for it and found the row revoked).
			rows, err := tx.Query(ctx, selectTokens+` WHERE id = $1`, id)
			if err != nil {
				return err
			}
			t, err = pgx.CollectExactlyOneRow(rows, scanToken)
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrNotFound
			}
			already = err == nil
			return err
		}
		if err != nil {
			return err
		}
		before := t
		before.RevokedAt, before.RevokedBy, before.version = time.Time{}, "", t.version-1
		return s.audit(ctx, tx, audit, by, catalog.ActionRevoke, &before, t)
	})
	switch {
	case err != nil:
		return Token{}, fmt.Errorf("revoke token %s: %w", id, err)
	case already:
		return t, fmt.Errorf("revoke token %s: %w", id, ErrAlreadyRevoked)
	}
	return t, nil
}

// audit files a token change in tx when audit is set.
func (s *Store) audit(ctx context.Context, tx pgx.Tx, audit *catalog.Store, actor, action string, before *Token, after Token) error {
	if audit == nil {
		return nil
	}
	e, err := AuditEntry(actor, action, before, after)
	if err != nil {
		return err
	}
	return audit.AuditTx(ctx, tx, e)
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

// scanToken reads a row of tokenColumns.
func scanToken(row pgx.CollectableRow) (Token, error) {
	var (
		t                Token
		hash             []byte
		role             string
		expires, revoked *time.Time
	)
	if err := row.Scan(&t.ID, &hash, &role, &t.Countries, &t.Partner, &t.Name, &t.CreatedAt,
		&expires, &revoked, &t.CreatedBy, &t.RevokedBy, &t.version); err != nil {
		return t, err
	}
	copy(t.hash[:], hash) // the table holds 32 bytes (CHECK)
	t.Role = access.Role(role)
	t.CreatedAt = t.CreatedAt.UTC()
	t.ExpiresAt = pgdb.TimeOrZero(expires)
	t.RevokedAt = pgdb.TimeOrZero(revoked)
	if t.Countries == nil {
		t.Countries = []string{}
	}
	return t, nil
}

func (s *Store) query(ctx context.Context, q string, args ...any) ([]Token, error) {
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanToken)
}

// WithClock makes s read the time of its business rules from now
// instead of the wall clock (tests move it); it returns s.
func (s *Store) WithClock(now func() time.Time) *Store {
	s.now = now
	return s
}
