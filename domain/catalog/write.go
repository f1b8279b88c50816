package catalog

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/lib/plaintext"
	"github.com/xpromo/xpromo/schema"
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

// change is one write of a catalog row: its audit entry (the JSON of
// before, nil for a creation, and after), then the row itself.
type change struct {
	op, actor, action, entity, id, country string
	before, after                          any
	query                                  string
	values                                 []any
}

// put writes c. The audit entry goes in before the row: every stored
// change has one. Trackers are told afterwards.
func (s *Store) put(ctx context.Context, c change) error {
	e := AuditEntry{Actor: c.actor, Action: c.action, Entity: c.entity, EntityID: c.id, Country: c.country}
	if c.before != nil {
		b, err := json.Marshal(c.before)
		if err != nil {
			return fmt.Errorf("%s: %w", c.op, err)
		}
		e.Before = string(b)
	}
	a, err := json.Marshal(c.after)
	if err != nil {
		return fmt.Errorf("%s: %w", c.op, err)
	}
	e.After = string(a)
	if err := s.Audit(ctx, e); err != nil {
		return fmt.Errorf("%s: %w", c.op, err)
	}
	if err := s.insert(ctx, c.op, c.query, c.values...); err != nil {
		return err
	}
	s.changed(ctx)
	return nil
}

