package main

// The catalog commands: partner, partnership (with its terms), link and
// audit. They make the same changes as the management API, through the
// same catalog.Store, and every change is filed in the audit log under
// cliActor().

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/vocab"
)

// cmdFlags is the flag set of a catalog subcommand that writes, with the
// connection flags registered.
type cmdFlags struct {
	*flags
	c common
}

func newCmdFlags(name, synopsis, description string, stderr io.Writer) *cmdFlags {
	f := &cmdFlags{flags: newFlags(name, synopsis, description, stderr)}
	f.c.register(f.flags, true) // Redis: changes are announced to running trackers
	return f
}

// given reports which flags the command line set (flag.Visit): only those
// change anything in an update.
func (f *cmdFlags) given() map[string]bool {
	set := map[string]bool{}
	f.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	return set
}

// require refuses, as a usage error, a command line leaving one of the
// named flags empty.
func (f *cmdFlags) require(names ...string) error {
	for _, n := range names {
		if fl := f.Lookup(n); fl != nil && strings.TrimSpace(fl.Value.String()) == "" {
			fmt.Fprintf(f.Output(), "--%s is required\n\n", n)
			f.Usage()
			return errUsage
		}
	}
	return nil
}

// requireOne refuses, as a usage error, a command line that sets none of
// the named flags: an update with nothing to change.
func (f *cmdFlags) requireOne(names ...string) error {
	set := f.given()
	for _, n := range names {
		if set[n] {
			return nil
		}
	}
	fmt.Fprintf(f.Output(), "nothing to change: give at least one of --%s\n\n", strings.Join(names, ", --"))
	f.Usage()
	return errUsage
}

// withStore runs fn with a catalog store and names a validation error
// after the flag it came from.
func (f *cmdFlags) withStore(ctx context.Context, fn func(*catalog.Store) error) error {
	store, conn, err := openStore(ctx, &f.c)
	if err != nil {
		return err
	}
	defer conn.Close()
	return flagError(f.FlagSet, fn(store))
}

// fieldFlags maps the catalog's field names to flags named otherwise.
var fieldFlags = map[string]string{"expires_at": "expires"}

// flagError rewrites a *catalog.FieldError about a field this command has
// a flag for so that it names the flag: "--inbound-cpa: -1 must not be
// negative" rather than "inbound_cpa: ...".
func flagError(fs *flag.FlagSet, err error) error {
	var fe *catalog.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	name, ok := fieldFlags[fe.Field]
	if !ok {
		name = strings.ReplaceAll(fe.Field, "_", "-")
	}
	if fs.Lookup(name) == nil {
		return err
	}
	return &catalog.FieldError{Field: "--" + name, Reason: fe.Reason}
}

// badFlag is the error of a flag value that does not parse.
func badFlag(name, format string, args ...any) error {
	return &catalog.FieldError{Field: "--" + name, Reason: fmt.Sprintf(format, args...)}
}

// splitList splits a comma-separated flag value; "" is the empty list.
func splitList(v string) []string {
	out := []string{}
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// parseDay parses a YYYY-MM-DD flag value as that day's UTC midnight.
func parseDay(name, v string) (time.Time, error) {
	d, err := time.Parse(time.DateOnly, strings.TrimSpace(v))
	if err != nil {
		return time.Time{}, badFlag(name, "%q: want YYYY-MM-DD", v)
	}
	return d, nil
}

// parseTime parses a flag value that is a UTC day (YYYY-MM-DD, its
// midnight) or an RFC 3339 time; day reports the former.
func parseTime(name, v string) (t time.Time, day bool, err error) {
	v = strings.TrimSpace(v)
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, true, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), false, nil
	}
	return time.Time{}, false, badFlag(name, "%q: want YYYY-MM-DD (UTC) or an RFC 3339 time such as 2026-01-31T18:00:00Z", v)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func dayOrDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.DateOnly)
}

