package web

import (
	"fmt"
	"html/template"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/reports"
)

// What works elsewhere: country managers learn from each other. The
// pages show reports.PartnerInsights (GET /v1/insights/partners) and
// reports.PartnerCountries (GET /v1/partners/ID/countries) as they are:
// what of another country a reader sees is decided there, once, and the
// pages add no lookup of their own (no partnership, link or amount of a
// country the reader does not manage). The playbook form on the
// partnership page is PUT /v1/partnerships/ID/playbook.

const (
	elsewherePath = "/app/elsewhere"
	formPlaybook  = "playbook"
)

// elsewhereData is what the two pages show besides their table.
type elsewhereData struct {
	From, To  string
	MinClicks string // the form's min_clicks ("" = reports.DefaultMinClicks)
	Default   int    // reports.DefaultMinClicks
	// Manager: the form offers "absent from my countries" or every
	// partner (Absent), and a choice among the reader's countries when
	// there are several; others choose the country partners are absent
	// from ("" = every partner).
	Manager   bool
	Absent    bool
	Country   string   // the form's country ("" = the reader's countries, or none)
	Choices   []string // the countries the form offers
	AbsentIn  []string // the countries the table's partners are absent from (none: every partner)
	Partner   catalog.Partner
	LinkQuery template.URL // the period, kept on links between the pages
	// Replicate: the choices of form#replicate (nil: none for this reader).
	Replicate *replicateOpts
}

// crossRead reads the period and min_clicks as the API's cross-country
// reads do (reports.ReadCross), and loads what reports.Cross needs: an
// Env on the whole catalog (not the reader's part: the rates of other
// countries come from their data), the playbooks and the origins.
// Readers without CanReadInsights get 404, as on the other pages a role
// does not read.
func (s *Server) crossRead(q *req) (reports.Cross, *reports.Env, *elsewhereData, error) {
	if !q.p.CanReadInsights() {
		return reports.Cross{}, nil, nil, notFound("Page")
	}
	qv := q.r.URL.Query()
	cr, err := reports.ReadCross(q.p, s.cfg.Now(), qv)
	if err != nil {
		return cr, nil, nil, badRequest(err.Error())
	}
	d := &elsewhereData{Default: reports.DefaultMinClicks}
	if cr.MinClicks != 0 {
		d.MinClicks = qv.Get("min_clicks")
	}
	d.From, d.To = cr.From.Format(time.DateOnly), cr.To.Format(time.DateOnly)
	d.LinkQuery = template.URL(url.Values{"from": {d.From}, "to": {d.To}}.Encode()) // from url.Values.Encode: safe in a query
	ctx := q.r.Context()
	env, err := s.reportEnv(ctx)
	if err == nil {
		err = cr.ReadNotes(ctx, s.cfg.Catalog)
	}
	if err != nil {
		return cr, nil, nil, fmt.Errorf("cross-country results: %w", err)
	}
	return cr, env, d, nil
}

// absentFrom reads country (a comma-separated list) and absent as GET
// /v1/insights/partners does, with one default of the page's own:
// without absent, a country manager's page keeps the partners absent
// from its countries (the API's absent=true), another reader's page does
// so when it names a country.
func absentFrom(p access.Principal, qv url.Values, d *elsewhereData) ([]string, error) {
	d.Manager = p.Role == access.RoleCountryManager
	countries, err := reports.AbsentFrom(p, qv.Get("country"), qv.Get("absent"), d.Manager || qv.Get("country") != "")
	if err != nil {
		return nil, badRequest(err.Error())
	}
	d.Country = strings.ToUpper(strings.ReplaceAll(qv.Get("country"), " ", "")) // valid: AbsentFrom checked it
	d.Absent, d.AbsentIn = countries != nil, countries
	return countries, nil
}

// elsewherePage is "What works elsewhere": a row per partner
// (reports.PartnerInsights), by default those absent from the reader's
// countries that do well in another, each linked to its countries.
func (s *Server) elsewherePage(q *req) (*page, error) {
	cr, env, d, err := s.crossRead(q)
	if err != nil {
		return nil, err
	}
	qv := q.r.URL.Query()
	absent, err := absentFrom(q.p, qv, d)
	if err != nil {
		return nil, err
	}
	if d.Manager {
		if len(q.p.Countries) > 1 {
			d.Choices = q.p.Countries
		}
	} else {
		seen := map[string]bool{}
		for _, ps := range env.Catalog.Partnerships {
			if !seen[ps.Country] {
				seen[ps.Country] = true
				d.Choices = append(d.Choices, ps.Country)
			}
		}
		slices.Sort(d.Choices)
	}
	t, err := reports.PartnerInsights(q.r.Context(), env, cr, absent)
	if err != nil {
		return nil, err
	}
	title := "Partners"
	if absent != nil {
		title = "Partners doing well elsewhere, absent from " + strings.Join(absent, ", ")
	}
	tb := q.f.fromReport("partners", title, t, rowKey("partner"))
	tb.Empty = "No partner to show for this period."
	if absent != nil {
		n := cr.MinClicks
		if n == 0 {
			n = reports.DefaultMinClicks
		}
		tb.Empty = fmt.Sprintf("No partner absent from %s has a country with at least %d clicks in this period.", strings.Join(absent, ", "), n)
	}
	query := url.Values{"from": {d.From}, "to": {d.To}}
	for _, k := range []string{"absent", "country", "min_clicks"} {
		if v := qv.Get(k); v != "" {
			query.Set(k, v)
		}
	}
	tb.CSV = csvHref(elsewherePath, tb.Name, query)
	tb.LinkQuery = d.LinkQuery
	for i := range tb.Rows {
		r := &tb.Rows[i]
		r.Partner = r.Key
		for j := range r.Cells {
			if r.Cells[j].Col == "name" && r.Cells[j].Raw != "" {
				r.Cells[j].Href = elsewherePath + "/" + r.Key + "?" + string(d.LinkQuery)
			}
		}
	}
	return &page{Title: "What works elsewhere", Template: "elsewhere", Tables: []*Table{tb}, Data: d}, nil
}