func normalizeDomains(in []string) ([]string, error) {
	seen := map[string]bool{}
	out := []string{}
	for _, d := range in {
		if strings.TrimSpace(d) == "" {
			continue
		}
		n, err := NormalizeDomain(d)
		if err != nil {
			return nil, err
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

func normalizeCountries(in []string) ([]string, error) {
	out := []string{}
	for _, c := range in {
		c = strings.ToUpper(strings.TrimSpace(c))
		if err := ValidCountry("countries", c); err != nil {
			return nil, err
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return out, nil
}

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
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	snap, err := s.Load(ctx)
	if err != nil {
		return p, fmt.Errorf("%s: %w", op, err)
	}
	if _, ok := snap.Partners[p.ID]; ok {
		return p, fmt.Errorf("partner %q: %w", p.ID, ErrExists)
	}
	return p, s.putPartner(ctx, op, actor, ActionCreate, nil, p)
}

// PartnerChange lists the fields to change; nil fields stay as they are.
type PartnerChange struct {
	Name      *string   `json:"name"`
	Domains   *[]string `json:"domains"`
	Countries *[]string `json:"countries"`
	Status    *string   `json:"status"`
}

// UpdatePartner applies ch to partner id. A change that changes nothing
// writes nothing. Removing a domain makes outbound links to it answer 404.
func (s *Store) UpdatePartner(ctx context.Context, id string, ch PartnerChange, actor string) (Partner, error) {
	const op = "update partner"
	actor, err := checkActor(actor)
	if err != nil {
		return Partner{}, err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	snap, err := s.Load(ctx)
	if err != nil {
		return Partner{}, fmt.Errorf("%s: %w", op, err)
	}
	before, ok := snap.Partners[id]
	if !ok {
		return Partner{}, fmt.Errorf("partner %q: %w", id, ErrNotFound)
	}
	p := before
	changeTo(&p.Name, ch.Name)
	changeTo(&p.Domains, ch.Domains)
	changeTo(&p.Countries, ch.Countries)
	changeTo(&p.Status, ch.Status)
	if err := checkPartner(&p); err != nil {
		return before, err
	}
	if equalJSON(before, p) {
		return before, nil
	}
	return p, s.putPartner(ctx, op, actor, ActionUpdate, before, p)
}

func (s *Store) putPartner(ctx context.Context, op, actor, action string, before any, p Partner) error {
	return s.put(ctx, change{op: op, actor: actor, action: action, entity: EntityPartner, id: p.ID, country: partnerCountry(p),
		before: before, after: p, query: schema.Partners.Insert(), values: []any{p.ID, p.Name, p.Domains, p.Status, p.Countries}})
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
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	snap, err := s.Load(ctx)
	if err != nil {
		return ps, fmt.Errorf("%s: %w", op, err)
	}
	partner, ok := snap.Partners[ps.Partner]
	if !ok {
		return ps, fieldErr("partner", "partner %q does not exist", ps.Partner)
	}
	if partner.Status == StatusArchived {
		return ps, fieldErr("partner", "partner %q is archived", ps.Partner)
	}
	if _, ok := snap.Partnerships[ps.ID]; ok {
		return ps, fmt.Errorf("partnership %q: %w", ps.ID, ErrExists)
	}
	// One agreement per partner and country: a second one would split the
	// pair's clicks, attribution and statements between two ids. A change
	// of terms is a new terms version of the existing partnership.
	for _, other := range snap.Partnerships {
		if other.Partner == ps.Partner && other.Country == ps.Country {
			return ps, &DuplicatePartnershipError{Existing: other.ID, Partner: ps.Partner, Country: ps.Country}
		}
	}
	return ps, s.putPartnership(ctx, op, actor, ActionCreate, nil, ps)
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
type PartnershipChange struct {
	Direction *string `json:"direction"`
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
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	snap, err := s.Load(ctx)
	if err != nil {
		return Partnership{}, fmt.Errorf("%s: %w", op, err)
	}
	before, ok := snap.Partnerships[id]
	if !ok {
		return Partnership{}, fmt.Errorf("partnership %q: %w", id, ErrNotFound)
	}
	ps := before
	changeTo(&ps.Direction, ch.Direction)
	if err := checkDirection(ps.Direction); err != nil {
		return before, err
	}
	if ps.Direction != vocab.Both {
		for _, l := range snap.Links {
			if l.Partnership == id && l.Direction != ps.Direction && l.Status == StatusActive {
				return before, fieldErr("direction", "active %s link %q would stop working; pause or archive it first", l.Direction, l.Code)
			}
		}
	}
	if before == ps {
		return before, nil
	}
	return ps, s.putPartnership(ctx, op, actor, ActionUpdate, before, ps)
}

func (s *Store) putPartnership(ctx context.Context, op, actor, action string, before any, ps Partnership) error {
	return s.put(ctx, change{op: op, actor: actor, action: action, entity: EntityPartnership, id: ps.ID, country: ps.Country,
		before: before, after: ps, query: schema.Partnerships.Insert(), values: []any{ps.ID, ps.Partner, ps.Country, ps.Direction}})
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

// linkTarget checks l's URL against its partnership as it is in snap.
func linkTarget(snap *Snapshot, l *Link) error {
	ps, ok := snap.Partnerships[l.Partnership]
	if !ok {
		return fieldErr("partnership", "partnership %q does not exist", l.Partnership)
	}
	if ps.Direction != vocab.Both && ps.Direction != l.Direction {
		return fieldErr("direction", "partnership %q runs %s only", ps.ID, ps.Direction)
	}
	l.Partner = ps.Partner
	_, err := ValidDestination(l.URL, l.Direction == vocab.Outbound, snap.Partners[ps.Partner].Domains)
	return err
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
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	snap, err := s.Load(ctx)
	if err != nil {
		return l, fmt.Errorf("%s: %w", op, err)
	}
	if err := linkTarget(snap, &l); err != nil {
		return l, err
	}
	if l.Code == "" {
		for range 10 {
			if c := NewCode(); snap.Links[c].Code == "" {
				l.Code = c
				break
			}
		}
		if l.Code == "" {
			return l, fmt.Errorf("%s: no free code after 10 tries", op)
		}
	} else if _, ok := snap.Links[l.Code]; ok {
		return l, fmt.Errorf("link %q: %w", l.Code, ErrExists)
	}
	return l, s.putLink(ctx, op, actor, ActionCreate, snap.Partnerships[l.Partnership].Country, nil, l)
}

// LinkChange lists the fields to change; nil fields stay. The code,
// partnership and direction are fixed: printed links must keep meaning
// what they meant. A zero ExpiresAt removes the expiry.
type LinkChange struct {
	URL       *string    `json:"url"`
	Campaign  *string    `json:"campaign"`
	Status    *string    `json:"status"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// UpdateLink applies ch to the link code.
func (s *Store) UpdateLink(ctx context.Context, code string, ch LinkChange, actor string) (Link, error) {
	const op = "update link"
	actor, err := checkActor(actor)
	if err != nil {
		return Link{}, err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	snap, err := s.Load(ctx)
	if err != nil {
		return Link{}, fmt.Errorf("%s: %w", op, err)
	}
	before, ok := snap.Links[code]
	if !ok {
		return Link{}, fmt.Errorf("link %q: %w", code, ErrNotFound)
	}
	l := before
	changeTo(&l.URL, ch.URL)
	changeTo(&l.Campaign, ch.Campaign)
	changeTo(&l.Status, ch.Status)
	changeTo(&l.ExpiresAt, ch.ExpiresAt)
	if err := checkLinkFields(&l); err != nil {
		return before, err
	}
	if ch.URL != nil {
		if err := linkTarget(snap, &l); err != nil {
			return before, err
		}
	}
	if equalJSON(before, l) {
		return before, nil
	}
	return l, s.putLink(ctx, op, actor, ActionUpdate, snap.Partnerships[l.Partnership].Country, before, l)
}

func (s *Store) putLink(ctx context.Context, op, actor, action, country string, before any, l Link) error {
	expires := time.Unix(0, 0).UTC() // DateTime 0: never
	if !l.ExpiresAt.IsZero() {
		expires = l.ExpiresAt
	}
	return s.put(ctx, change{op: op, actor: actor, action: action, entity: EntityLink, id: l.Code, country: country,
		before: before, after: l, query: schema.Links.Insert(),
		values: []any{l.Code, l.Partnership, l.Partner, l.Direction, l.URL, l.Campaign, l.Status, expires, l.CreatedBy}})
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