func timeOrNever(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

// printChange reports the outcome of an update: the fields that changed,
// or that nothing did.
func printChange(w io.Writer, what string, before, after any) error {
	b, err := json.Marshal(before)
	if err != nil {
		return err
	}
	a, err := json.Marshal(after)
	if err != nil {
		return err
	}
	if diff := changes(string(b), string(a)); diff != "" {
		fmt.Fprintf(w, "%s updated: %s\n", what, diff)
	} else {
		fmt.Fprintf(w, "%s unchanged\n", what)
	}
	return nil
}

// changes summarises how the JSON object after differs from before,
// field by field ("status: "active" -> "paused"; ..."); "" when nothing
// did. Who made a version and when is left out.
func changes(before, after string) string {
	var b, a map[string]json.RawMessage
	if json.Unmarshal([]byte(before), &b) != nil || json.Unmarshal([]byte(after), &a) != nil {
		return "?"
	}
	var keys []string
	for k := range b {
		keys = append(keys, k)
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		if k == "created_at" || k == "created_by" {
			continue
		}
		bv, av := compactJSON(b[k]), compactJSON(a[k])
		if bv != av {
			parts = append(parts, fmt.Sprintf("%s: %s -> %s", k, shorten(bv), shorten(av)))
		}
	}
	return strings.Join(parts, "; ")
}

func compactJSON(raw json.RawMessage) string {
	if raw == nil {
		return "(none)"
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return string(raw)
	}
	return buf.String()
}

func shorten(s string) string {
	const limit = 60
	if r := []rune(s); len(r) > limit {
		return string(r[:limit-1]) + "…"
	}
	return s
}

// ---- partner ----

func runPartner(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub, args, err := subcommand("partner", args, stderr, map[string]string{
		"add":     "add a partner: --id ID --name NAME [--domains a.example,b.example] [--countries DE,FR]",
		"update":  "change a partner: --id ID [--name N] [--domains D,...] [--countries CC,...] [--status S]",
		"archive": "archive a partner: --id ID",
		"show":    "show a partner and its partnerships: --id ID",
		"list":    "list partners [--status active|archived]",
		"secret":  "rotate or list a partner's postback secrets: secret rotate|list --id ID",
	})
	if err != nil {
		return err
	}
	switch sub {
	case "add":
		return partnerAdd(ctx, args, stdout, stderr)
	case "update":
		return partnerUpdate(ctx, args, stdout, stderr, false)
	case "archive":
		return partnerUpdate(ctx, args, stdout, stderr, true)
	case "show":
		return partnerShow(ctx, args, stdout, stderr)
	case "secret":
		return runPartnerSecret(ctx, args, stdout, stderr)
	default:
		return partnerList(ctx, args, stdout, stderr)
	}
}

func partnerAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var p catalog.Partner
	var domains, countries string
	f := newCmdFlags("partner add", "partner add --id ID --name NAME [--domains a.example,b.example] [--countries DE,FR]", `
Adds a partner. Outbound links (we send our users to the partner) may only
lead to the partner's domains and their subdomains. --countries are the
countries whose managers see the partner before it has a partnership there.`, stderr)
	f.StringVar(&p.ID, "id", "", "partner id: a-z, 0-9, '-', '_' (required)")
	f.StringVar(&p.Name, "name", "", "display name (required)")
	f.StringVar(&domains, "domains", "", "comma-separated domains the partner owns")
	f.StringVar(&countries, "countries", "", "comma-separated ISO 3166-1 alpha-2 codes")
	if err := f.parse(args, false); err != nil {
		return err
	}
	if err := f.require("id", "name"); err != nil {
		return err
	}
	p.Domains, p.Countries = splitList(domains), splitList(countries)
	return f.withStore(ctx, func(store *catalog.Store) error {
		p, err := store.AddPartner(ctx, p, cliActor())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "partner %s added (%s, domains: %s, countries: %s)\n", p.ID, p.Name, dash(strings.Join(p.Domains, ",")), dash(strings.Join(p.Countries, ",")))
		return nil
	})
}

// partnerUpdate is partner update, or partner archive when archive.
func partnerUpdate(ctx context.Context, args []string, stdout, stderr io.Writer, archive bool) error {
	var id, name, domains, countries, status string
	var f *cmdFlags
	if archive {
		f = newCmdFlags("partner archive", "partner archive --id ID", `
Archives a partner: it stays in reports and the audit log, but no new
partnership can be added for it. Undo with
  xpromo partner update --id ID --status active`, stderr)
	} else {
		f = newCmdFlags("partner update", "partner update --id ID [--name N] [--domains D,...] [--countries CC,...] [--status active|archived]", `
Changes a partner; only the flags given change (--domains '' removes every
domain). Removing a domain makes outbound links to it answer 404.`, stderr)
		f.StringVar(&name, "name", "", "display name")
		f.StringVar(&domains, "domains", "", "comma-separated domains the partner owns (replaces the list)")
		f.StringVar(&countries, "countries", "", "comma-separated ISO 3166-1 alpha-2 codes (replaces the list)")
		f.StringVar(&status, "status", "", "active or archived")
	}
	f.StringVar(&id, "id", "", "partner id (required)")
	if err := f.parse(args, false); err != nil {
		return err
	}
	if err := f.require("id"); err != nil {
		return err
	}
	var ch catalog.PartnerChange
	if archive {
		status = catalog.StatusArchived
		ch.Status = &status
	} else {
		if err := f.requireOne("name", "domains", "countries", "status"); err != nil {
			return err
		}
		set := f.given()
		if set["name"] {
			ch.Name = &name
		}
		if set["domains"] {
			d := splitList(domains)
			ch.Domains = &d
		}
		if set["countries"] {
			c := splitList(countries)
			ch.Countries = &c
		}
		if set["status"] {
			ch.Status = &status
		}
	}
	return f.withStore(ctx, func(store *catalog.Store) error {
		snap, err := store.Load(ctx)
		if err != nil {
			return err
		}
		before, ok := snap.Partners[id]
		if !ok {
			return fmt.Errorf("partner %q: %w", id, catalog.ErrNotFound)
		}
		p, err := store.UpdatePartner(ctx, id, ch, cliActor())
		if err != nil {
			return err
		}
		if archive {
			if before.Status == catalog.StatusArchived {
				fmt.Fprintf(stdout, "partner %s was already archived\n", id)
			} else {
				fmt.Fprintf(stdout, "partner %s archived\n", id)
			}
			return nil
		}
		return printChange(stdout, "partner "+id, before, p)
	})
}

func partnerShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var id string
	return listCatalog(ctx, args, stdout, stderr, "partner show", "--id ID", "Shows a partner and its partnerships.",
		func(f *flags) { f.StringVar(&id, "id", "", "partner id (required)") }, []string{"id"},
		func(w *tabwriter.Writer, s *catalog.Snapshot) (any, error) {
			p, ok := s.Partners[id]
			if !ok {
				return nil, fmt.Errorf("partner %q: %w", id, catalog.ErrNotFound)
			}
			var pss []string
			for _, k := range sortedKeys(s.Partnerships) {
				if ps := s.Partnerships[k]; ps.Partner == id {
					pss = append(pss, fmt.Sprintf("%s (%s, %s)", ps.ID, ps.Country, ps.Direction))
				}
			}
			fmt.Fprintf(w, "id:\t%s\n", p.ID)
			fmt.Fprintf(w, "name:\t%s\n", p.Name)
			fmt.Fprintf(w, "status:\t%s\n", p.Status)
			fmt.Fprintf(w, "domains:\t%s\n", dash(strings.Join(p.Domains, ",")))
			fmt.Fprintf(w, "countries:\t%s\n", dash(strings.Join(p.Countries, ",")))
			fmt.Fprintf(w, "partnerships:\t%s\n", dash(strings.Join(pss, ", ")))
			return p, nil
		})
}

func partnerList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var status string
	return listCatalog(ctx, args, stdout, stderr, "partner list", "[--status active|archived]", "Lists the partners as stored in ClickHouse.",
		func(f *flags) {
			f.StringVar(&status, "status", "", "only partners with this status: active or archived")
		}, nil,
		func(w *tabwriter.Writer, s *catalog.Snapshot) (any, error) {
			switch status {
			case "", catalog.StatusActive, catalog.StatusArchived:
			default:
				return nil, badFlag("status", "%q: want active or archived", status)
			}
			fmt.Fprintln(w, "ID\tNAME\tSTATUS\tDOMAINS\tCOUNTRIES")
			out := []catalog.Partner{}
			for _, k := range sortedKeys(s.Partners) {
				v := s.Partners[k]
				if status != "" && v.Status != status {
					continue
				}
				out = append(out, v)
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", v.ID, v.Name, v.Status, dash(strings.Join(v.Domains, ",")), dash(strings.Join(v.Countries, ",")))
			}
			return out, nil
		})
}

// ---- partnership ----

func runPartnership(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub, args, err := subcommand("partnership", args, stderr, map[string]string{
		"add":    "add a partnership: --id ID --partner ID --country CC --direction inbound|outbound|both",
		"update": "change a partnership's direction: --id ID --direction inbound|outbound|both",
		"show":   "show a partnership and its terms versions: --id ID",
		"list":   "list partnerships [--partner ID] [--country CC]",
		"terms":  "set a partnership's terms or list their versions (xpromo partnership terms --help)",
	})
	if err != nil {
		return err
	}
	switch sub {
	case "add":
		return partnershipAdd(ctx, args, stdout, stderr)
	case "update":
		return partnershipUpdate(ctx, args, stdout, stderr)
	case "show":
		return partnershipShow(ctx, args, stdout, stderr)
	case "terms":
		return runTerms(ctx, args, stdout, stderr)
	default:
		return partnershipList(ctx, args, stdout, stderr)
	}
}

func partnershipAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var p catalog.Partnership
	f := newCmdFlags("partnership add", "partnership add --id ID --partner ID --country CC --direction inbound|outbound|both", `
Adds a partnership: one partner in one country. inbound: the partner sends
users to us; outbound: we send ours to the partner; both: the two-way deal.
Set its terms with xpromo partnership terms set.`, stderr)
	f.StringVar(&p.ID, "id", "", "partnership id: a-z, 0-9, '-', '_' (required)")
	f.StringVar(&p.Partner, "partner", "", "partner id (required)")
	f.StringVar(&p.Country, "country", "", "ISO 3166-1 alpha-2 country code (required)")
	f.StringVar(&p.Direction, "direction", vocab.Both, "inbound, outbound or both")
	if err := f.parse(args, false); err != nil {
		return err
	}
	if err := f.require("id", "partner", "country", "direction"); err != nil {
		return err
	}
	return f.withStore(ctx, func(store *catalog.Store) error {
		p, err := store.AddPartnership(ctx, p, cliActor())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "partnership %s added (partner %s, %s, %s)\n", p.ID, p.Partner, p.Country, p.Direction)
		return nil
	})
}

func partnershipUpdate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var id, direction string
	f := newCmdFlags("partnership update", "partnership update --id ID --direction inbound|outbound|both", `
Changes a partnership's direction (its partner and country are fixed: a
different pair is a different agreement). Narrowing it is refused while
active links of the dropped direction exist: pause or archive them first.`, stderr)
	f.StringVar(&id, "id", "", "partnership id (required)")
	f.StringVar(&direction, "direction", "", "inbound, outbound or both (required)")
	if err := f.parse(args, false); err != nil {
		return err
	}
	if err := f.require("id", "direction"); err != nil {
		return err
	}
	return f.withStore(ctx, func(store *catalog.Store) error {
		snap, err := store.Load(ctx)
		if err != nil {
			return err
		}
		before, ok := snap.Partnerships[id]
		if !ok {
			return fmt.Errorf("partnership %q: %w", id, catalog.ErrNotFound)
		}
		ps, err := store.UpdatePartnership(ctx, id, catalog.PartnershipChange{Direction: &direction}, cliActor())
		if err != nil {
			return err
		}
		return printChange(stdout, "partnership "+id, before, ps)
	})
}

// partnershipView is partnership show --json: the partnership and every
// version of its terms, oldest first.
type partnershipView struct {
	catalog.Partnership
	TermsInForce uint32          `json:"terms_in_force,omitempty"` // version; 0: none yet
	Terms        []catalog.Terms `json:"terms"`
}

func partnershipShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var id string
	return listCatalog(ctx, args, stdout, stderr, "partnership show", "--id ID", "Shows a partnership, its links by status and every version of its terms.",
		func(f *flags) { f.StringVar(&id, "id", "", "partnership id (required)") }, []string{"id"},
		func(w *tabwriter.Writer, s *catalog.Snapshot) (any, error) {
			ps, ok := s.Partnerships[id]
			if !ok {
				return nil, fmt.Errorf("partnership %q: %w", id, catalog.ErrNotFound)
			}
			v := partnershipView{Partnership: ps, Terms: s.Terms[id]}
			if v.Terms == nil {
				v.Terms = []catalog.Terms{}
			}
			if t, ok := catalog.TermsInForce(v.Terms, clock()); ok {
				v.TermsInForce = t.Version
			}
			links := map[string]int{}
			for _, l := range s.Links {
				if l.Partnership == id {
					links[l.Status]++
				}
			}
			var counts []string
			for _, st := range []string{catalog.StatusActive, catalog.StatusPaused, catalog.StatusArchived} {
				if links[st] > 0 {
					counts = append(counts, fmt.Sprintf("%d %s", links[st], st))
				}
			}
			partner := ps.Partner
			if p, ok := s.Partners[ps.Partner]; ok {
				partner += " (" + p.Name + ")"
			}
			inForce := "none"
			if v.TermsInForce > 0 {
				inForce = "version " + strconv.FormatUint(uint64(v.TermsInForce), 10)
			}
			fmt.Fprintf(w, "id:\t%s\n", ps.ID)
			fmt.Fprintf(w, "partner:\t%s\n", partner)
			fmt.Fprintf(w, "country:\t%s\n", ps.Country)
			fmt.Fprintf(w, "direction:\t%s\n", ps.Direction)
			fmt.Fprintf(w, "links:\t%s\n", dash(strings.Join(counts, ", ")))
			fmt.Fprintf(w, "terms in force:\t%s\n", inForce)
			if err := w.Flush(); err != nil {
				return nil, err
			}
			if len(v.Terms) > 0 {
				fmt.Fprintln(w, "\nTerms versions:")
				termsTable(w, v.Terms)
			}
			return v, nil
		})
}

func partnershipList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var partner, country string
	return listCatalog(ctx, args, stdout, stderr, "partnership list", "[--partner ID] [--country CC]", "Lists the partnerships as stored in ClickHouse, with the status of the terms in force today.",
		func(f *flags) {
			f.StringVar(&partner, "partner", "", "only this partner's partnerships")
			f.StringVar(&country, "country", "", "only partnerships in this country (ISO alpha-2)")
		}, nil,
		func(w *tabwriter.Writer, s *catalog.Snapshot) (any, error) {
			country = strings.ToUpper(strings.TrimSpace(country))
			fmt.Fprintln(w, "ID\tPARTNER\tCOUNTRY\tDIRECTION\tTERMS")
			out := []catalog.Partnership{}
			for _, k := range sortedKeys(s.Partnerships) {
				v := s.Partnerships[k]
				if (partner != "" && v.Partner != partner) || (country != "" && v.Country != country) {
					continue
				}
				out = append(out, v)
				terms := "-"
				if t, ok := catalog.TermsInForce(s.Terms[k], clock()); ok {
					terms = fmt.Sprintf("v%d %s", t.Version, t.Status)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", v.ID, v.Partner, v.Country, v.Direction, terms)
			}
			return out, nil
		})
}

// ---- partnership terms ----

func runTerms(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub, args, err := subcommand("partnership terms", args, stderr, map[string]string{
		"set":      "store a new version of the terms: --partnership ID [--effective-from DATE] [field flags]",
		"versions": "list every version of a partnership's terms: --partnership ID",
	})
	if err != nil {
		return err
	}
	if sub == "set" {
		return termsSet(ctx, args, stdout, stderr)
	}
	return termsVersions(ctx, args, stdout, stderr)
}

// termsFlag is a flag of terms set: it sets one field of the terms from
// the flag's text, or says why it cannot.
type termsFlag struct {
	name, usage string
	set         func(t *catalog.Terms, v string) error
}

func decimalField(field func(*catalog.Terms) *decimal.Decimal) func(*catalog.Terms, string) error {
	return func(t *catalog.Terms, v string) error {
		d, err := decimal.NewFromString(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not a decimal number", v)
		}
		*field(t) = d
		return nil
	}
}

func daysField(field func(*catalog.Terms) *uint16) func(*catalog.Terms, string) error {
	return func(t *catalog.Terms, v string) error {
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 16)
		if err != nil {
			return fmt.Errorf("%q: want a whole number of days", v)
		}
		*field(t) = uint16(n)
		return nil
	}
}

func usersField(field func(*catalog.Terms) *uint32) func(*catalog.Terms, string) error {
	return func(t *catalog.Terms, v string) error {
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
		if err != nil {
			return fmt.Errorf("%q: want a whole number of users (0: no target)", v)
		}
		*field(t) = uint32(n)
		return nil
	}
}

func stringField(field func(*catalog.Terms) *string) func(*catalog.Terms, string) error {
	return func(t *catalog.Terms, v string) error {
		*field(t) = strings.TrimSpace(v)
		return nil
	}
}

func dateField(field func(*catalog.Terms) *time.Time, empty bool) func(*catalog.Terms, string) error {
	return func(t *catalog.Terms, v string) error {
		if empty && strings.TrimSpace(v) == "" {
			*field(t) = time.Time{}
			return nil
		}
		d, err := time.Parse(time.DateOnly, strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q: want YYYY-MM-DD", v)
		}
		*field(t) = d
		return nil
	}
}

