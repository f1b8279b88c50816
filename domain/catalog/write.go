package catalog

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/lib/pgdb"
	"github.com/xpromo/xpromo/lib/plaintext"
)

// Audit vocabulary for catalog changes (terms changes use ActionSetTerms).
const (
	EntityPartner = "partner"
	EntityLink    = "link"
	ActionCreate  = "create"
	ActionUpdate  = "update"
)

// Generated link codes: GeneratedCodeLen characters of codeAlphabet, which
// leaves out look-alikes (0/O, 1/l/I) so a code read aloud or from print
// survives. 31^8 ≈ 8.5e11 codes: collisions are retried, not expected.
const (
	GeneratedCodeLen = 8
	codeAlphabet     = "23456789abcdefghijkmnpqrstuvwxyz"
)

// NewCode returns a random link code.
func NewCode() string {
	b := make([]byte, GeneratedCodeLen)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	for i := range b {
		b[i] = codeAlphabet[int(b[i])%len(codeAlphabet)]
	}
	return string(b)
}

func checkActor(actor string) (string, error) {
	actor = strings.TrimSpace(actor)
	if actor == "" || len(actor) > 200 || !plaintext.Valid(actor) {
		return actor, fieldErr("actor", "is required, at most 200 bytes, no control characters")
	}
	return actor, nil
}

// wrapErr names op in err; nil stays nil. A field error, ErrExists,
// ErrNotFound and ErrStale are the caller's to show as they are.
func wrapErr(op string, err error) error {
	var fe *FieldError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &fe), errors.Is(err, ErrExists), errors.Is(err, ErrNotFound), errors.Is(err, ErrStale):
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}

// write runs fn in a transaction and tells the trackers after it commits.
// fn returns false when it found nothing to change.
func (s *Store) write(ctx context.Context, op string, fn func(tx pgx.Tx) (bool, error)) error {
	var changed bool
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if err := LockWrites(ctx, tx); err != nil {
			return err
		}
		var err error
		changed, err = fn(tx)
		return err
	})
	if err != nil {
		return wrapErr(op, err)
	}
	if changed {
		s.changed(ctx)
	}
	return nil
}

// auditChange writes the audit entry of one change in tx: the JSON of
// before (nil for a creation) and after.
func (s *Store) auditChange(ctx context.Context, tx pgx.Tx, actor, action, entity, id, country string, before, after any) error {
	e := AuditEntry{Actor: actor, Action: action, Entity: entity, EntityID: id, Country: country}
	if before != nil {
		b, err := json.Marshal(before)
		if err != nil {
			return err
		}
		e.Before = string(b)
	}
	a, err := json.Marshal(after)
	if err != nil {
		return err
	}
	e.After = string(a)
	return s.audit(ctx, tx, e)
}

// rowFor reads one row by key in tx with the given lock clause ("FOR
// UPDATE" to change it, "FOR SHARE" to keep it as it is until commit).
func rowFor[T any](ctx context.Context, tx pgx.Tx, query string, scan pgx.RowToFunc[T], key string) (T, bool, error) {
	if !storable(key) {
		var zero T
		return zero, false, nil
	}
	rows, err := tx.Query(ctx, query, key)
	if err != nil {
		var zero T
		return zero, false, err
	}
	v, err := pgx.CollectExactlyOneRow(rows, scan)
	if errors.Is(err, pgx.ErrNoRows) {
		return v, false, nil
	}
	return v, err == nil, err
}

// storable reports whether PostgreSQL can take s as text: valid UTF-8
// without NUL. A key or filter that is not cannot match a stored row,
// and PostgreSQL would refuse the query instead of finding nothing.
func storable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

const (
	partnerFor     = `SELECT ` + partnerRead + ` FROM partners WHERE id = $1`
	partnershipFor = `SELECT ` + partnershipRead + ` FROM partnerships WHERE id = $1`
	linkFor        = `SELECT ` + linkRead + ` FROM links WHERE code = $1`
	forUpdate      = ` FOR UPDATE`
	forShare       = ` FOR SHARE`
	// Every write of a row bumps its version and takes the next catalog
	// change number; the writer reads the new version back.
	bump = `version = version + 1, rev = nextval('catalog_rev'), updated_at = now()`
	// firstVersion is the version a new row starts at (the columns'
	// default).
	firstVersion = 1
)