// partnerCountriesPage is one partner's results across countries
// (reports.PartnerCountries): rates, ranks and notes for every country,
// counts, money and the partnership (linked) for the reader's own.
func (s *Server) partnerCountriesPage(q *req, id string) (*page, error) {
	cr, env, d, err := s.crossRead(q)
	if err != nil {
		return nil, err
	}
	if !reports.Listed(q.p, env.Catalog, id) {
		return nil, notFound("Partner")
	}
	pt := env.Catalog.Partners[id]
	d.Partner = pt
	t, err := reports.PartnerCountries(q.r.Context(), env, cr, id)
	if err != nil {
		return nil, err
	}
	name := pt.Name
	if name == "" {
		name = pt.ID
	}
	tb := q.f.fromReport("countries", name+" across countries", t, rowKey("country"))
	tb.Empty = "This partner has no partnership in any country."
	path := elsewherePath + "/" + id
	tb.CSV = csvHref(path, tb.Name, url.Values{"from": {d.From}, "to": {d.To}})
	tb.LinkQuery = d.LinkQuery
	for i := range tb.Rows {
		r := &tb.Rows[i]
		r.Partnership = r.Cell("partnership") // the reader's own countries only
		cur := r.Cell("currency")
		for j := range r.Cells {
			c := &r.Cells[j]
			if strings.HasPrefix(c.Col, "revenue_") && c.Raw != "" && cur != "" {
				if v, err := decimal.NewFromString(c.Raw); err == nil {
					c.Text = q.loc.Money(v, cur)
				}
			}
		}
	}
	d.Replicate = s.replicateChoices(q, tb.Rows)
	return &page{Title: name + " across countries", Template: "elsewhere_partner", Tables: []*Table{tb}, Data: d}, nil
}

// playbookState is the playbook section of the partnership page.
type playbookState struct {
	Note    *catalog.Playbook // nil: none yet
	CanEdit bool
	Version int // the version the form is made from (0: none yet)
}

// Text is the stored note, "" for none.
func (st *playbookState) Text() string {
	if st.Note == nil {
		return ""
	}
	return st.Note.Note
}

// partnershipPlaybook is the playbook of partnership ps as its page shows
// it: to readers of the cross-country results (not partners), with the
// form for those who may write the partnership.
func (s *Server) partnershipPlaybook(q *req, ps catalog.Partnership) (*playbookState, error) {
	if !q.p.CanReadInsights() {
		return nil, nil
	}
	pb, ok, err := s.cfg.Catalog.PlaybookOf(q.r.Context(), ps.ID)
	if err != nil {
		return nil, fmt.Errorf("partnership page: %w", err)
	}
	st := &playbookState{CanEdit: q.p.WritesPartnerships() && q.p.CanWritePartnership(ps.Country)}
	if ok {
		st.Note, st.Version = &pb, pb.Version
	}
	return st, nil
}

// setPlaybook is PUT /v1/partnerships/ID/playbook from the partnership
// page's form: admins and the managers of the partnership's country; an
// empty note removes it. The form's version is the note the page showed
// (0: none): a note written or changed since refuses the form ("changed
// by someone else") instead of overwriting it.
func (s *Server) setPlaybook(q *req, id string) error {
	const what = "The playbook note was not saved"
	ps, ok, err := s.writablePartnership(q, id, "set playbook")
	if !ok {
		return err
	}
	ctx := q.r.Context()
	back := backURL(q, "/app/partnerships/"+id)
	version, given, err := q.formVersion()
	if err != nil {
		return s.refuseErr(q, back, formPlaybook, what, "partnership", err)
	}
	if given && version == 0 {
		version = catalog.NoPlaybook // the page showed none: a note written since is not overwritten
	}
	pb, err := s.cfg.Catalog.SetPlaybook(ctx, ps.ID, q.r.PostFormValue("note"), version, q.p.Actor())
	if err != nil {
		return s.refuseErr(q, back, formPlaybook, what, "partnership", err)
	}
	s.log.Info("web: playbook set", "partnership", ps.ID, "by", q.p.Actor())
	if pb.Note == "" {
		return q.done(back, "The playbook note of "+ps.ID+" is removed.")
	}
	return q.done(back, "The playbook note of "+ps.ID+" is saved.")
}