var termsFlags = []termsFlag{
	{"currency", "ISO 4217 currency of the amounts, e.g. EUR (required for the first version)", stringField(func(t *catalog.Terms) *string { return &t.Currency })},
	{"inbound-cpa", "what we pay the partner per user it sends us, e.g. 10 or 12.5 (at most 4 decimals)", decimalField(func(t *catalog.Terms) *decimal.Decimal { return &t.InboundCPA })},
	{"inbound-revshare-pct", "percent of a user's revenue we pay the partner for users it sends us", decimalField(func(t *catalog.Terms) *decimal.Decimal { return &t.InboundRevSharePct })},
	{"inbound-revenue-window-days", "days of an inbound user's revenue the rev-share covers (default 365)", daysField(func(t *catalog.Terms) *uint16 { return &t.InboundRevenueWindowDays })},
	{"outbound-cpa", "what the partner pays us per user we send it", decimalField(func(t *catalog.Terms) *decimal.Decimal { return &t.OutboundCPA })},
	{"outbound-revshare-pct", "percent of a user's revenue the partner pays us for users we send it", decimalField(func(t *catalog.Terms) *decimal.Decimal { return &t.OutboundRevSharePct })},
	{"outbound-revenue-window-days", "days of an outbound user's revenue the rev-share covers (default 365)", daysField(func(t *catalog.Terms) *uint16 { return &t.OutboundRevenueWindowDays })},
	{"attribution-model", "last_click or first_click (default last_click)", stringField(func(t *catalog.Terms) *string { return &t.AttributionModel })},
	{"attribution-window-days", "days after a click a conversion is attributed to it (default 30)", daysField(func(t *catalog.Terms) *uint16 { return &t.AttributionWindowDays })},
	{"target-inbound-users-month", "target of inbound users per month (0: none)", usersField(func(t *catalog.Terms) *uint32 { return &t.TargetInboundUsersMonth })},
	{"target-outbound-users-month", "target of outbound users per month (0: none)", usersField(func(t *catalog.Terms) *uint32 { return &t.TargetOutboundUsersMonth })},
	{"start-date", "first day of the agreement, YYYY-MM-DD (default: --effective-from of the first version)", dateField(func(t *catalog.Terms) *time.Time { return &t.StartDate }, false)},
	{"end-date", "last day of the agreement, YYYY-MM-DD; '' for open-ended", dateField(func(t *catalog.Terms) *time.Time { return &t.EndDate }, true)},
	{"status", "active, paused or archived (default active)", stringField(func(t *catalog.Terms) *string { return &t.Status })},
	{"fallback-url", "where paused, archived or expired links redirect; '' for none", stringField(func(t *catalog.Terms) *string { return &t.FallbackURL })},
}

func termsSet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var id, effective string
	var mayCreate bool
	f := newCmdFlags("partnership terms set", "partnership terms set --partnership ID [--effective-from YYYY-MM-DD] [--currency EUR] [--inbound-cpa 10] [...]", `
Stores a new version of a partnership's terms, in force from
--effective-from (default today, UTC) until a later version takes effect.
Fields whose flag is not given are those of the latest version, so
  xpromo partnership terms set --partnership acme-de --status paused
pauses the partnership from today and changes nothing else. A version may
not take effect before the latest one; setting what the latest version
already says stores nothing. Amounts are decimals (at most 4 places) in
--currency; percentages are in percent (12.5 means 12.5%).`, stderr)
	f.StringVar(&id, "partnership", "", "partnership id (required)")
	f.StringVar(&effective, "effective-from", "", "UTC day from which this version applies, YYYY-MM-DD (default today)")
	values := make([]string, len(termsFlags))
	for i, tf := range termsFlags {
		f.StringVar(&values[i], tf.name, "", tf.usage)
	}
	f.BoolVar(&mayCreate, "partner-may-create-links", false, "whether the partner's own API tokens may create links (--partner-may-create-links=false to stop)")
	if err := f.parse(args, false); err != nil {
		return err
	}
	if err := f.require("partnership"); err != nil {
		return err
	}
	from := clock().UTC().Truncate(24 * time.Hour)
	if effective != "" {
		var err error
		if from, err = parseDay("effective-from", effective); err != nil {
			return err
		}
	}
	set := f.given()
	return f.withStore(ctx, func(store *catalog.Store) error {
		snap, err := store.Load(ctx)
		if err != nil {
			return err
		}
		if _, ok := snap.Partnerships[id]; !ok {
			return fmt.Errorf("partnership %q: %w", id, catalog.ErrNotFound)
		}
		var t catalog.Terms
		var latest uint32
		if vs := snap.Terms[id]; len(vs) > 0 {
			t = vs[len(vs)-1]
			latest = t.Version
			t.Version, t.CreatedAt, t.CreatedBy = 0, time.Time{}, ""
		} else if !set["currency"] {
			return badFlag("currency", "is required for a partnership's first terms version")
		}
		t.EffectiveFrom = from
		for i, tf := range termsFlags {
			if !set[tf.name] {
				continue
			}
			if err := tf.set(&t, values[i]); err != nil {
				return badFlag(tf.name, "%s", err.Error())
			}
		}
		if set["partner-may-create-links"] {
			t.PartnerMayCreateLinks = mayCreate
		}
		if t.StartDate.IsZero() {
			t.StartDate = t.EffectiveFrom
		}
		got, err := store.SetTerms(ctx, id, t, cliActor())
		if err != nil {
			return err
		}
		if latest > 0 && got.Version <= latest {
			fmt.Fprintf(stdout, "partnership %s terms unchanged (version %d, effective from %s)\n", id, got.Version, dayOrDash(got.EffectiveFrom))
			return nil
		}
		fmt.Fprintf(stdout, "partnership %s terms version %d stored, effective from %s (%s)\n", id, got.Version, dayOrDash(got.EffectiveFrom), got.Status)
		return nil
	})
}

