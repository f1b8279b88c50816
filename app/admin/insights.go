package admin

// Country managers learn from each other: a partner's results across
// countries and the partners that work elsewhere (reports.Cross), copying
// a partnership into another country (catalog.Store.Replicate) and the
// playbook notes on partnerships. The CLI reads and writes as an admin:
// every country's figures, and the source's terms and links copied whole
// (never a blind replication).

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/reports"
)

// InsightsQuery is the period, threshold and format of xpromo insights,
// as text: the flags of its subcommands.
type InsightsQuery struct {
	From, To   string // YYYY-MM-DD; "" is the reports.DefaultCrossDays before today
	MinClicks  uint64 // 0 is reports.DefaultMinClicks
	AbsentFrom string // comma-separated ISO alpha-2; "": no filter
	Format     string // table, csv, json or xlsx
}

// Cross reads q into the cross-country selection at now, and the
// countries of AbsentFrom (nil when none is given), or says which flag is
// wrong. The reader, playbooks and origins are set when it runs.
func (q *InsightsQuery) Cross(now time.Time) (reports.Cross, []string, error) {
	c := reports.NewCross(access.Principal{}, now) // the reader is set when it runs
	c.MinClicks = q.MinClicks
	for _, d := range []struct {
		name, v string
		dst     *time.Time
	}{{"from", q.From, &c.From}, {"to", q.To, &c.To}} {
		if strings.TrimSpace(d.v) == "" {
			continue
		}
		t, err := time.Parse(time.DateOnly, strings.TrimSpace(d.v))
		if err != nil {
			return c, nil, fmt.Errorf("--%s %q: want YYYY-MM-DD", d.name, d.v)
		}
		*d.dst = t
	}
	if err := c.Validate(); err != nil {
		return c, nil, err
	}
	var absent []string
	if strings.TrimSpace(q.AbsentFrom) != "" {
		for _, cc := range SplitList(q.AbsentFrom) {
			cc = strings.ToUpper(cc)
			if err := catalog.ValidCountry("absent-from", cc); err != nil {
				return c, nil, fmt.Errorf("--%w", err)
			}
			absent = append(absent, cc)
		}
	}
	switch q.Format {
	case reports.FormatTable, reports.FormatCSV, reports.FormatJSON, reports.FormatXLSX:
	default:
		return c, nil, fmt.Errorf("--format %q: want table, csv, json or xlsx", q.Format)
	}
	return c, absent, nil
}

// PartnerInsights prints in format one row per partner: where it runs
// and how well (reports.PartnerInsights), every country's figures; with
// absentFrom, only the partners absent from those countries that do
// well elsewhere.
func (e *Env) PartnerInsights(ctx context.Context, c reports.Cross, absentFrom []string, format string) error {
	return e.crossTable(ctx, c, format, func(env *reports.Env, c reports.Cross) (*reports.Table, error) {
		return reports.PartnerInsights(ctx, env, c, absentFrom)
	})
}

// PartnerCountries prints in format one row per country where partner
// has a partnership (reports.PartnerCountries), ranked.
func (e *Env) PartnerCountries(ctx context.Context, c reports.Cross, partner, format string) error {
	return e.crossTable(ctx, c, format, func(env *reports.Env, c reports.Cross) (*reports.Table, error) {
		if _, ok := env.Catalog.Partners[partner]; !ok {
			return nil, notFound("partner", partner)
		}
		return reports.PartnerCountries(ctx, env, c, partner)
	})
}

// crossTable prints in format the table run makes of the whole catalog,
// with c read by an admin (the CLI's actor) and given the playbooks and
// origins.
func (e *Env) crossTable(ctx context.Context, c reports.Cross, format string, run func(*reports.Env, reports.Cross) (*reports.Table, error)) error {
	return e.withConn(ctx, func(conn driver.Conn) error {
		store := e.catalog()
		snap, err := store.Load(ctx)
		if err != nil {
			return err
		}
		env, err := reports.NewEnv(ctx, conn, e.pg, snap)
		if err != nil {
			return err
		}
		c.Reader = access.Principal{Role: access.RoleAdmin, Name: e.Actor}
		if err := c.ReadNotes(ctx, store); err != nil {
			return err
		}
		t, err := run(env, c)
		if err != nil {
			return err
		}
		return t.Write(e.Out, format)
	})
}

// Replication is xpromo partnership replicate's command line: Partner's
// partnership in FromCountry copied into Replication.Country (with its
// ID, URLTemplate, OutboundURLTemplate, Lang and From), its terms
// adjusted by the fields of
// TermsFields that Given names (their text in Values, Values[i] that of
// TermsFields[i]) and PartnerMayCreateLinks by MayCreate if Given names
// "partner-may-create-links".
type Replication struct {
	Partner, FromCountry string
	catalog.Replication
	Given     map[string]bool
	Values    []string
	MayCreate bool
	// PublicURL is the tracker's public base URL, to print the links'
	// tracking URLs; JSON prints what was made as JSON.
	PublicURL string
	JSON      bool
}

// ReplicatedView is partnership replicate --json: what Replicate made,
// each link with its tracking URL, and the terms fields the flags set.
type ReplicatedView struct {
	catalog.Replicated
	Links []LinkView `json:"links"`
	Set   []string   `json:"set"`
}

