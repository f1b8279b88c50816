// Package catalog stores partners, partnerships, terms and links in
// PostgreSQL, the catalog of record, and gives the tracker an in-memory
// snapshot of them that is refreshed in the background, so a redirect never
// waits on a database.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/lib/cowmap"
	"github.com/xpromo/xpromo/lib/pgdb"
)

// ClickIDPlaceholder in a link's URL is replaced by the click id; a URL
// without it gets the click id appended as xp_click=.
const ClickIDPlaceholder = "{click_id}"

// Partner is a company we run cross-promotions with. Countries are the
// countries whose managers see it before it has a partnership there (the
// creating manager's); admin and finance see every partner.
type Partner struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Domains   []string `json:"domains"`
	Status    string   `json:"status"` // StatusActive or StatusArchived
	Countries []string `json:"countries"`
	Version   int      `json:"version"` // edit count, kept by the database: the ETag of the API
}

// Partnership is one partner in one country. Its status, dates and
// fallback URL are part of its versioned Terms.
type Partnership struct {
	ID        string `json:"id"`
	Partner   string `json:"partner"`
	Country   string `json:"country"`
	Direction string `json:"direction"` // inbound, outbound or both
	Version   int    `json:"version"`   // edit count, kept by the database: the ETag of the API
}

// Link is a tracking link: /r/{Code} redirects to URL while the link is
// active, and to its partnership's fallback URL once it is paused,
// archived or expired.
type Link struct {
	Code        string    `json:"code"`
	Partnership string    `json:"partnership"`
	Partner     string    `json:"partner"`
	Direction   string    `json:"direction"` // inbound or outbound
	URL         string    `json:"url"`
	Campaign    string    `json:"campaign,omitempty"`
	Status      string    `json:"status"`              // StatusActive, StatusPaused or StatusArchived
	ExpiresAt   time.Time `json:"expires_at,omitzero"` // zero: never
	CreatedBy   string    `json:"created_by,omitempty"`
	Version     int       `json:"version"` // edit count, kept by the database: the ETag of the API
}

// ErrExists is returned when adding something whose id is taken.
var ErrExists = errors.New("already exists")

// ErrNotFound is returned when a referenced row does not exist.
var ErrNotFound = errors.New("not found")

// ErrStale is returned when a change names the version it was made from
// (IfVersion, SetTermsIf) and the row is at another: someone changed it
// since it was read, and the change is refused rather than overwrite
// theirs. The error is a *StaleError naming the current version.
var ErrStale = errors.New("changed by someone else")

// StaleError is ErrStale for one object, with the version it is at now.
type StaleError struct {
	What, ID string
	Current  int // the version now; for terms the latest one, 0 for none
}

func (e *StaleError) Error() string {
	return fmt.Sprintf("%s %q was changed by someone else: it is at version %d now", e.What, e.ID, e.Current)
}

// Is makes errors.Is(err, ErrStale) true.
func (e *StaleError) Is(target error) bool { return target == ErrStale }

// checkVersion refuses a change made from version want (0: from any)
// of a row at version have.
func checkVersion(what, id string, want, have int) error {
	if want != 0 && want != have {
		return &StaleError{What: what, ID: id, Current: have}
	}
	return nil
}

// Store reads and writes the catalog tables. Every change runs in one
// transaction with its audit entry; the database's constraints and row
// locks keep writers in several processes from clashing.
type Store struct {
	db       *pgxpool.Pool
	now      func() time.Time
	onChange func(context.Context)
}

// NewStore returns a Store on db.
func NewStore(db *pgxpool.Pool) *Store { return &Store{db: db, now: time.Now} }

// DB is the PostgreSQL the store is on, the database of record, for the
// stores of the other tables it holds (ECB rates, country settings,
// closed statements).
func (s *Store) DB() *pgxpool.Pool { return s.db }

// OnChange sets fn to be called after every committed change, e.g. to
// publish an invalidation so every tracker reloads at once. Set it before
// the Store is shared.
func (s *Store) OnChange(fn func(context.Context)) { s.onChange = fn }

func (s *Store) changed(ctx context.Context) {
	if s.onChange != nil {
		s.onChange(ctx)
	}
}

// The columns a writer sets (the *Columns), and those a reader scans: the
// same and version, which the database keeps (the bump of write.go).
const (
	partnerColumns     = `id, name, domains, status, countries`
	partnershipColumns = `id, partner, country, direction`
	linkColumns        = `code, partnership, partner, direction, url, campaign, status, expires_at, created_by`
	partnerRead        = partnerColumns + `, version`
	partnershipRead    = partnershipColumns + `, version`
	linkRead           = linkColumns + `, version`
	selectPartners     = `SELECT ` + partnerRead + ` FROM partners ORDER BY id`
	selectPartnerships = `SELECT ` + partnershipRead + ` FROM partnerships ORDER BY id`
	selectLinks        = `SELECT ` + linkRead + ` FROM links ORDER BY code`
)

