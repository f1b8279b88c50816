package gen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/vocab"
)

// market is one of the countries partnerships run in.
type market struct {
	Code     string // ISO 3166-1 alpha-2
	Offset   int    // rough UTC offset in hours, for the local hour-of-day cycle
	Currency string // currency most of its partnerships are priced in ("" = USD or EUR)
}

// markets are the 60 largest markets, largest first (roughly by online
// retail spend). The rank sets the share of partnerships a country gets.
var markets = []market{
	{"US", -5, "USD"}, {"CN", 8, ""}, {"GB", 0, "GBP"}, {"JP", 9, ""}, {"DE", 1, "EUR"},
	{"FR", 1, "EUR"}, {"KR", 9, ""}, {"CA", -5, "USD"}, {"IN", 5, ""}, {"BR", -3, ""},
	{"IT", 1, "EUR"}, {"ES", 1, "EUR"}, {"AU", 10, ""}, {"NL", 1, "EUR"}, {"MX", -6, ""},
	{"RU", 3, ""}, {"ID", 7, ""}, {"TR", 3, ""}, {"SE", 1, ""}, {"PL", 1, ""},
	{"CH", 1, ""}, {"BE", 1, "EUR"}, {"SA", 3, ""}, {"TW", 8, ""}, {"AT", 1, "EUR"},
	{"NO", 1, ""}, {"IE", 0, "EUR"}, {"DK", 1, ""}, {"AE", 4, ""}, {"SG", 8, ""},
	{"IL", 2, ""}, {"TH", 7, ""}, {"AR", -3, ""}, {"MY", 8, ""}, {"PH", 8, ""},
	{"VN", 7, ""}, {"ZA", 2, ""}, {"FI", 2, "EUR"}, {"PT", 0, "EUR"}, {"CZ", 1, ""},
	{"NZ", 12, ""}, {"CO", -5, ""}, {"CL", -4, ""}, {"RO", 2, ""}, {"GR", 2, "EUR"},
	{"HU", 1, ""}, {"EG", 2, ""}, {"NG", 1, ""}, {"PK", 5, ""}, {"PE", -5, ""},
	{"UA", 2, ""}, {"KZ", 5, ""}, {"QA", 3, ""}, {"KW", 3, ""}, {"SK", 1, "EUR"},
	{"MA", 1, ""}, {"BD", 6, ""}, {"EC", -5, "USD"}, {"HR", 1, "EUR"}, {"LU", 1, "EUR"},
}

// MaxCountries is how many countries the generator knows.
const MaxCountries = 60

// Shares and shapes of the catalog. They are documented in docs/GEN.md.
const (
	countrySkew     = 1.1 // Zipf exponent of the partnerships per country
	popularitySkew  = 1.0 // Zipf exponent of the hits per partnership
	partnersPerPS   = 4   // about one partner per 4 partnerships
	ourSite         = "xpromo.example"
	linksMin        = 2
	linksMax        = 4
	visitsPerPerson = 4.0 // hits per visitor id in a partnership's pool, on average
)

// plan is the whole catalog and the traffic model, a pure function of the
// configuration.
type plan struct {
	cfg          Config
	prefix       string // "g<seed>"
	countries    []market
	partners     []partnerPlan
	partnerships []psPlan
	psAlias      *alias    // partnership of a hit
	countryAlias *alias    // a foreign visitor's country
	hourAlias    *alias    // local hour of a hit
	dayCounts    []int64   // hits per day
	dayStarts    []int64   // index of the first hit of each day
	start, end   time.Time // first day, midnight UTC; the day after the last
	countryPool  []uint64  // visitor ids in each country's shared pool
}

type partnerPlan struct {
	ID, Name, Domain string
	Countries        []string
}

type linkPlan struct {
	Code, Direction, Campaign, URL string
	dir                            int8 // 1 inbound, 2 outbound
}

type psPlan struct {
	ID, Partner, Country, Direction string
	partner                         int // index into plan.partners
	country                         int // index into plan.countries
	Links                           []linkPlan
	linkCum                         []float64 // cumulative link weights, last = 1
	Terms                           catalog.Terms
	weight                          float64 // share of hits
	pool                            uint64  // visitor ids in its own pool
	src                             string  // "partner:<partner>"
	domain                          string
	inRefs                          []string // referrer hosts of inbound hits
}