// Replicate copies r.Partner's partnership in r.FromCountry into
// r.Country as an admin (the source's terms and links whole) and prints
// what it made: the partnership, its terms version, its links with their
// new codes and the transaction of its audit entries.
func (c *Catalog) Replicate(ctx context.Context, r Replication) error {
	from := strings.ToUpper(strings.TrimSpace(r.FromCountry))
	if err := catalog.ValidCountry("from_country", from); err != nil {
		return err
	}
	country := strings.ToUpper(strings.TrimSpace(r.Country))
	rep := r.Replication
	rep.Country = country
	src, ok, err := c.store.PartnershipOf(ctx, r.Partner, from)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("partnership of partner %q in %s: %w", r.Partner, from, catalog.ErrNotFound)
	}
	rep.Source = src.ID
	var set []string
	rep.Set = func(t *catalog.Terms) ([]string, error) {
		var err error
		set, err = applyTermsFlags(t, r.Given, r.Values, r.MayCreate)
		return set, err
	}
	rep.Blind = false // an admin reads every country
	out, err := c.store.Replicate(ctx, rep, c.Actor)
	if err != nil {
		return err
	}
	v := ReplicatedView{Replicated: out, Links: make([]LinkView, len(out.Links)), Set: set}
	if v.Set == nil {
		v.Set = []string{}
	}
	for i, l := range out.Links {
		v.Links[i] = LinkView{Link: l, TrackingURL: trackingURL(r.PublicURL, l.Code)}
	}
	if r.JSON {
		return printJSON(c.Out, v)
	}
	return printReplicated(c.Out, v, c.Clock())
}

// applyTermsFlags sets the fields of t the flags given name (TermsFields,
// and partner-may-create-links) and returns their JSON names, in the
// order of the flags.
func applyTermsFlags(t *catalog.Terms, given map[string]bool, values []string, mayCreate bool) ([]string, error) {
	var set []string
	for i, tf := range TermsFields {
		if !given[tf.Name] {
			continue
		}
		if err := tf.Set(t, values[i]); err != nil {
			return nil, &catalog.FieldError{Field: tf.Name, Reason: err.Error()}
		}
		set = append(set, termsJSONName(tf.Name))
	}
	if given["partner-may-create-links"] {
		t.PartnerMayCreateLinks = mayCreate
		set = append(set, termsJSONName("partner-may-create-links"))
	}
	return set, nil
}

// termsJSONName is the JSON name of the terms field flag sets:
// inbound-cpa sets inbound_cpa.
func termsJSONName(flag string) string { return strings.ReplaceAll(flag, "-", "_") }

// SetPlaybook sets the playbook note of partnership id ("" removes it)
// and says what changed.
func (c *Catalog) SetPlaybook(ctx context.Context, id, note string) error {
	before, had, err := c.store.PlaybookOf(ctx, id)
	if err != nil {
		return err
	}
	pb, err := c.store.SetPlaybook(ctx, id, note, 0, c.Actor)
	if err != nil {
		return err
	}
	return printPlaybook(c.Out, id, before, had, pb)
}

// printReplicated writes what a replication made: the partnership, its
// terms version (marked in force at now), its links and the transaction
// of its audit entries.
func printReplicated(w io.Writer, v ReplicatedView, now time.Time) error {
	ps := v.Partnership
	source := v.Origin.Source
	if source == "" {
		source = v.Origin.Partner
	}
	fmt.Fprintf(w, "partnership %s added (partner %s, %s, %s), replicated from %s (%s)\n", ps.ID, ps.Partner, ps.Country, ps.Direction, source, v.Origin.Country)
	adjusted := "none"
	if len(v.Set) > 0 {
		adjusted = strings.Join(v.Set, ", ")
	}
	fmt.Fprintf(w, "terms version %d stored, effective from %s (%s); adjusted: %s\n", v.Terms.Version, dayOrDash(v.Terms.EffectiveFrom), v.Terms.Status, adjusted)
	tw := newTable(w)
	termsTable(tw, []catalog.Terms{v.Terms}, now)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(v.Links) == 0 {
		fmt.Fprintln(w, "no links copied (the source has none that is not archived)")
	} else {
		fmt.Fprintf(w, "%d links copied with new codes:\n", len(v.Links))
		tw = newTable(w)
		fmt.Fprintln(tw, "CODE\tDIRECTION\tSTATUS\tCAMPAIGN\tTRACKING URL\tURL")
		for _, l := range v.Links {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", l.Code, l.Direction, l.Status, dash(l.Campaign), l.TrackingURL, l.URL)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "audit tx %d: every audit entry of this replication: xpromo audit list --tx %d\n", v.Tx, v.Tx)
	return err
}

// printPlaybook says what setting partnership id's playbook note to pb
// changed from before (had: there was one).
func printPlaybook(w io.Writer, id string, before catalog.Playbook, had bool, pb catalog.Playbook) error {
	var err error
	switch {
	case pb.Note == "" && !had:
		_, err = fmt.Fprintf(w, "partnership %s has no playbook note\n", id)
	case pb.Note == "":
		_, err = fmt.Fprintf(w, "partnership %s playbook note removed\n", id)
	case had && pb.Version == before.Version:
		_, err = fmt.Fprintf(w, "partnership %s playbook note unchanged (version %d)\n", id, pb.Version)
	default:
		_, err = fmt.Fprintf(w, "partnership %s playbook note set (version %d, by %s at %s)\n", id, pb.Version, pb.UpdatedBy, formatTime(pb.UpdatedAt, time.RFC3339, "-"))
	}
	return err
}
