package main

// Country managers learn from each other: xpromo insights (a partner's
// results across countries, the partners that work elsewhere) and the
// partnership subcommands of the same work, replicate (copy a partnership
// into another country) and playbook (a note on what worked). The CLI
// reads every country and writes as an admin; the API gives a reader the
// same results limited to what it may see (docs/AUTH.md, "Across
// countries").

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/xpromo/xpromo/app/admin"
	"github.com/xpromo/xpromo/reports"
)

func insightsCmd() *cobra.Command {
	return group("insights SUBCOMMAND [flags]",
		sub{"partners by how well they do across countries; --absent-from CC,... for what works elsewhere", insightsPartners()},
		sub{"a partner's results in each country where it runs: PARTNER", insightsCountries()})
}

// withCrossCountry adds the partnership subcommands of the cross-country
// work to c, the partnership group.
func withCrossCountry(c *cobra.Command) *cobra.Command {
	for _, s := range []sub{
		{"copy a partner's partnership into another country: PARTNER --from-country CC --country CC [terms flags]", partnershipReplicate()},
		{"set or remove a partnership's playbook note: PARTNERSHIP --note TEXT", partnershipPlaybook()},
	} {
		s.cmd.Short = s.short
		c.AddCommand(s.cmd)
	}
	return c
}

const insightsDays = `

Days are calendar days in each country's own time zone (xpromo country
set-timezone, default UTC); the default period is the 90 days before today.
Rates are new users of both directions per 1,000 clicks of both; trend
compares the new users with the period of the same length just before. The
CLI reads every country (as admin); the API gives a reader the same results
limited to what it may see (docs/AUTH.md, "Across countries").`

// registerInsights binds the period and format flags of the insights
// subcommands to q.
func registerInsights(f *flags, q *admin.InsightsQuery) {
	now := clock().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	f.StringVar(&q.From, "from", today.AddDate(0, 0, -reports.DefaultCrossDays).Format(time.DateOnly), fmt.Sprintf("first day, YYYY-MM-DD (default: %d days before today)", reports.DefaultCrossDays))
	f.StringVar(&q.To, "to", today.AddDate(0, 0, -1).Format(time.DateOnly), "last day, YYYY-MM-DD, included (default: yesterday)")
	f.StringVar(&q.Format, "format", reports.FormatTable, "table, csv, json or xlsx (binary: redirect it to a file)")
}

func insightsPartners() *cobra.Command {
	var c common
	var q admin.InsightsQuery
	f := newFlags("insights partners", "insights partners [--from DATE] [--to DATE] [--absent-from CC,...] [--min-clicks N] [--format table|csv|json|xlsx]", `
One row per partner, best first: the countries where it runs, its best
country and rate, the median rate, its best share of a country's new
users, the trend and the number of playbook notes. Best and median are
over the countries with at least --min-clicks clicks. With --absent-from,
only the partners that run in none of those countries and do well
somewhere: what works elsewhere. The same as GET /v1/insights/partners.`+insightsDays)
	c.register(f, false)
	registerInsights(f, &q)
	f.StringVar(&q.AbsentFrom, "absent-from", "", "only partners absent from these countries that do well elsewhere, comma-separated ISO alpha-2")
	f.Uint64Var(&q.MinClicks, "min-clicks", reports.DefaultMinClicks, "a country's rate counts from this many clicks in the period")
	return c.run(f, func(ctx context.Context, e *admin.Env) error {
		if q.MinClicks == 0 {
			return fmt.Errorf("%w: --min-clicks 0: want 1 or more", errUsage)
		}
		cr, absent, err := q.Cross(clock())
		if err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		return e.PartnerInsights(ctx, cr, absent, q.Format)
	})
}

func insightsCountries() *cobra.Command {
	var c common
	var q admin.InsightsQuery
	var partner string
	f := newFlags("insights countries", "insights countries PARTNER [--from DATE] [--to DATE] [--format table|csv|json|xlsx]", `
One row per country where PARTNER has a partnership, ranked by rate: its
status, since when it runs, where it was replicated from, the click band,
the rate, its share of the country's new users, the balance (new users
received / given), the trend, the ranks, the playbook note, and the
counts and revenue. The same as GET /v1/partners/PARTNER/countries.`+insightsDays)
	f.cmd.Args = cobra.ArbitraryArgs
	c.register(f, false)
	f.StringVar(&partner, "partner", "", "partner id (or give it as PARTNER)")
	registerInsights(f, &q)
	return c.run(f, func(ctx context.Context, e *admin.Env) error {
		id, err := oneArg(f, "partner", "PARTNER")
		if err != nil {
			return err
		}
		cr, _, err := q.Cross(clock())
		if err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		return e.PartnerCountries(ctx, cr, id, q.Format)
	})
}

// replicateUsage replaces the help of terms flags whose terms set wording
// does not fit a copy.
var replicateUsage = map[string]string{
	"currency":   "ISO 4217 currency of the amounts, e.g. EUR (default: the source's)",
	"start-date": "first day of the agreement, YYYY-MM-DD (default: --start)",
}