func checkPartner(p *Partner) error {
	p.Name = strings.TrimSpace(p.Name)
	if p.Name == "" || len(p.Name) > 200 || !plaintext.Valid(p.Name) {
		return fieldErr("name", "is required, at most 200 bytes, no control characters")
	}
	var err error
	if p.Domains, err = normalizeDomains(p.Domains); err != nil {
		return err
	}
	if p.Countries, err = normalizeCountries(p.Countries); err != nil {
		return err
	}
	switch p.Status {
	case "":
		p.Status = StatusActive
	case StatusActive, StatusArchived:
	default:
		return fieldErr("status", "%q must be active or archived", p.Status)
	}
	return nil
}

// partnerCountry is the country an audit entry about p is filed under: its
// only country, or none (admin-only) when it has several or none.
func partnerCountry(p Partner) string {
	if len(p.Countries) == 1 {
		return p.Countries[0]
	}
	return ""
}

// AddPartner validates and stores a new partner.
func (s *Store) AddPartner(ctx context.Context, p Partner, actor string) (Partner, error) {
	const op = "add partner"
	if err := ValidID("id", p.ID); err != nil {
		return p, err
	}
	actor, err := checkActor(actor)
	if err != nil {
		return p, err
	}
	if err := checkPartner(&p); err != nil {
		return p, err
	}
	p.Version = firstVersion
	return p, s.write(ctx, op, func(tx pgx.Tx) (bool, error) {
		tag, err := tx.Exec(ctx, `INSERT INTO partners (`+partnerColumns+`) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING`,
			p.ID, p.Name, p.Domains, p.Status, p.Countries)
		if err != nil {
			return false, err
		}
		if tag.RowsAffected() == 0 {
			return false, fmt.Errorf("partner %q: %w", p.ID, ErrExists)
		}
		return true, s.auditChange(ctx, tx, actor, ActionCreate, EntityPartner, p.ID, partnerCountry(p), nil, p)
	})
}

// PartnerChange lists the fields to change; nil fields stay as they are.
// IfVersion, when not 0, is the version the change was made from: the
// change is refused with ErrStale if the partner is at another.
type PartnerChange struct {
	Name      *string   `json:"name"`
	Domains   *[]string `json:"domains"`
	Countries *[]string `json:"countries"`
	Status    *string   `json:"status"`
	IfVersion int       `json:"-"`
}

// UpdatePartner applies ch to partner id. A change that changes nothing
// writes nothing. Removing a domain makes outbound links to it answer 404.
func (s *Store) UpdatePartner(ctx context.Context, id string, ch PartnerChange, actor string) (Partner, error) {
	const op = "update partner"
	actor, err := checkActor(actor)
	if err != nil {
		return Partner{}, err
	}
	var out Partner
	err = s.write(ctx, op, func(tx pgx.Tx) (bool, error) {
		before, ok, err := rowFor(ctx, tx, partnerFor+forUpdate, scanPartner, id)
		if err != nil || !ok {
			return false, notFound(err, "partner", id)
		}
		if err := checkVersion("partner", id, ch.IfVersion, before.Version); err != nil {
			return false, err
		}
		out = before
		p := before
		changeTo(&p.Name, ch.Name)
		changeTo(&p.Domains, ch.Domains)
		changeTo(&p.Countries, ch.Countries)
		changeTo(&p.Status, ch.Status)
		if err := checkPartner(&p); err != nil {
			return false, err
		}
		if equalJSON(before, p) {
			return false, nil
		}
		if err := tx.QueryRow(ctx, `UPDATE partners SET name = $2, domains = $3, status = $4, countries = $5, `+bump+` WHERE id = $1 RETURNING version`,
			p.ID, p.Name, p.Domains, p.Status, p.Countries).Scan(&p.Version); err != nil {
			return false, err
		}
		out = p
		return true, s.auditChange(ctx, tx, actor, ActionUpdate, EntityPartner, p.ID, partnerCountry(p), before, p)
	})
	return out, err
}

// notFound is err, or ErrNotFound for what when err is nil (no row).
func notFound(err error, what, id string) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%s %q: %w", what, id, ErrNotFound)
}