func termsVersions(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var id string
	return listCatalog(ctx, args, stdout, stderr, "partnership terms versions", "--partnership ID", `
Lists every version of a partnership's terms, oldest first. IN FORCE marks
the version that applies today.`,
		func(f *flags) { f.StringVar(&id, "partnership", "", "partnership id (required)") }, []string{"partnership"},
		func(w *tabwriter.Writer, s *catalog.Snapshot) (any, error) {
			if _, ok := s.Partnerships[id]; !ok {
				return nil, fmt.Errorf("partnership %q: %w", id, catalog.ErrNotFound)
			}
			vs := s.Terms[id]
			if vs == nil {
				vs = []catalog.Terms{}
			}
			termsTable(w, vs)
			return vs, nil
		})
}

// termsTable writes terms versions as a table.
func termsTable(w io.Writer, vs []catalog.Terms) {
	inForce, _ := catalog.TermsInForce(vs, clock())
	fmt.Fprintln(w, "VERSION\tIN FORCE\tEFFECTIVE\tSTATUS\tCURRENCY\tIN CPA\tIN REVSHARE %\tOUT CPA\tOUT REVSHARE %\tATTRIBUTION\tSTART\tEND\tFALLBACK\tCREATED BY")
	for _, t := range vs {
		mark := ""
		if t.Version == inForce.Version && inForce.Version > 0 {
			mark = "*"
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s %dd\t%s\t%s\t%s\t%s\n",
			t.Version, mark, dayOrDash(t.EffectiveFrom), t.Status, t.Currency,
			t.InboundCPA, t.InboundRevSharePct, t.OutboundCPA, t.OutboundRevSharePct,
			t.AttributionModel, t.AttributionWindowDays, dayOrDash(t.StartDate), dayOrDash(t.EndDate),
			dash(t.FallbackURL), t.CreatedBy)
	}
}

// ---- link ----

func runLink(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub, args, err := subcommand("link", args, stderr, map[string]string{
		"add":     "add a link: --partnership ID --direction inbound|outbound --url URL [--code CODE] [--campaign C] [--expires DATE]",
		"update":  "change a link: --code CODE [--url URL] [--campaign C] [--expires DATE|'']",
		"pause":   "pause a link (it redirects to the partnership's fallback URL): --code CODE",
		"resume":  "make a paused or archived link active again: --code CODE",
		"archive": "archive a link: --code CODE",
		"show":    "show a link: --code CODE",
		"list":    "list links [--partnership ID] [--status S]",
	})
	if err != nil {
		return err
	}
	switch sub {
	case "add":
		return linkAdd(ctx, args, stdout, stderr)
	case "update":
		return linkUpdate(ctx, args, stdout, stderr)
	case "pause":
		return linkSetStatus(ctx, args, stdout, stderr, "pause", catalog.StatusPaused)
	case "resume":
		return linkSetStatus(ctx, args, stdout, stderr, "resume", catalog.StatusActive)
	case "archive":
		return linkSetStatus(ctx, args, stdout, stderr, "archive", catalog.StatusArchived)
	case "show":
		return linkShow(ctx, args, stdout, stderr)
	default:
		return linkList(ctx, args, stdout, stderr)
	}
}

func publicURLFlag(f *flags, base *string) {
	f.String(base, "public-url", "http://localhost:8080", "the tracker's public base URL, to print the tracking URL")
}

func trackingURL(base, code string) string {
	return strings.TrimRight(base, "/") + "/r/" + code
}

func linkAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var l catalog.Link
	var base, expires string
	f := newCmdFlags("link add", "link add --partnership ID --direction inbound|outbound --url URL [--code CODE] [--campaign C] [--expires DATE]", `
Adds a tracking link: GET /r/CODE records a click and redirects to URL with
xp_click=<click id> added (or put {click_id} in URL where it belongs). URL
must be http(s); an outbound link's URL must be on one of the partner's
domains. Without --code a random 8-character code is generated. Trackers
pick up new links within seconds.`, stderr)
	f.StringVar(&l.Code, "code", "", "link code: A-Z, a-z, 0-9, '-', '_' (default: generated)")
	f.StringVar(&l.Partnership, "partnership", "", "partnership id (required)")
	f.StringVar(&l.Direction, "direction", "", "inbound or outbound (required)")
	f.StringVar(&l.URL, "url", "", "destination URL (required)")
	f.StringVar(&l.Campaign, "campaign", "", "campaign name")
	f.StringVar(&expires, "expires", "", "when the link stops redirecting to URL: YYYY-MM-DD (its 00:00 UTC) or RFC 3339; default never")
	publicURLFlag(f.flags, &base)
	if err := f.parse(args, false); err != nil {
		return err
	}
	if err := f.require("partnership", "direction", "url"); err != nil {
		return err
	}
	if strings.TrimSpace(expires) != "" {
		var err error
		if l.ExpiresAt, _, err = parseTime("expires", expires); err != nil {
			return err
		}
	}
	return f.withStore(ctx, func(store *catalog.Store) error {
		l, err := store.AddLink(ctx, l, cliActor())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "link %s added: %s -> %s\n", l.Code, trackingURL(base, l.Code), l.URL)
		return nil
	})
}