// newPlan builds the catalog and traffic model from cfg (already validated).
func newPlan(cfg Config) *plan {
	p := &plan{cfg: cfg, prefix: fmt.Sprintf("g%d", cfg.Seed), start: cfg.Start, end: cfg.Start.AddDate(0, 0, cfg.Days)}
	r := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6361_7461_6c6f_67)) // "catalog"
	p.countries = markets[:cfg.Countries]

	// Partnerships per country: every country gets one, the rest follow a
	// Zipf law over the market rank, capped so that no partner needs two
	// partnerships in one country.
	nPartners := max(1, (cfg.Partnerships+partnersPerPS-1)/partnersPerPS)
	perCountry := make([]int, len(p.countries))
	cw := make([]float64, len(p.countries))
	for i := range cw {
		cw[i] = 1 / math.Pow(float64(i+1), countrySkew)
	}
	nPartners = max(nPartners, (cfg.Partnerships+len(cw)-1)/len(cw))
	ca := newAlias(cw)
	country := make([]int, cfg.Partnerships)
	for i := range country {
		c := i
		if i >= len(cw) {
			for c = ca.sample(r); perCountry[c] >= nPartners; c = ca.sample(r) {
			}
		}
		country[i] = c
		perCountry[c]++
	}
	slices.Sort(country) // partnerships numbered by country rank

	p.partners = make([]partnerPlan, nPartners)
	for i := range p.partners {
		name := partnerName(r)
		slug := strings.ToLower(strings.ReplaceAll(name, " ", ""))
		p.partners[i] = partnerPlan{
			ID:     fmt.Sprintf("%s-p%04d", p.prefix, i+1),
			Name:   fmt.Sprintf("%s %d", name, i+1),
			Domain: fmt.Sprintf("%s%d-%s.example", slug, i+1, p.prefix),
		}
	}

	p.partnerships = make([]psPlan, cfg.Partnerships)
	for i := range p.partnerships {
		c := country[i]
		pi := i % nPartners // round robin: distinct partners within a country
		ps := &p.partnerships[i]
		*ps = psPlan{
			ID:      fmt.Sprintf("%s-%s-%04d", p.prefix, strings.ToLower(p.countries[c].Code), i+1),
			Partner: p.partners[pi].ID, partner: pi,
			Country: p.countries[c].Code, country: c,
			domain: p.partners[pi].Domain,
			src:    vocab.SourcePartnerPrefix + p.partners[pi].ID,
			inRefs: inRefs(p.partners[pi].Domain),
		}
		if !slices.Contains(p.partners[pi].Countries, ps.Country) {
			p.partners[pi].Countries = append(p.partners[pi].Countries, ps.Country)
		}
		switch x := r.Float64(); {
		case x < 0.80:
			ps.Direction = vocab.Both
		case x < 0.92:
			ps.Direction = vocab.Inbound
		default:
			ps.Direction = vocab.Outbound
		}
		p.planLinks(r, ps, i+1)
		ps.Terms = p.planTerms(r, ps)
	}

	// Popularity: a country's share of the hits follows its market rank
	// (the same Zipf law as its share of partnerships); within a country
	// the partnerships' shares follow a Zipf law over a random order. So a
	// few countries carry most of the traffic and, in each, a few
	// partnerships most of the country's.
	byCountry := make([][]int, len(p.countries))
	for _, i := range r.Perm(len(p.partnerships)) {
		c := p.partnerships[i].country
		byCountry[c] = append(byCountry[c], i)
	}
	weights := make([]float64, len(p.partnerships))
	total := 0.0
	for c, list := range byCountry {
		h := 0.0
		for rank := range list {
			h += 1 / math.Pow(float64(rank+1), popularitySkew)
		}
		for rank, i := range list {
			weights[i] = cw[c] * (1 / math.Pow(float64(rank+1), popularitySkew)) / h
			total += weights[i]
		}
	}
	countryShare := make([]float64, len(p.countries))
	for i := range p.partnerships {
		ps := &p.partnerships[i]
		ps.weight = weights[i] / total
		ps.pool = max(20, uint64(ps.weight*float64(cfg.Hits)/visitsPerPerson))
		countryShare[ps.country] += ps.weight
	}
	p.countryPool = make([]uint64, len(p.countries))
	for c, w := range countryShare {
		p.countryPool[c] = max(20, uint64(w*sharedShare*float64(cfg.Hits)/visitsPerPerson))
	}
	p.psAlias = newAlias(weights)
	p.countryAlias = ca
	p.hourAlias = newAlias(hourWeights[:])
	p.planDays()
	return p
}