func checkDirection(d string) error {
	switch d {
	case vocab.Inbound, vocab.Outbound, vocab.Both:
		return nil
	}
	return fieldErr("direction", "%q must be inbound, outbound or both", d)
}

// AddPartnership validates and stores a new partnership. Its terms are set
// separately (SetTerms); until then its links redirect as they are.
func (s *Store) AddPartnership(ctx context.Context, ps Partnership, actor string) (Partnership, error) {
	const op = "add partnership"
	if err := ValidID("id", ps.ID); err != nil {
		return ps, err
	}
	if err := ValidID("partner", ps.Partner); err != nil {
		return ps, err
	}
	ps.Country = strings.ToUpper(ps.Country)
	if err := ValidCountry("country", ps.Country); err != nil {
		return ps, err
	}
	if err := checkDirection(ps.Direction); err != nil {
		return ps, err
	}
	actor, err := checkActor(actor)
	if err != nil {
		return ps, err
	}
	ps.Version = firstVersion
	return ps, s.write(ctx, op, func(tx pgx.Tx) (bool, error) {
		// FOR SHARE: the partner cannot be archived until this commits.
		partner, ok, err := rowFor(ctx, tx, partnerFor+forShare, scanPartner, ps.Partner)
		if err != nil {
			return false, err
		}
		if !ok {
			return false, fieldErr("partner", "partner %q does not exist", ps.Partner)
		}
		if partner.Status == StatusArchived {
			return false, fieldErr("partner", "partner %q is archived", ps.Partner)
		}
		if err := insertPartnership(ctx, tx, ps); err != nil {
			return false, err
		}
		return true, s.auditChange(ctx, tx, actor, ActionCreate, EntityPartnership, ps.ID, ps.Country, nil, ps)
	})
}