func linkUpdate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var code, u, campaign, expires string
	f := newCmdFlags("link update", "link update --code CODE [--url URL] [--campaign C] [--expires DATE|'']", `
Changes a link; only the flags given change. The code, partnership and
direction are fixed: printed links must keep meaning what they meant.
--expires '' removes the expiry. Use pause, resume and archive for the
status.`, stderr)
	f.StringVar(&code, "code", "", "link code (required)")
	f.StringVar(&u, "url", "", "destination URL")
	f.StringVar(&campaign, "campaign", "", "campaign name ('' for none)")
	f.StringVar(&expires, "expires", "", "YYYY-MM-DD (its 00:00 UTC) or RFC 3339; '' for never")
	if err := f.parse(args, false); err != nil {
		return err
	}
	if err := f.require("code"); err != nil {
		return err
	}
	if err := f.requireOne("url", "campaign", "expires"); err != nil {
		return err
	}
	set := f.given()
	var ch catalog.LinkChange
	if set["url"] {
		ch.URL = &u
	}
	if set["campaign"] {
		ch.Campaign = &campaign
	}
	if set["expires"] {
		var at time.Time
		if strings.TrimSpace(expires) != "" {
			var err error
			if at, _, err = parseTime("expires", expires); err != nil {
				return err
			}
		}
		ch.ExpiresAt = &at
	}
	return f.withStore(ctx, func(store *catalog.Store) error {
		return updateLink(ctx, store, stdout, code, ch)
	})
}

// updateLink applies ch to the link and reports what changed.
func updateLink(ctx context.Context, store *catalog.Store, stdout io.Writer, code string, ch catalog.LinkChange) error {
	snap, err := store.Load(ctx)
	if err != nil {
		return err
	}
	before, ok := snap.Links[code]
	if !ok {
		return fmt.Errorf("link %q: %w", code, catalog.ErrNotFound)
	}
	l, err := store.UpdateLink(ctx, code, ch, cliActor())
	if err != nil {
		return err
	}
	return printChange(stdout, "link "+code, before, l)
}

// linkSetStatus is link pause, resume (status active) and archive.
func linkSetStatus(ctx context.Context, args []string, stdout, stderr io.Writer, verb, status string) error {
	var code string
	desc := map[string]string{
		"pause": `
Pauses a link: its clicks are still recorded, but it redirects to the
partnership's fallback URL (404 without one) until resumed.`,
		"resume": `
Makes a paused or archived link active again: it redirects to its URL
(unless it has expired).`,
		"archive": `
Archives a link that is no longer used: like a paused link it redirects to
the partnership's fallback URL, and lists can leave it out
(xpromo link list --status active).`,
	}[verb]
	f := newCmdFlags("link "+verb, "link "+verb+" --code CODE", desc, stderr)
	f.StringVar(&code, "code", "", "link code (required)")
	if err := f.parse(args, false); err != nil {
		return err
	}
	if err := f.require("code"); err != nil {
		return err
	}
	return f.withStore(ctx, func(store *catalog.Store) error {
		snap, err := store.Load(ctx)
		if err != nil {
			return err
		}
		before, ok := snap.Links[code]
		if !ok {
			return fmt.Errorf("link %q: %w", code, catalog.ErrNotFound)
		}
		if before.Status == status {
			fmt.Fprintf(stdout, "link %s is already %s\n", code, status)
			return nil
		}
		if _, err := store.UpdateLink(ctx, code, catalog.LinkChange{Status: &status}, cliActor()); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "link %s %s (was %s)\n", code, status, before.Status)
		return nil
	})
}

// linkView is link show --json: the link and its tracking URL.
type linkView struct {
	catalog.Link
	TrackingURL string `json:"tracking_url"`
}

func linkShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var code, base string
	return listCatalog(ctx, args, stdout, stderr, "link show", "--code CODE", "Shows a link and its tracking URL.",
		func(f *flags) {
			f.StringVar(&code, "code", "", "link code (required)")
			publicURLFlag(f, &base)
		}, []string{"code"},
		func(w *tabwriter.Writer, s *catalog.Snapshot) (any, error) {
			l, ok := s.Links[code]
			if !ok {
				return nil, fmt.Errorf("link %q: %w", code, catalog.ErrNotFound)
			}
			v := linkView{Link: l, TrackingURL: trackingURL(base, l.Code)}
			fmt.Fprintf(w, "code:\t%s\n", l.Code)
			fmt.Fprintf(w, "tracking url:\t%s\n", v.TrackingURL)
			fmt.Fprintf(w, "url:\t%s\n", l.URL)
			fmt.Fprintf(w, "partnership:\t%s\n", l.Partnership)
			fmt.Fprintf(w, "partner:\t%s\n", l.Partner)
			fmt.Fprintf(w, "direction:\t%s\n", l.Direction)
			fmt.Fprintf(w, "status:\t%s\n", l.Status)
			fmt.Fprintf(w, "campaign:\t%s\n", dash(l.Campaign))
			fmt.Fprintf(w, "expires:\t%s\n", timeOrNever(l.ExpiresAt))
			fmt.Fprintf(w, "created by:\t%s\n", dash(l.CreatedBy))
			return v, nil
		})
}