var (
	syllables = []string{"nor", "lu", "ka", "vi", "sto", "mar", "bel", "tri", "zen", "qua",
		"ro", "fin", "dal", "mi", "sol", "ver", "ax", "on", "li", "pix", "tor", "ema", "gal", "po"}
	nouns     = []string{"Media", "Shop", "Games", "Travel", "Bank", "Mobile", "Foods", "Apps", "Deals", "Music", "Sports", "Home"}
	campaigns = []string{"spring-sale", "newsletter", "banner-top", "footer", "social", "loyalty", "summer", "black-friday", "onboarding", "app-install"}
)

func partnerName(r *rand.Rand) string {
	n := 2 + r.IntN(2)
	var b strings.Builder
	for range n {
		b.WriteString(syllables[r.IntN(len(syllables))])
	}
	s := b.String()
	return strings.ToUpper(s[:1]) + s[1:] + " " + nouns[r.IntN(len(nouns))]
}

func (p *plan) planLinks(r *rand.Rand, ps *psPlan, n int) {
	k := linksMin + r.IntN(linksMax-linksMin+1)
	weights := make([]float64, k)
	total := 0.0
	for j := range k {
		dir := ps.Direction
		if dir == vocab.Both {
			switch j {
			case 0:
				dir = vocab.Inbound
			case 1:
				dir = vocab.Outbound
			default:
				dir = []string{vocab.Inbound, vocab.Outbound}[r.IntN(2)]
			}
		}
		camp := campaigns[r.IntN(len(campaigns))]
		l := linkPlan{Direction: dir, Campaign: camp}
		if dir == vocab.Inbound {
			l.dir = 1
			l.Code = fmt.Sprintf("%s-%04d-i%d", p.prefix, n, j+1)
			l.URL = fmt.Sprintf("https://www.%s/welcome?utm_source=%s&utm_campaign=%s", ourSite, ps.Partner, camp)
		} else {
			l.dir = 2
			l.Code = fmt.Sprintf("%s-%04d-o%d", p.prefix, n, j+1)
			l.URL = fmt.Sprintf("https://www.%s/promo/%s?ref=xpromo&click={click_id}", ps.domain, camp)
		}
		ps.Links = append(ps.Links, l)
		weights[j] = (0.5 + r.Float64()) / float64(j+1)
		total += weights[j]
	}
	cum := 0.0
	for j := range weights {
		cum += weights[j] / total
		ps.linkCum = append(ps.linkCum, cum)
	}
	ps.linkCum[k-1] = 1
}

// money returns a random amount between lo and hi with 2 decimals.
func money(r *rand.Rand, lo, hi float64) decimal.Decimal {
	cents := int64(math.Round((lo + r.Float64()*(hi-lo)) * 100))
	return decimal.New(cents, -2)
}

func (p *plan) planTerms(r *rand.Rand, ps *psPlan) catalog.Terms {
	cur := p.countries[ps.country].Currency
	if cur == "" {
		cur = "USD"
		if r.Float64() < 0.4 {
			cur = "EUR"
		}
	}
	t := catalog.Terms{
		Currency:              cur,
		EffectiveFrom:         p.start,
		StartDate:             p.start,
		Status:                catalog.StatusActive,
		AttributionModel:      catalog.LastClick,
		AttributionWindowDays: []uint16{7, 14, 30, 30, 30, 60, 90}[r.IntN(7)],
		FallbackURL:           fmt.Sprintf("https://www.%s/", ourSite),
	}
	if r.Float64() < 0.15 {
		t.AttributionModel = catalog.FirstClick
	}
	windows := []uint16{90, 180, 365, 365}
	pct := []int64{5, 10, 10, 15, 20, 25, 30}
	side := func() (cpa, share decimal.Decimal, window uint16, target uint32) {
		cpa, share = decimal.Zero, decimal.Zero
		switch x := r.Float64(); {
		case x < 0.4:
			cpa = money(r, 2, 60)
		case x < 0.7:
			share = decimal.NewFromInt(pct[r.IntN(len(pct))])
		default:
			cpa = money(r, 1, 30)
			share = decimal.NewFromInt(pct[r.IntN(len(pct))] / 2)
		}
		if r.Float64() < 0.5 {
			target = uint32(50 * (1 + r.IntN(40)))
		}
		return cpa, share, windows[r.IntN(len(windows))], target
	}
	if ps.Direction != vocab.Outbound {
		t.InboundCPA, t.InboundRevSharePct, t.InboundRevenueWindowDays, t.TargetInboundUsersMonth = side()
	}
	if ps.Direction != vocab.Inbound {
		t.OutboundCPA, t.OutboundRevSharePct, t.OutboundRevenueWindowDays, t.TargetOutboundUsersMonth = side()
	}
	return t
}