func partnershipReplicate() *cobra.Command {
	var r admin.Replication
	var partner, start string
	f := newCmdFlags("partnership replicate", "partnership replicate PARTNER --from-country CC --country CC [--id ID] [--url-template URL] [--outbound-url-template URL] [--lang L] [--start YYYY-MM-DD] [--currency EUR] [--inbound-cpa 10] [...]", `
Copies PARTNER's partnership in --from-country into --country, in one
change filed in the audit log (the entries share one tx): a partnership of
the same partner and direction; as its first terms version, the source's
latest from --start (default today, UTC), changed by the terms flags given
(those of `+"`xpromo partnership terms set`"+`); and each of the source's
links that is not archived, with a new code, its direction, campaign and
status, and its URL, or the one a template builds: --url-template for
inbound links (to our site), --outbound-url-template for outbound ones (to
the partner's, on its domains). A template may hold
  {country} the country in lower case, {COUNTRY} in upper case,
  {lang} --lang (default: the country's main language, e.g. fr for FR),
  {campaign} the link's campaign, {path} the source URL's path, query and fragment,
  {click_id} stays for the redirect to fill.
The copy records where it came from (xpromo insights countries shows it).
A partner runs at most one partnership per country: one already in
--country is refused.`)
	f.cmd.Args = cobra.ArbitraryArgs
	f.StringVar(&partner, "partner", "", "partner id (or give it as PARTNER)")
	f.StringVar(&r.FromCountry, "from-country", "", "country of the partnership to copy, ISO 3166-1 alpha-2 (required)")
	f.StringVar(&r.Country, "country", "", "country to copy it into, ISO 3166-1 alpha-2 (required)")
	f.StringVar(&r.ID, "id", "", "the new partnership's id (default: PARTNER-cc, e.g. acme-fr)")
	f.StringVar(&r.URLTemplate, "url-template", "", "the copied inbound links' URL, e.g. https://www.example.com/{lang}-{country}/{path} (default: the source links' URLs)")
	f.StringVar(&r.OutboundURLTemplate, "outbound-url-template", "", "the copied outbound links' URL, on the partner's domains (default: the source links' URLs)")
	f.StringVar(&r.Lang, "lang", "", "{lang} of the templates, e.g. fr or pt-BR (default: the country's main language)")
	f.StringVar(&start, "start", "", "UTC day from which the copy's terms apply, YYYY-MM-DD (default today)")
	r.Values = make([]string, len(admin.TermsFields))
	for i, tf := range admin.TermsFields {
		usage := tf.Usage
		if u, ok := replicateUsage[tf.Name]; ok {
			usage = u
		}
		f.StringVar(&r.Values[i], tf.Name, "", usage)
	}
	f.BoolVar(&r.MayCreate, "partner-may-create-links", false, "whether the partner's own API tokens may create links (default: the source's)")
	publicURLFlag(f.flags, &r.PublicURL)
	f.BoolVar(&r.JSON, "json", false, "print what was made as JSON")
	return f.runStore(func() (err error) {
		if r.Partner, err = oneArg(f.flags, "partner", "PARTNER"); err != nil {
			return err
		}
		if err := f.require("from-country", "country"); err != nil {
			return err
		}
		r.Given = f.given()
		if start != "" {
			r.From, err = admin.ParseDay("start", start)
		}
		return err
	}, func(ctx context.Context, c *admin.Catalog) error { return c.Replicate(ctx, r) })
}

func partnershipPlaybook() *cobra.Command {
	var id, note string
	f := newCmdFlags("partnership playbook", "partnership playbook PARTNERSHIP --note TEXT", `
Sets PARTNERSHIP's playbook note: what worked, in at most 2,000 characters
(line breaks allowed), which the managers of every country read next to the
partner's results (xpromo insights countries). --note '' removes it. The
change is filed in the audit log in the partnership's country.`)
	f.cmd.Args = cobra.ArbitraryArgs
	f.StringVar(&id, "partnership", "", "partnership id (or give it as PARTNERSHIP)")
	f.StringVar(&note, "note", "", "the note; '' removes it (required)")
	return f.runStore(func() (err error) {
		if id, err = oneArg(f.flags, "partnership", "PARTNERSHIP"); err != nil {
			return err
		}
		if !f.given()["note"] {
			fmt.Fprintf(f.Output(), "--note is required (--note '' removes the note)\n\n")
			f.Usage()
			return errUsage
		}
		return nil
	}, func(ctx context.Context, c *admin.Catalog) error { return c.SetPlaybook(ctx, id, note) })
}

// oneArg is the one positional argument of f's command (arg names it in
// the usage, as PARTNER) or, in its stead, the value of flag name; a
// usage error when there is neither, or more than one.
func oneArg(f *flags, name, arg string) (string, error) {
	v := strings.TrimSpace(f.Lookup(name).Value.String())
	switch n := f.NArg(); {
	case n > 1:
		return "", fmt.Errorf("%w: want one %s, got %d arguments", errUsage, arg, n)
	case n == 1 && v != "" && v != strings.TrimSpace(f.Arg(0)):
		return "", fmt.Errorf("%w: %s %q and --%s %q: give one", errUsage, arg, f.Arg(0), name, v)
	case n == 1:
		return strings.TrimSpace(f.Arg(0)), nil
	case v == "":
		fmt.Fprintf(f.Output(), "%s is required (or --%s)\n\n", arg, name)
		f.Usage()
		return "", errUsage
	}
	return v, nil
}