func linkList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var partnership, partner, status string
	return listCatalog(ctx, args, stdout, stderr, "link list", "[--partnership ID] [--partner ID] [--status active|paused|archived]", "Lists the links as stored in ClickHouse.",
		func(f *flags) {
			f.StringVar(&partnership, "partnership", "", "only this partnership's links")
			f.StringVar(&partner, "partner", "", "only this partner's links")
			f.StringVar(&status, "status", "", "only links with this status: active, paused or archived")
		}, nil,
		func(w *tabwriter.Writer, s *catalog.Snapshot) (any, error) {
			switch status {
			case "", catalog.StatusActive, catalog.StatusPaused, catalog.StatusArchived:
			default:
				return nil, badFlag("status", "%q: want active, paused or archived", status)
			}
			fmt.Fprintln(w, "CODE\tPARTNERSHIP\tDIRECTION\tSTATUS\tEXPIRES\tCAMPAIGN\tURL")
			out := []catalog.Link{}
			for _, k := range sortedKeys(s.Links) {
				v := s.Links[k]
				if (partnership != "" && v.Partnership != partnership) || (partner != "" && v.Partner != partner) || (status != "" && v.Status != status) {
					continue
				}
				out = append(out, v)
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Code, v.Partnership, v.Direction, v.Status, timeOrNever(v.ExpiresAt), dash(v.Campaign), v.URL)
			}
			return out, nil
		})
}

// ---- audit ----

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	_, args, err := subcommand("audit", args, stderr, map[string]string{
		"list": "list audit entries, newest first [--entity E] [--entity-id ID] [--actor A] [--from DATE] [--to DATE] [--limit N]",
	})
	if err != nil {
		return err
	}
	return auditList(ctx, args, stdout, stderr)
}

// auditView is an audit entry as audit list --json prints it: before and
// after as JSON, not strings holding JSON.
type auditView struct {
	TS       time.Time       `json:"ts"`
	ID       string          `json:"id"`
	Actor    string          `json:"actor"`
	Action   string          `json:"action"`
	Entity   string          `json:"entity"`
	EntityID string          `json:"entity_id"`
	Country  string          `json:"country"`
	Before   json.RawMessage `json:"before,omitempty"`
	After    json.RawMessage `json:"after,omitempty"`
}

func auditList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var filt catalog.AuditFilter
	var from, to string
	c, format, err := listFlags("audit list", "[--entity E] [--entity-id ID] [--actor A] [--from DATE] [--to DATE] [--limit N]", `
Lists the audit log, newest first: every change to partners, partnerships
(and their terms), links and API tokens, who made it and what changed.
--from and --to are UTC days (both included) or RFC 3339 times (--to
excluded).`, args, stderr, func(f *flags) {
		f.StringVar(&filt.Entity, "entity", "", "only this kind of thing: partner, partnership, link or token")
		f.StringVar(&filt.EntityID, "entity-id", "", "only changes to this id (partner or partnership id, link code, token id)")
		f.StringVar(&filt.Actor, "actor", "", "only changes by this actor, e.g. cli:alice or token:abc...")
		f.StringVar(&from, "from", "", "first day (YYYY-MM-DD, UTC) or time (RFC 3339)")
		f.StringVar(&to, "to", "", "last day (YYYY-MM-DD, UTC, included) or time (RFC 3339, excluded)")
		f.IntVar(&filt.Limit, "limit", catalog.DefaultAuditLimit, fmt.Sprintf("at most this many entries (1-%d)", catalog.MaxAuditLimit))
	})
	if err != nil {
		return err
	}
	if filt.Limit < 1 || filt.Limit > catalog.MaxAuditLimit {
		return badFlag("limit", "%d must be 1-%d", filt.Limit, catalog.MaxAuditLimit)
	}
	if from != "" {
		if filt.From, _, err = parseTime("from", from); err != nil {
			return err
		}
	}
	if to != "" {
		var day bool
		if filt.To, day, err = parseTime("to", to); err != nil {
			return err
		}
		if day {
			filt.To = filt.To.AddDate(0, 0, 1) // the whole day
		}
	}
	if !filt.From.IsZero() && !filt.To.IsZero() && !filt.From.Before(filt.To) {
		return badFlag("to", "%s is not after --from %s", to, from)
	}
	store, conn, err := openStore(ctx, &c)
	if err != nil {
		return err
	}
	defer conn.Close()
	entries, err := store.AuditLog(ctx, filt)
	if err != nil {
		return err
	}
	if format == "json" {
		out := make([]auditView, 0, len(entries))
		for _, e := range entries {
			v := auditView{TS: e.TS, ID: e.ID, Actor: e.Actor, Action: e.Action, Entity: e.Entity, EntityID: e.EntityID, Country: e.Country}
			if e.Before != "" {
				v.Before = json.RawMessage(e.Before)
			}
			if e.After != "" {
				v.After = json.RawMessage(e.After)
			}
			out = append(out, v)
		}
		return printJSON(stdout, out)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tACTOR\tACTION\tENTITY\tID\tCOUNTRY\tCHANGES")
	for _, e := range entries {
		change := "created"
		if e.Before != "" {
			change = dash(changes(e.Before, e.After))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.TS.UTC().Format(time.RFC3339), e.Actor, e.Action, e.Entity, dash(e.EntityID), dash(e.Country), change)
	}
	return tw.Flush()
}
