// Package catalog stores partners, partnerships and links in ClickHouse
// and gives the tracker an in-memory snapshot of them that is refreshed in
// the background, so a redirect never waits on ClickHouse.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/xpromo/xpromo/tracker/hit"
)

// Partnership directions.
const (
	Inbound  = "inbound"
	Outbound = "outbound"
	Both     = "both"
)

// Partner is a company we run cross-promotions with.
type Partner struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Domains []string `json:"domains"`
}

// Partnership is one partner in one country.
type Partnership struct {
	ID        string `json:"id"`
	Partner   string `json:"partner"`
	Country   string `json:"country"`
	Direction string `json:"direction"` // inbound, outbound or both
}

// Link is a tracking link: /r/{Code} redirects to URL.
type Link struct {
	Code        string `json:"code"`
	Partnership string `json:"partnership"`
	Partner     string `json:"partner"`
	Direction   string `json:"direction"` // inbound or outbound
	URL         string `json:"url"`
	Campaign    string `json:"campaign,omitempty"`
}

// ErrExists is returned when adding something whose id is taken.
var ErrExists = errors.New("already exists")

// ErrNotFound is returned when a referenced row does not exist.
var ErrNotFound = errors.New("not found")

// Store reads and writes the catalog tables.
type Store struct {
	conn driver.Conn
	now  func() time.Time
}

// NewStore returns a Store on conn.
func NewStore(conn driver.Conn) *Store { return &Store{conn: conn, now: time.Now} }

const (
	selectPartners     = `SELECT id, name, domains FROM partners FINAL ORDER BY id`
	selectPartnerships = `SELECT id, partner, country, toString(direction) FROM partnerships FINAL ORDER BY id`
	selectLinks        = `SELECT code, partnership, partner, toString(direction), url, campaign FROM links FINAL ORDER BY code`
	insertPartner      = `INSERT INTO partners (id, name, domains, updated_at, version)`
	insertPartnership  = `INSERT INTO partnerships (id, partner, country, direction, updated_at, version)`
	insertLink         = `INSERT INTO links (code, partnership, partner, direction, url, campaign, updated_at, version)`
)

// AddPartner validates and stores a new partner.
func (s *Store) AddPartner(ctx context.Context, p Partner) (Partner, error) {
	if err := ValidID("id", p.ID); err != nil {
		return p, err
	}
	p.Name = strings.TrimSpace(p.Name)
	if p.Name == "" || len(p.Name) > 200 {
		return p, fieldErr("name", "is required, at most 200 bytes")
	}
	seen := map[string]bool{}
	var domains []string
	for _, d := range p.Domains {
		if strings.TrimSpace(d) == "" {
			continue
		}
		n, err := NormalizeDomain(d)
		if err != nil {
			return p, err
		}
		if !seen[n] {
			seen[n] = true
			domains = append(domains, n)
		}
	}
	sort.Strings(domains)
	p.Domains = domains
	if p.Domains == nil {
		p.Domains = []string{}
	}
	snap, err := s.Load(ctx)
	if err != nil {
		return p, err
	}
	if _, ok := snap.Partners[p.ID]; ok {
		return p, fmt.Errorf("partner %q: %w", p.ID, ErrExists)
	}
	return p, s.insert(ctx, "add partner", insertPartner, p.ID, p.Name, p.Domains)
}

// AddPartnership validates and stores a new partnership.
func (s *Store) AddPartnership(ctx context.Context, ps Partnership) (Partnership, error) {
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
	switch ps.Direction {
	case Inbound, Outbound, Both:
	default:
		return ps, fieldErr("direction", "%q must be inbound, outbound or both", ps.Direction)
	}
	snap, err := s.Load(ctx)
	if err != nil {
		return ps, err
	}
	if _, ok := snap.Partners[ps.Partner]; !ok {
		return ps, &FieldError{Field: "partner", Reason: fmt.Sprintf("partner %q does not exist", ps.Partner)}
	}
	if _, ok := snap.Partnerships[ps.ID]; ok {
		return ps, fmt.Errorf("partnership %q: %w", ps.ID, ErrExists)
	}
	return ps, s.insert(ctx, "add partnership", insertPartnership, ps.ID, ps.Partner, ps.Country, ps.Direction)
}