func scanPartner(r pgx.CollectableRow) (Partner, error) {
	var p Partner
	err := r.Scan(&p.ID, &p.Name, &p.Domains, &p.Status, &p.Countries, &p.Version)
	return p, err
}

func scanPartnership(r pgx.CollectableRow) (Partnership, error) {
	var p Partnership
	err := r.Scan(&p.ID, &p.Partner, &p.Country, &p.Direction, &p.Version)
	return p, err
}

func scanLink(r pgx.CollectableRow) (Link, error) {
	var (
		l       Link
		expires *time.Time
	)
	if err := r.Scan(&l.Code, &l.Partnership, &l.Partner, &l.Direction, &l.URL, &l.Campaign, &l.Status, &expires, &l.CreatedBy, &l.Version); err != nil {
		return l, err
	}
	l.ExpiresAt = pgdb.TimeOrZero(expires)
	return l, nil
}

// Snapshot is the whole catalog at one moment, ready for lookups.
type Snapshot struct {
	Partners     map[string]Partner     `json:"partners"`
	Partnerships map[string]Partnership `json:"partnerships"`
	Links        *cowmap.Map[Link]      `json:"links"` // by code
	Terms        map[string][]Terms     `json:"terms"` // every version per partnership, oldest first
	LoadedAt     time.Time              `json:"loaded_at"`
	// Rev is the catalog change number the snapshot has seen: every
	// committed change up to it, none after it (see Store.Changes).
	Rev int64 `json:"rev"`

	resolved *cowmap.Map[*Resolved]
	states   map[string]*partnershipState // per partnership, for resolve
}

// Resolved is what the redirect path needs about a link.
type Resolved struct {
	Link
	Country   string
	Direction vocab.Direction
	Dest      *url.URL
	dest      target
	active    bool // link and partner active (expiry and terms are checked per request)
	ps        *partnershipState
}

// partnershipState holds a partnership's terms versions with their
// fallback URLs parsed once.
type partnershipState struct {
	versions  []Terms
	fallbacks []target // per version; zero target when none
}

// target is a parsed redirect destination.
type target struct {
	u     *url.URL
	parts []string // raw URL split at ClickIDPlaceholder; nil when it has none
}

func (t target) valid() bool { return t.u != nil }

// url returns the destination for clickID: the placeholder replaced, or
// xp_click appended to the query (existing query and fragment kept).
func (t target) url(clickID string) string {
	if t.parts != nil {
		return strings.Join(t.parts, clickID)
	}
	return Destination(t.u, clickID)
}

// ClickParam is the query parameter carrying the click id.
const ClickParam = "xp_click"

// Destination is dest with the click id added to its query; the existing
// query and fragment are kept as they are.
func Destination(dest *url.URL, clickID string) string {
	u := *dest
	if u.RawQuery == "" {
		u.RawQuery = ClickParam + "=" + clickID
	} else {
		u.RawQuery += "&" + ClickParam + "=" + clickID
	}
	return u.String()
}

// Target is where a click on r goes at now: the link's URL while the link,
// its partner and its partnership are active and the link has not
// expired, otherwise the fallback URL of the partnership's terms in force
// (fallback true). ok is false when the link is inactive and there is no
// fallback: the tracker answers 410.
func (r *Resolved) Target(now time.Time, clickID string) (dest string, fallback, ok bool) {
	var fb target
	live := r.active && (r.ExpiresAt.IsZero() || now.Before(r.ExpiresAt))
	if r.ps != nil && len(r.ps.versions) > 0 {
		i := inForce(r.ps.versions, now)
		if i < 0 {
			// Before the first version takes effect the link works as the
			// first-cut catalog did; fallback is the first version's.
			fb = r.ps.fallbacks[0]
		} else {
			t := &r.ps.versions[i]
			fb = r.ps.fallbacks[i]
			d := dateOf(now)
			if t.Status != StatusActive || d.Before(t.StartDate) || (!t.EndDate.IsZero() && d.After(t.EndDate)) {
				live = false
			}
		}
	}
	if live {
		return r.dest.url(clickID), false, true
	}
	if !fb.valid() {
		return "", false, false
	}
	return fb.url(clickID), true, true
}

