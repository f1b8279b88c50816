package catalog

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/vocab"
)

// Audit vocabulary of a replication: the new partnership's entry (filed in
// its country) and the notice filed in the source's country, so the
// source's managers see who followed their partnership where.
const (
	ActionReplicate  = "replicate"
	ActionReplicated = "replicated"
)

// Replication asks for a copy of partnership Source in Country: the same
// partner and direction, the source's latest terms as the first version
// (Set adjusts them), and its links that are not archived, with new
// codes and their URLs localised by URLTemplate (inbound links, to our
// site) and OutboundURLTemplate (outbound links, to the partner's).
//
// A Blind replication is one whose reader may not read the source (a
// manager of another country): the source's money (currency, CPAs,
// revenue shares), targets, fallback URL and link URLs are not copied,
// so Set must give the money the direction needs and the templates must
// build the links' URLs. What is copied then is the shape: direction,
// attribution model and windows, revenue windows, whether the partner may
// create links, and the links' directions and campaigns.
type Replication struct {
	Source  string // the partnership to copy
	Country string // where the copy runs
	ID      string // the new partnership's id; "" is partner-country, e.g. "dora-fr"
	// URLTemplate builds each copied inbound link's URL and
	// OutboundURLTemplate each outbound one's; "" keeps the source's.
	// They may hold {country} (lower case), {COUNTRY}, {lang}, {campaign},
	// {path} (the source URL's path, query and fragment) and {click_id},
	// which stays for the redirect to fill.
	URLTemplate         string
	OutboundURLTemplate string
	Lang                string    // {lang}; "" is DefaultLang(Country)
	From                time.Time // the first version's effective and start date; zero is today
	Blind               bool
	// Set adjusts the copied terms and returns the JSON names of the
	// fields it set (a blind replication must set the money it needs).
	Set func(t *Terms) ([]string, error)
}

// Replicated is what Replicate made.
type Replicated struct {
	Partnership Partnership `json:"partnership"`
	Terms       Terms       `json:"terms"`
	Links       []Link      `json:"links"`
	Origin      Origin      `json:"origin"`
	Tx          int64       `json:"tx"` // the transaction of every audit entry it wrote
}

// Origin is where a replicated partnership came from. The source's id is
// left out where the reader may not read it (Blind).
type Origin struct {
	Partner string `json:"partner"`
	Country string `json:"country"`
	Source  string `json:"source,omitempty"`
}