// insertPartnership stores ps in tx. One agreement per partner and
// country (the table's unique key): a second one would split the pair's
// clicks, attribution and statements between two ids. A change of terms
// is a new terms version of the existing partnership.
func insertPartnership(ctx context.Context, tx pgx.Tx, ps Partnership) error {
	tag, err := tx.Exec(ctx, `INSERT INTO partnerships (`+partnershipColumns+`) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
		ps.ID, ps.Partner, ps.Country, ps.Direction)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return duplicatePartnership(ctx, tx, ps)
	}
	return nil
}

// duplicatePartnership says which key refused ps: its id, or its partner
// and country.
func duplicatePartnership(ctx context.Context, tx pgx.Tx, ps Partnership) error {
	var existing string
	err := tx.QueryRow(ctx, `SELECT id FROM partnerships WHERE id = $1 OR (partner = $2 AND country = $3) ORDER BY id = $1 DESC LIMIT 1`,
		ps.ID, ps.Partner, ps.Country).Scan(&existing)
	switch {
	case err != nil:
		return err
	case existing == ps.ID:
		return fmt.Errorf("partnership %q: %w", ps.ID, ErrExists)
	}
	return &DuplicatePartnershipError{Existing: existing, Partner: ps.Partner, Country: ps.Country}
}

// DuplicatePartnershipError is AddPartnership's answer when the partner
// already has a partnership in the country; it is also ErrExists.
type DuplicatePartnershipError struct {
	Existing, Partner, Country string
}

func (e *DuplicatePartnershipError) Error() string {
	return fmt.Sprintf("partner %q already has partnership %q in %s (one per partner and country; change its terms instead)", e.Partner, e.Existing, e.Country)
}

// Is makes errors.Is(err, ErrExists) true.
func (e *DuplicatePartnershipError) Is(target error) bool { return target == ErrExists }

// PartnershipChange lists the fields to change; nil fields stay. Partner
// and country are fixed: a different pair is a different agreement.
// IfVersion is as in PartnerChange.
type PartnershipChange struct {
	Direction *string `json:"direction"`
	IfVersion int     `json:"-"`
}

// UpdatePartnership applies ch. Narrowing the direction refuses while
// active links of the dropped direction exist (pause or archive them
// first), so no link stops working by surprise.
func (s *Store) UpdatePartnership(ctx context.Context, id string, ch PartnershipChange, actor string) (Partnership, error) {
	const op = "update partnership"
	actor, err := checkActor(actor)
	if err != nil {
		return Partnership{}, err
	}
	var out Partnership
	err = s.write(ctx, op, func(tx pgx.Tx) (bool, error) {
		// FOR UPDATE: links of the partnership are added under FOR SHARE
		// of this row, so none appears while the direction is checked.
		before, ok, err := rowFor(ctx, tx, partnershipFor+forUpdate, scanPartnership, id)
		if err != nil || !ok {
			return false, notFound(err, "partnership", id)
		}
		if err := checkVersion("partnership", id, ch.IfVersion, before.Version); err != nil {
			return false, err
		}
		out = before
		ps := before
		changeTo(&ps.Direction, ch.Direction)
		if err := checkDirection(ps.Direction); err != nil {
			return false, err
		}
		if ps.Direction != vocab.Both {
			var code, dir string
			err := tx.QueryRow(ctx, `SELECT code, direction FROM links WHERE partnership = $1 AND direction <> $2 AND status = $3 ORDER BY code LIMIT 1`,
				id, ps.Direction, StatusActive).Scan(&code, &dir)
			if err == nil {
				return false, fieldErr("direction", "active %s link %q would stop working; pause or archive it first", dir, code)
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return false, err
			}
		}
		if before == ps {
			return false, nil
		}
		if err := tx.QueryRow(ctx, `UPDATE partnerships SET direction = $2, `+bump+` WHERE id = $1 RETURNING version`, id, ps.Direction).Scan(&ps.Version); err != nil {
			return false, err
		}
		out = ps
		return true, s.auditChange(ctx, tx, actor, ActionUpdate, EntityPartnership, ps.ID, ps.Country, before, ps)
	})
	return out, err
}

func checkLinkFields(l *Link) error {
	if len(l.Campaign) > 128 || !plaintext.Valid(l.Campaign) {
		return fieldErr("campaign", "at most 128 bytes, no control characters")
	}
	switch l.Status {
	case "":
		l.Status = StatusActive
	case StatusActive, StatusPaused, StatusArchived:
	default:
		return fieldErr("status", "%q must be active, paused or archived", l.Status)
	}
	if !l.ExpiresAt.IsZero() {
		// DateTime keeps whole seconds from 1970 to 2105.
		l.ExpiresAt = l.ExpiresAt.UTC().Truncate(time.Second)
		if l.ExpiresAt.Before(minDateVal) || l.ExpiresAt.After(maxDateVal) {
			return fieldErr("expires_at", "must be between %s and %s", day(minDateVal), day(maxDateVal))
		}
	}
	return nil
}

// linkTarget checks l's URL against its partnership, read in tx and kept
// unchanged until tx ends (FOR SHARE), with its partner's domains. It
// returns the partnership.
func linkTarget(ctx context.Context, tx pgx.Tx, l *Link) (Partnership, error) {
	ps, ok, err := rowFor(ctx, tx, partnershipFor+forShare, scanPartnership, l.Partnership)
	if err != nil {
		return ps, err
	}
	if !ok {
		return ps, fieldErr("partnership", "partnership %q does not exist", l.Partnership)
	}
	if ps.Direction != vocab.Both && ps.Direction != l.Direction {
		return ps, fieldErr("direction", "partnership %q runs %s only", ps.ID, ps.Direction)
	}
	partner, _, err := rowFor(ctx, tx, partnerFor+forShare, scanPartner, ps.Partner)
	if err != nil {
		return ps, err
	}
	l.Partner = ps.Partner
	_, err = ValidDestination(l.URL, l.Direction == vocab.Outbound, partner.Domains)
	return ps, err
}

// AddLink validates and stores a new link. An empty Code gets a generated
// one (NewCode); a vanity code that is taken is ErrExists.
func (s *Store) AddLink(ctx context.Context, l Link, actor string) (Link, error) {
	const op = "add link"
	if l.Code != "" && !ValidCode(l.Code) {
		return l, fieldErr("code", "%q must be 1-64 of A-Z, a-z, 0-9, '-', '_'", l.Code)
	}
	if err := ValidID("partnership", l.Partnership); err != nil {
		return l, err
	}
	if _, err := vocab.ParseDirection(l.Direction); err != nil || l.Direction == "" {
		return l, fieldErr("direction", "%q must be inbound or outbound", l.Direction)
	}
	if err := checkLinkFields(&l); err != nil {
		return l, err
	}
	actor, err := checkActor(actor)
	if err != nil {
		return l, err
	}
	l.CreatedBy = actor
	l.Version = firstVersion
	vanity := l.Code != ""
	return l, s.write(ctx, op, func(tx pgx.Tx) (bool, error) {
		ps, err := linkTarget(ctx, tx, &l)
		if err != nil {
			return false, err
		}
		if err := insertLink(ctx, tx, &l, vanity); err != nil {
			return false, err
		}
		return true, s.auditChange(ctx, tx, actor, ActionCreate, EntityLink, l.Code, ps.Country, nil, l)
	})
}

// insertLink stores l in tx, with a generated code unless vanity. The
// primary key decides who gets a code: a taken vanity code is ErrExists,
// a taken generated one is drawn again.
func insertLink(ctx context.Context, tx pgx.Tx, l *Link, vanity bool) error {
	for range 10 {
		if !vanity {
			l.Code = NewCode()
		}
		tag, err := tx.Exec(ctx, `INSERT INTO links (`+linkColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (code) DO NOTHING`,
			l.Code, l.Partnership, l.Partner, l.Direction, l.URL, l.Campaign, l.Status, pgdb.NullTime(l.ExpiresAt), l.CreatedBy)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			return nil
		}
		if vanity {
			return fmt.Errorf("link %q: %w", l.Code, ErrExists)
		}
	}
	l.Code = ""
	return fmt.Errorf("no free code after 10 tries")
}