// Load reads the whole catalog, every table as of one moment.
func (s *Store) Load(ctx context.Context) (*Snapshot, error) {
	snap := &Snapshot{
		Partners:     map[string]Partner{},
		Partnerships: map[string]Partnership{},
		Links:        cowmap.New[Link](),
		Terms:        map[string][]Terms{},
		LoadedAt:     s.now().UTC(),
	}
	err := pgx.BeginTxFunc(ctx, s.db, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := each(ctx, tx, selectPartners, scanPartner, func(p Partner) { snap.Partners[p.ID] = p }); err != nil {
			return fmt.Errorf("partners: %w", err)
		}
		if err := each(ctx, tx, selectPartnerships, scanPartnership, func(p Partnership) { snap.Partnerships[p.ID] = p }); err != nil {
			return fmt.Errorf("partnerships: %w", err)
		}
		if err := each(ctx, tx, selectLinks, scanLink, func(l Link) { snap.Links.Set(l.Code, l) }); err != nil {
			return fmt.Errorf("links: %w", err)
		}
		if err := each(ctx, tx, selectAllTerms, scanTerms, func(t Terms) { snap.Terms[t.Partnership] = append(snap.Terms[t.Partnership], t) }); err != nil {
			return fmt.Errorf("terms: %w", err)
		}
		return tx.QueryRow(ctx, selectRev).Scan(&snap.Rev)
	})
	if err != nil {
		return nil, fmt.Errorf("load catalog: %w", err)
	}
	snap.resolve()
	return snap, nil
}

// querier is a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// each runs sql and hands every row, scanned by scan, to fn: a whole
// catalog is not collected into a slice before it goes into its map.
func each[T any](ctx context.Context, q querier, sql string, scan pgx.RowToFunc[T], fn func(T), args ...any) error {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return err
		}
		fn(v)
	}
	return rows.Err()
}

// resolve pre-parses every link so the redirect path does no parsing. A
// link whose URL no longer validates (e.g. a domain was removed from its
// partner) is left out: it answers 404 rather than redirect off-partner.
func (snap *Snapshot) resolve() {
	snap.states = make(map[string]*partnershipState, len(snap.Terms))
	for id, vs := range snap.Terms {
		snap.states[id] = newPartnershipState(vs)
	}
	snap.resolved = cowmap.New[*Resolved]()
	for code, l := range snap.Links.All() {
		if r := snap.resolveLink(l); r != nil {
			snap.resolved.Set(code, r)
		}
	}
}

// newPartnershipState sorts a partnership's versions and parses their
// fallback URLs.
func newPartnershipState(vs []Terms) *partnershipState {
	sort.Slice(vs, func(i, j int) bool { return vs[i].Version < vs[j].Version })
	st := &partnershipState{versions: vs, fallbacks: make([]target, len(vs))}
	for i, t := range vs {
		if t.FallbackURL != "" {
			st.fallbacks[i], _ = parseTarget(t.FallbackURL, false, nil)
		}
	}
	return st
}

// resolveLink is what the redirect path needs of l, or nil when l cannot
// be followed.
func (snap *Snapshot) resolveLink(l Link) *Resolved {
	ps, ok := snap.Partnerships[l.Partnership]
	if !ok {
		return nil
	}
	dir, err := vocab.ParseDirection(l.Direction)
	if err != nil || (ps.Direction != vocab.Both && ps.Direction != l.Direction) {
		return nil // the partnership no longer runs this direction
	}
	partner := snap.Partners[ps.Partner]
	t, err := parseTarget(l.URL, dir == vocab.DirectionOutbound, partner.Domains)
	if err != nil {
		return nil
	}
	return &Resolved{
		Link: l, Country: ps.Country, Direction: dir, Dest: t.u, dest: t,
		active: (l.Status == "" || l.Status == StatusActive) && partner.Status != StatusArchived,
		ps:     snap.states[l.Partnership],
	}
}

// parseTarget validates raw (see ValidDestination) and splits it at the
// click id placeholder.
func parseTarget(raw string, outbound bool, domains []string) (target, error) {
	u, err := ValidDestination(raw, outbound, domains)
	if err != nil {
		return target{}, err
	}
	t := target{u: u}
	if strings.Contains(raw, ClickIDPlaceholder) {
		t.parts = strings.Split(raw, ClickIDPlaceholder)
	}
	return t, nil
}

// Lookup returns the link for code, or nil.
func (snap *Snapshot) Lookup(code string) *Resolved {
	if snap == nil {
		return nil
	}
	r, _ := snap.resolved.Get(code)
	return r
}

// NewSnapshot builds a resolved snapshot from rows, e.g. for a tracker
// test that needs a catalog without ClickHouse.
func NewSnapshot(partners []Partner, partnerships []Partnership, links []Link, terms ...Terms) *Snapshot {
	snap := &Snapshot{Partners: map[string]Partner{}, Partnerships: map[string]Partnership{}, Links: cowmap.New[Link](), Terms: map[string][]Terms{}}
	for _, p := range partners {
		snap.Partners[p.ID] = p
	}
	for _, p := range partnerships {
		snap.Partnerships[p.ID] = p
	}
	for _, l := range links {
		snap.Links.Set(l.Code, l)
	}
	for _, t := range terms {
		snap.Terms[t.Partnership] = append(snap.Terms[t.Partnership], t)
	}
	snap.resolve()
	return snap
}

// WithClock makes s read the time of its business rules from now
// instead of the wall clock (tests move it); it returns s.
func (s *Store) WithClock(now func() time.Time) *Store {
	s.now = now
	return s
}