// Replicate makes r's copy in one transaction with its audit entries:
// the partnership, its first terms version and its links (each filed in
// the new country), the replication (on the new partnership) and the
// notice in the source's country. The copy records its source
// (partnership_origins).
func (s *Store) Replicate(ctx context.Context, r Replication, actor string) (Replicated, error) {
	const op = "replicate partnership"
	var out Replicated
	if err := ValidID("source", r.Source); err != nil {
		return out, err
	}
	r.Country = strings.ToUpper(strings.TrimSpace(r.Country))
	if err := ValidCountry("country", r.Country); err != nil {
		return out, err
	}
	if r.ID != "" {
		if err := ValidID("id", r.ID); err != nil {
			return out, err
		}
	}
	if r.Lang == "" {
		r.Lang = DefaultLang(r.Country)
	}
	if !langRe.MatchString(r.Lang) {
		return out, fieldErr("lang", "%q must be a language tag such as fr or pt-BR", r.Lang)
	}
	for _, f := range []struct{ field, tmpl string }{{"url_template", r.URLTemplate}, {"outbound_url_template", r.OutboundURLTemplate}} {
		if err := checkURLTemplate(f.field, f.tmpl); err != nil {
			return out, err
		}
		if r.Blind && strings.Contains(f.tmpl, "{path}") {
			return out, fieldErr(f.field, "{path} copies the source's URLs, which are in a country you do not read")
		}
	}
	actor, err := checkActor(actor)
	if err != nil {
		return out, err
	}
	now := s.now().UTC()
	from := r.From
	if from.IsZero() {
		from = now
	}
	err = s.write(ctx, op, func(tx pgx.Tx) (bool, error) {
		src, ok, err := rowFor(ctx, tx, partnershipFor+forShare, scanPartnership, r.Source)
		if err != nil {
			return false, err
		}
		if !ok {
			return false, fmt.Errorf("partnership %q: %w", r.Source, ErrNotFound)
		}
		if src.Country == r.Country {
			return false, fieldErr("country", "partnership %q already runs in %s", src.ID, r.Country)
		}
		partner, _, err := rowFor(ctx, tx, partnerFor+forShare, scanPartner, src.Partner)
		if err != nil {
			return false, err
		}
		if partner.Status == StatusArchived {
			return false, fieldErr("source", "partner %q is archived", src.Partner)
		}
		base, ok, err := rowFor(ctx, tx, latestTerms, scanTerms, src.ID)
		if err != nil {
			return false, err
		}
		if !ok {
			return false, fieldErr("source", "partnership %q has no terms to copy", src.ID)
		}
		ps := Partnership{ID: r.ID, Partner: src.Partner, Country: r.Country, Direction: src.Direction, Version: firstVersion}
		if ps.ID == "" {
			ps.ID = src.Partner + "-" + strings.ToLower(r.Country)
			if len(ps.ID) > 64 {
				return false, fieldErr("id", "give one: %q is longer than 64 characters", ps.ID)
			}
		}
		t, err := r.terms(base, ps, from, now, actor)
		if err != nil {
			return false, err
		}
		links, err := sourceLinks(ctx, tx, src.ID)
		if err != nil {
			return false, err
		}
		for _, l := range links {
			if field, tmpl := r.template(l.Direction); r.Blind && tmpl == "" {
				return false, fieldErr(field, "is required: the source has %s links, and their URLs are in a country you do not read", l.Direction)
			}
		}
		// One per partner and country: say so even when the generated id
		// is the existing partnership's.
		var existing string
		switch err := tx.QueryRow(ctx, `SELECT id FROM partnerships WHERE partner = $1 AND country = $2`, ps.Partner, ps.Country).Scan(&existing); {
		case err == nil:
			return false, &DuplicatePartnershipError{Existing: existing, Partner: ps.Partner, Country: ps.Country}
		case !errors.Is(err, pgx.ErrNoRows):
			return false, err
		}
		if err := insertPartnership(ctx, tx, ps); err != nil {
			return false, err
		}
		if _, err := tx.Exec(ctx, insertTerms, termsValues(t)...); err != nil {
			return false, err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO partnership_origins (partnership, source, created_at, created_by) VALUES ($1, $2, $3, $4)`,
			ps.ID, src.ID, now.Truncate(time.Second), actor); err != nil {
			return false, err
		}
		out = Replicated{Partnership: ps, Terms: t, Origin: Origin{Partner: src.Partner, Country: src.Country}}
		if !r.Blind {
			out.Origin.Source = src.ID
		}
		if err := s.auditChange(ctx, tx, actor, ActionCreate, EntityPartnership, ps.ID, ps.Country, nil, ps); err != nil {
			return false, err
		}
		if err := s.auditChange(ctx, tx, actor, ActionSetTerms, EntityPartnership, ps.ID, ps.Country, nil, t); err != nil {
			return false, err
		}
		for _, sl := range links {
			l := Link{Partnership: ps.ID, Partner: ps.Partner, Direction: sl.Direction, URL: sl.URL,
				Campaign: sl.Campaign, Status: sl.Status, CreatedBy: actor, Version: firstVersion}
			if _, tmpl := r.template(sl.Direction); tmpl != "" {
				l.URL = r.localise(tmpl, sl)
			}
			if _, err := ValidDestination(l.URL, l.Direction == vocab.Outbound, partner.Domains); err != nil {
				return false, fmt.Errorf("link of campaign %q: %w", sl.Campaign, err)
			}
			if err := insertLink(ctx, tx, &l, false); err != nil {
				return false, err
			}
			if err := s.auditChange(ctx, tx, actor, ActionCreate, EntityLink, l.Code, ps.Country, nil, l); err != nil {
				return false, err
			}
			out.Links = append(out.Links, l)
		}
		// The entries filed in the new country name the source by partner
		// and country only: its id belongs to the source's country.
		if err := s.auditChange(ctx, tx, actor, ActionReplicate, EntityPartnership, ps.ID, ps.Country, nil,
			map[string]any{"origin": Origin{Partner: src.Partner, Country: src.Country}, "links": len(out.Links), "blind": r.Blind}); err != nil {
			return false, err
		}
		if err := s.auditChange(ctx, tx, actor, ActionReplicated, EntityPartnership, src.ID, src.Country, nil,
			map[string]any{"into": ps.Country, "partnership": ps.ID, "links": len(out.Links)}); err != nil {
			return false, err
		}
		return true, tx.QueryRow(ctx, `SELECT txid_current()`).Scan(&out.Tx)
	})
	if err != nil {
		return Replicated{}, err
	}
	return out, nil
}

// terms is the first version of the copy: base (the source's latest) as
// r's reader may have it, from from, adjusted by r.Set.
func (r Replication) terms(base Terms, ps Partnership, from, now time.Time, actor string) (Terms, error) {
	t := base
	t.Partnership, t.Version = ps.ID, 1
	t.EffectiveFrom, t.StartDate, t.EndDate = from, from, time.Time{}
	t.Status = StatusActive
	if r.Blind {
		t.Currency = ""
		t.InboundCPA, t.InboundRevSharePct = decimal.Zero, decimal.Zero
		t.OutboundCPA, t.OutboundRevSharePct = decimal.Zero, decimal.Zero
		t.TargetInboundUsersMonth, t.TargetOutboundUsersMonth = 0, 0
		t.FallbackURL = ""
	}
	var set []string
	if r.Set != nil {
		var err error
		if set, err = r.Set(&t); err != nil {
			return t, err
		}
	}
	if r.Blind {
		need := []string{"currency"}
		if ps.Direction != vocab.Outbound {
			need = append(need, "inbound_cpa", "inbound_revshare_pct")
		}
		if ps.Direction != vocab.Inbound {
			need = append(need, "outbound_cpa", "outbound_revshare_pct")
		}
		for _, f := range need {
			if !slices.Contains(set, f) {
				return t, fieldErr("terms."+f, "is required: the source's terms are in a country you do not read, so this partnership's own are needed")
			}
		}
	}
	t.Partnership, t.Version = ps.ID, 1 // Set cannot move the copy
	t.CreatedAt, t.CreatedBy = now.Truncate(time.Second), actor
	if err := t.prepare(); err != nil {
		return t, err
	}
	return t, checkDirections(ps, t)
}

// sourceLinks are the links of partnership id worth copying: those not
// archived, oldest code order.
func sourceLinks(ctx context.Context, tx pgx.Tx, id string) ([]Link, error) {
	rows, err := tx.Query(ctx, `SELECT `+linkRead+` FROM links WHERE partnership = $1 AND status <> $2 ORDER BY code`, id, StatusArchived)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanLink)
}

// urlPlaceholders are what a URL template may hold.
var urlPlaceholders = []string{"{country}", "{COUNTRY}", "{lang}", "{campaign}", "{path}", ClickIDPlaceholder}

// template is the field and the template of links of direction dir.
func (r Replication) template(dir string) (field, tmpl string) {
	if dir == vocab.Outbound {
		return "outbound_url_template", r.OutboundURLTemplate
	}
	return "url_template", r.URLTemplate
}

func checkURLTemplate(field, tmpl string) error {
	if tmpl == "" {
		return nil
	}
	rest := tmpl
	for _, p := range urlPlaceholders {
		rest = strings.ReplaceAll(rest, p, "")
	}
	if i := strings.IndexAny(rest, "{}"); i >= 0 {
		return fieldErr(field, "unknown placeholder near %q: want %s", rest[i:min(len(rest), i+12)], strings.Join(urlPlaceholders, ", "))
	}
	if !strings.HasPrefix(tmpl, "https://") && !strings.HasPrefix(tmpl, "http://") {
		return fieldErr(field, "must start with https:// or http://")
	}
	return nil
}

// localise is l's URL in r's country: tmpl with its placeholders filled
// (each value escaped for where a template puts it: a path segment or a
// query value alike).
func (r Replication) localise(tmpl string, l Link) string {
	path := ""
	if u, err := url.Parse(l.URL); err == nil {
		path = strings.TrimPrefix(u.EscapedPath(), "/")
		if u.RawQuery != "" {
			path += "?" + u.RawQuery
		}
		if u.Fragment != "" {
			path += "#" + u.EscapedFragment()
		}
	}
	return strings.NewReplacer(
		"{country}", strings.ToLower(r.Country),
		"{COUNTRY}", r.Country,
		"{lang}", url.PathEscape(r.Lang),
		"{campaign}", url.QueryEscape(l.Campaign),
		"{path}", path,
	).Replace(tmpl)
}

// PartnershipOf returns partner's partnership in country (one at most:
// the table's unique key); ok is false when there is none.
func (s *Store) PartnershipOf(ctx context.Context, partner, country string) (Partnership, bool, error) {
	if !storable(partner) || !storable(country) {
		return Partnership{}, false, nil
	}
	rows, err := s.db.Query(ctx, `SELECT `+partnershipRead+` FROM partnerships WHERE partner = $1 AND country = $2`, partner, country)
	if err != nil {
		return Partnership{}, false, fmt.Errorf("partnership of %s in %s: %w", partner, country, err)
	}
	ps, err := pgx.CollectExactlyOneRow(rows, scanPartnership)
	if errors.Is(err, pgx.ErrNoRows) {
		return ps, false, nil
	}
	if err != nil {
		return ps, false, fmt.Errorf("partnership of %s in %s: %w", partner, country, err)
	}
	return ps, true, nil
}

// Origins returns, for each replicated partnership, where it came from
// (Source set: the caller decides whom to show it).
func (s *Store) Origins(ctx context.Context) (map[string]Origin, error) {
	rows, err := s.db.Query(ctx, `SELECT o.partnership, p.partner, p.country, p.id FROM partnership_origins o JOIN partnerships p ON p.id = o.source`)
	if err != nil {
		return nil, fmt.Errorf("partnership origins: %w", err)
	}
	out := map[string]Origin{}
	var id string
	var o Origin
	_, err = pgx.ForEachRow(rows, []any{&id, &o.Partner, &o.Country, &o.Source}, func() error {
		out[id] = o
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("partnership origins: %w", err)
	}
	return out, nil
}