// LinkChange lists the fields to change; nil fields stay. The code,
// partnership and direction are fixed: printed links must keep meaning
// what they meant. A zero ExpiresAt removes the expiry. IfVersion is as
// in PartnerChange.
type LinkChange struct {
	URL       *string    `json:"url"`
	Campaign  *string    `json:"campaign"`
	Status    *string    `json:"status"`
	ExpiresAt *time.Time `json:"expires_at"`
	IfVersion int        `json:"-"`
}

// UpdateLink applies ch to the link code.
func (s *Store) UpdateLink(ctx context.Context, code string, ch LinkChange, actor string) (Link, error) {
	const op = "update link"
	actor, err := checkActor(actor)
	if err != nil {
		return Link{}, err
	}
	var out Link
	err = s.write(ctx, op, func(tx pgx.Tx) (bool, error) {
		before, ok, err := rowFor(ctx, tx, linkFor+forUpdate, scanLink, code)
		if err != nil || !ok {
			return false, notFound(err, "link", code)
		}
		if err := checkVersion("link", code, ch.IfVersion, before.Version); err != nil {
			return false, err
		}
		out = before
		l := before
		changeTo(&l.URL, ch.URL)
		changeTo(&l.Campaign, ch.Campaign)
		changeTo(&l.Status, ch.Status)
		changeTo(&l.ExpiresAt, ch.ExpiresAt)
		if err := checkLinkFields(&l); err != nil {
			return false, err
		}
		ps, err := linkTarget(ctx, tx, &l)
		if err != nil && (ch.URL != nil || !isFieldErr(err)) {
			// A URL the partner's domains no longer allow is refused only
			// when the change sets the URL: pausing such a link must work.
			return false, err
		}
		if equalJSON(before, l) {
			return false, nil
		}
		if err := tx.QueryRow(ctx, `UPDATE links SET url = $2, campaign = $3, status = $4, expires_at = $5, `+bump+` WHERE code = $1 RETURNING version`,
			l.Code, l.URL, l.Campaign, l.Status, pgdb.NullTime(l.ExpiresAt)).Scan(&l.Version); err != nil {
			return false, err
		}
		out = l
		return true, s.auditChange(ctx, tx, actor, ActionUpdate, EntityLink, l.Code, ps.Country, before, l)
	})
	return out, err
}

func isFieldErr(err error) bool {
	var fe *FieldError
	return errors.As(err, &fe)
}

// changeTo sets *field to *v when a change names v (not nil).
func changeTo[T any](field *T, v *T) {
	if v != nil {
		*field = *v
	}
}

func equalJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}