// AddLink validates and stores a new link.
func (s *Store) AddLink(ctx context.Context, l Link) (Link, error) {
	if !ValidCode(l.Code) {
		return l, fieldErr("code", "%q must be 1-64 of A-Z, a-z, 0-9, '-', '_'", l.Code)
	}
	if err := ValidID("partnership", l.Partnership); err != nil {
		return l, err
	}
	if _, err := hit.ParseDirection(l.Direction); err != nil {
		return l, fieldErr("direction", "%q must be inbound or outbound", l.Direction)
	}
	if len(l.Campaign) > 128 || strings.ContainsFunc(l.Campaign, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return l, fieldErr("campaign", "at most 128 bytes, no control characters")
	}
	snap, err := s.Load(ctx)
	if err != nil {
		return l, err
	}
	ps, ok := snap.Partnerships[l.Partnership]
	if !ok {
		return l, fieldErr("partnership", "partnership %q does not exist", l.Partnership)
	}
	if ps.Direction != Both && ps.Direction != l.Direction {
		return l, fieldErr("direction", "partnership %q runs %s only", ps.ID, ps.Direction)
	}
	partner := snap.Partners[ps.Partner]
	l.Partner = ps.Partner
	if _, err := ValidDestination(l.URL, l.Direction == Outbound, partner.Domains); err != nil {
		return l, err
	}
	if _, ok := snap.Links[l.Code]; ok {
		return l, fmt.Errorf("link %q: %w", l.Code, ErrExists)
	}
	return l, s.insert(ctx, "add link", insertLink, l.Code, l.Partnership, l.Partner, l.Direction, l.URL, l.Campaign)
}

func (s *Store) insert(ctx context.Context, op, query string, values ...any) error {
	now := s.now().UTC()
	values = append(values, now, uint64(now.UnixNano()))
	batch, err := s.conn.PrepareBatch(ctx, query)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer batch.Close()
	if err := batch.Append(values...); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// Snapshot is the whole catalog at one moment, ready for lookups.
type Snapshot struct {
	Partners     map[string]Partner     `json:"partners"`
	Partnerships map[string]Partnership `json:"partnerships"`
	Links        map[string]Link        `json:"links"`
	LoadedAt     time.Time              `json:"loaded_at"`

	resolved map[string]*Resolved
}

// Resolved is what the redirect path needs about a link.
type Resolved struct {
	Link
	Country   string
	Direction hit.Direction
	Dest      *url.URL
}

// Load reads the whole catalog.
func (s *Store) Load(ctx context.Context) (*Snapshot, error) {
	snap := &Snapshot{
		Partners:     map[string]Partner{},
		Partnerships: map[string]Partnership{},
		Links:        map[string]Link{},
		LoadedAt:     s.now().UTC(),
	}
	if err := s.scan(ctx, selectPartners, func(r driver.Rows) error {
		var p Partner
		if err := r.Scan(&p.ID, &p.Name, &p.Domains); err != nil {
			return err
		}
		snap.Partners[p.ID] = p
		return nil
	}); err != nil {
		return nil, fmt.Errorf("load partners: %w", err)
	}
	if err := s.scan(ctx, selectPartnerships, func(r driver.Rows) error {
		var p Partnership
		if err := r.Scan(&p.ID, &p.Partner, &p.Country, &p.Direction); err != nil {
			return err
		}
		snap.Partnerships[p.ID] = p
		return nil
	}); err != nil {
		return nil, fmt.Errorf("load partnerships: %w", err)
	}
	if err := s.scan(ctx, selectLinks, func(r driver.Rows) error {
		var l Link
		if err := r.Scan(&l.Code, &l.Partnership, &l.Partner, &l.Direction, &l.URL, &l.Campaign); err != nil {
			return err
		}
		snap.Links[l.Code] = l
		return nil
	}); err != nil {
		return nil, fmt.Errorf("load links: %w", err)
	}
	snap.resolve()
	return snap, nil
}

func (s *Store) scan(ctx context.Context, q string, fn func(driver.Rows) error) error {
	rows, err := s.conn.Query(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// resolve pre-parses every link so the redirect path does no parsing. A
// link whose URL no longer validates (e.g. a domain was removed from its
// partner) is left out: it answers 404 rather than redirect off-partner.
func (snap *Snapshot) resolve() {
	snap.resolved = make(map[string]*Resolved, len(snap.Links))
	for code, l := range snap.Links {
		ps, ok := snap.Partnerships[l.Partnership]
		if !ok {
			continue
		}
		dir, err := hit.ParseDirection(l.Direction)
		if err != nil || (ps.Direction != Both && ps.Direction != l.Direction) {
			continue // the partnership no longer runs this direction
		}
		u, err := ValidDestination(l.URL, dir == hit.DirectionOutbound, snap.Partners[ps.Partner].Domains)
		if err != nil {
			continue
		}
		snap.resolved[code] = &Resolved{Link: l, Country: ps.Country, Direction: dir, Dest: u}
	}
}

// Lookup returns the link for code, or nil.
func (snap *Snapshot) Lookup(code string) *Resolved {
	if snap == nil {
		return nil
	}
	return snap.resolved[code]
}

// NewSnapshot builds a resolved snapshot from rows, e.g. for a tracker
// test that needs a catalog without ClickHouse.
func NewSnapshot(partners []Partner, partnerships []Partnership, links []Link) *Snapshot {
	snap := &Snapshot{Partners: map[string]Partner{}, Partnerships: map[string]Partnership{}, Links: map[string]Link{}}
	for _, p := range partners {
		snap.Partners[p.ID] = p
	}
	for _, p := range partnerships {
		snap.Partnerships[p.ID] = p
	}
	for _, l := range links {
		snap.Links[l.Code] = l
	}
	snap.resolve()
	return snap
}