// hourWeights is the share of traffic per local hour of day.
var hourWeights = [24]float64{
	0.35, 0.22, 0.15, 0.12, 0.12, 0.18, 0.35, 0.60, 0.85, 1.00, 1.05, 1.10,
	1.15, 1.10, 1.05, 1.05, 1.10, 1.15, 1.25, 1.40, 1.50, 1.40, 1.05, 0.65,
}

// weekdayWeights is the traffic per weekday, Sunday first.
var weekdayWeights = [7]float64{0.90, 1.00, 1.02, 1.03, 1.00, 0.95, 0.85}

// planDays splits the hits over the days: weekly cycle, a 30% growth
// over the period, a December peak and ±5% noise; largest remainders make
// the total exact.
func (p *plan) planDays() {
	r := rand.New(rand.NewPCG(uint64(p.cfg.Seed), 0x64617973)) // "days"
	n := p.cfg.Days
	w := make([]float64, n)
	total := 0.0
	for d := range n {
		t := p.start.AddDate(0, 0, d)
		season := 1 + 0.15*math.Cos(2*math.Pi*float64(t.YearDay()-350)/365)
		trend := 1 + 0.3*float64(d)/float64(n)
		w[d] = weekdayWeights[t.Weekday()] * season * trend * math.Max(0.5, 1+0.05*r.NormFloat64())
		total += w[d]
	}
	p.dayCounts = make([]int64, n)
	type rem struct {
		d int
		f float64
	}
	rems := make([]rem, n)
	var sum int64
	for d := range n {
		x := float64(p.cfg.Hits) * w[d] / total
		p.dayCounts[d] = int64(x)
		sum += p.dayCounts[d]
		rems[d] = rem{d, x - math.Floor(x)}
	}
	slices.SortStableFunc(rems, func(a, b rem) int {
		switch {
		case a.f > b.f:
			return -1
		case a.f < b.f:
			return 1
		}
		return 0
	})
	for i := 0; sum < p.cfg.Hits; i++ {
		p.dayCounts[rems[i%n].d]++
		sum++
	}
	p.dayStarts = make([]int64, n)
	var at int64
	for d := range n {
		p.dayStarts[d] = at
		at += p.dayCounts[d]
	}
}

// alias samples an index with probability proportional to its weight in
// O(1) (Vose's alias method).
type alias struct {
	prob  []float64
	alias []int32
}

func newAlias(w []float64) *alias {
	n := len(w)
	a := &alias{prob: make([]float64, n), alias: make([]int32, n)}
	total := 0.0
	for _, x := range w {
		total += x
	}
	scaled := make([]float64, n)
	var small, large []int
	for i, x := range w {
		scaled[i] = x * float64(n) / total
		if scaled[i] < 1 {
			small = append(small, i)
		} else {
			large = append(large, i)
		}
	}
	for len(small) > 0 && len(large) > 0 {
		s, l := small[len(small)-1], large[len(large)-1]
		small, large = small[:len(small)-1], large[:len(large)-1]
		a.prob[s], a.alias[s] = scaled[s], int32(l)
		scaled[l] += scaled[s] - 1
		if scaled[l] < 1 {
			small = append(small, l)
		} else {
			large = append(large, l)
		}
	}
	for _, i := range append(small, large...) {
		a.prob[i], a.alias[i] = 1, int32(i)
	}
	return a
}

func (a *alias) sample(r *rand.Rand) int { return a.sampleU(r.Float64()) }

// sampleU samples with u, uniform in [0, 1).
func (a *alias) sampleU(x float64) int {
	u := x * float64(len(a.prob))
	i := int(u)
	if i >= len(a.prob) {
		i = len(a.prob) - 1
	}
	if u-float64(i) < a.prob[i] {
		return i
	}
	return int(a.alias[i])
}
