package gen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/xpromo/xpromo/domain/vocab"
)

// Traffic shape; docs/GEN.md explains the choices.
const (
	// unitRows bounds the hits one unit of work generates. Units are cut
	// from days by this constant (not by --batch or the number of
	// workers), so the rows depend on the seed and the sizes only.
	unitRows = 1 << 16

	clickShare   = 0.25 // hits that are clicks; the rest are views (3 views per click)
	botShare     = 0.05 // hits from bots: is_bot=1, device bot, no fingerprint, a new visitor id each time
	loyalShare   = 0.45 // human hits from the loyal tenth of a partnership's visitor pool
	sharedShare  = 0.05 // human hits from a visitor pool shared by a country's partnerships (overlaps)
	homeShare    = 88   // percent of visitors in the partnership's own country
	clickIDShare = 0.85 // our signups that name the click id; the rest match by visitor
	existingRate = 0.05 // our signups of users who already had an account
	ourDupRate   = 0.01 // our signups and purchases reported twice
	postDupRate  = 0.02 // partners' postbacks sent twice
	refundRate   = 0.03 // purchases refunded later
	day          = 86400
)

// Enum values of the hits and conversions columns.
const (
	kindClick, kindView         int8 = 1, 2
	dirInbound, dirOutbound     int8 = 1, 2
	devOther, devDesktop        int8 = 0, 1
	devMobile, devTablet        int8 = 2, 3
	devBot                      int8 = 4
	typSignup, typPurch, typRef int8 = 1, 2, 3
)

// unit is a share of one day's hits.
type unit struct {
	day, part, rows int
}

// units cuts the days into units of at most unitRows hits, in time order.
func (p *plan) units() []unit {
	var out []unit
	for d, n := range p.dayCounts {
		parts := int((n + unitRows - 1) / unitRows)
		for k := range parts {
			rows := int(n / int64(parts))
			if int64(k) < n%int64(parts) {
				rows++
			}
			out = append(out, unit{day: d, part: k, rows: rows})
		}
	}
	return out
}

// hitRows holds hits column-wise. Columns that are empty for clicks and
// views (event, click_ref, order_id, amount, currency, fallback) are
// added at insert time.
type hitRows struct {
	id, link, partner, partnership, campaign, country, visitor, ref, fp []string
	ts, ingested                                                        []int64
	kind, dir, device                                                   []int8
	bot                                                                 []uint8
}

func (h *hitRows) len() int { return len(h.id) }

func (h *hitRows) reset() {
	h.id, h.link, h.partner, h.partnership = h.id[:0], h.link[:0], h.partner[:0], h.partnership[:0]
	h.campaign, h.country, h.visitor, h.ref, h.fp = h.campaign[:0], h.country[:0], h.visitor[:0], h.ref[:0], h.fp[:0]
	h.ts, h.ingested, h.kind, h.dir, h.device, h.bot = h.ts[:0], h.ingested[:0], h.kind[:0], h.dir[:0], h.device[:0], h.bot[:0]
}

// appendRange appends rows [from, to) of src.
func (h *hitRows) appendRange(src *hitRows, from, to int) {
	h.id = append(h.id, src.id[from:to]...)
	h.link = append(h.link, src.link[from:to]...)
	h.partner = append(h.partner, src.partner[from:to]...)
	h.partnership = append(h.partnership, src.partnership[from:to]...)
	h.campaign = append(h.campaign, src.campaign[from:to]...)
	h.country = append(h.country, src.country[from:to]...)
	h.visitor = append(h.visitor, src.visitor[from:to]...)
	h.ref = append(h.ref, src.ref[from:to]...)
	h.fp = append(h.fp, src.fp[from:to]...)
	h.ts = append(h.ts, src.ts[from:to]...)
	h.ingested = append(h.ingested, src.ingested[from:to]...)
	h.kind = append(h.kind, src.kind[from:to]...)
	h.dir = append(h.dir, src.dir[from:to]...)
	h.device = append(h.device, src.device[from:to]...)
	h.bot = append(h.bot, src.bot[from:to]...)
}

// convRow is one conversion as the conversions table stores it. Times are
// Unix seconds; amounts are in cents.
type convRow struct {
	id                                      string
	ts, received, ingested                  int64
	typ                                     int8
	source, user, order, click, visitor, fp string
	existing, duplicate                     uint8
	cents                                   int64
	currency, partner, country              string
}

// unitOut is what one unit generates.
type unitOut struct {
	hits  hitRows
	convs []convRow
	stats stats
}

// stats counts what was generated.
type stats struct {
	clicks, views, bots, signups, purchases, refunds, postbacks, dups int64
}

func (s *stats) add(o stats) {
	s.clicks += o.clicks
	s.views += o.views
	s.bots += o.bots
	s.signups += o.signups
	s.purchases += o.purchases
	s.refunds += o.refunds
	s.postbacks += o.postbacks
	s.dups += o.dups
}

// unitRand is the random stream of one unit: a function of the seed and
// the unit's place only.
func (p *plan) unitRand(u unit) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(p.cfg.Seed)^0x68697473, uint64(u.day)<<24|uint64(u.part)))
}

// gen generates the hits of u and the conversions that follow from its
// clicks into out (reset first).
func (p *plan) gen(u unit, out *unitOut) {
	out.hits.reset()
	out.convs = out.convs[:0]
	out.stats = stats{}
	r := p.unitRand(u)
	h := &out.hits
	dayStart := p.start.Unix() + int64(u.day)*day
	dayNum := dayStart / day
	end := p.end.Unix()
	seedKey := mix(uint64(p.cfg.Seed))
	j := &journey{p: p, r: r, u: u, out: out, end: end}
	for range u.rows {
		psi := p.psAlias.sample(r)
		ps := &p.partnerships[psi]
		hour := (p.hourAlias.sample(r) - p.countries[ps.country].Offset + 48) % 24
		sec := dayStart + int64(hour)*3600 + r.Int64N(3600)
		id := newID(r, sec*1000+r.Int64N(1000))
		kind := kindView
		if r.Float64() < clickShare {
			kind = kindClick
		}
		x := r.Float64()
		li := sort.SearchFloat64s(ps.linkCum, x)
		if li >= len(ps.Links) {
			li = len(ps.Links) - 1
		}
		l := &ps.Links[li]
		var visitor, fp, country, ref string
		var dev int8
		var bot uint8
		var key uint64
		if r.Float64() < botShare {
			bot, dev = 1, devBot
			visitor = visitorID(r.Uint64())
			country = ps.Country
			if r.Float64() < 0.5 {
				country = p.countries[p.countryAlias.sample(r)].Code
			}
			if r.Float64() < 0.3 {
				ref = "www.google.com"
			}
			out.stats.bots++
		} else {
			switch x := r.Float64(); {
			case x < sharedShare:
				key = mix(seedKey + 1<<63 + uint64(ps.country)<<40 + r.Uint64N(p.countryPool[ps.country]))
			case x < sharedShare+loyalShare:
				key = mix(seedKey + uint64(psi+1)<<40 + r.Uint64N(max(1, ps.pool/10)))
			default:
				key = mix(seedKey + uint64(psi+1)<<40 + r.Uint64N(ps.pool))
			}
			visitor = visitorID(key)
			fp = fingerprint(key, dayNum)
			country = ps.Country
			if key%100 >= homeShare {
				country = p.countries[p.countryAlias.sampleU(float64(key>>11)/(1<<53))].Code
			}
			switch d := (key >> 20) % 100; {
			case d < 55:
				dev = devMobile
			case d < 88:
				dev = devDesktop
			case d < 96:
				dev = devTablet
			default:
				dev = devOther
			}
			refs, cum := ps.inRefs, inRefCum[:]
			if l.dir == dirOutbound {
				refs, cum = outRefs, outRefCum[:]
			}
			y := r.Float64()
			for k, c := range cum {
				if y < c || k == len(cum)-1 {
					ref = refs[k]
					break
				}
			}
		}
		h.id = append(h.id, id)
		h.ts = append(h.ts, sec)
		h.ingested = append(h.ingested, sec+1+r.Int64N(5))
		h.kind = append(h.kind, kind)
		h.link = append(h.link, l.Code)
		h.partner = append(h.partner, ps.Partner)
		h.partnership = append(h.partnership, ps.ID)
		h.dir = append(h.dir, l.dir)
		h.campaign = append(h.campaign, l.Campaign)
		h.country = append(h.country, country)
		h.visitor = append(h.visitor, visitor)
		h.ref = append(h.ref, ref)
		h.device = append(h.device, dev)
		h.bot = append(h.bot, bot)
		h.fp = append(h.fp, fp)
		if kind == kindView {
			out.stats.views++
			continue
		}
		out.stats.clicks++
		if bot == 1 || r.Float64() >= p.cfg.ConversionRate {
			continue
		}
		c := click{id: id, sec: sec, ps: ps, key: key, visitor: visitor, country: country}
		if l.dir == dirInbound {
			j.ours(c)
		} else {
			j.partner(c)
		}
	}
}

// Referrer hosts: inbound clicks and views come from the partner's site or
// search and social; outbound ones from our own site.
var (
	inRefCum  = [...]float64{0.55, 0.65, 0.80, 0.88, 0.93, 1}
	outRefs   = []string{"www." + ourSite, "app." + ourSite, ""}
	outRefCum = [...]float64{0.70, 0.90, 1}
)

func inRefs(domain string) []string {
	return []string{"www." + domain, "m." + domain, "www.google.com", "www.facebook.com", "t.co", ""}
}

// click is a converting human click.
type click struct {
	id, visitor, country string
	sec                  int64
	ps                   *psPlan
	key                  uint64
}

// journey generates the conversions that follow a click.
type journey struct {
	p   *plan
	r   *rand.Rand
	u   unit
	out *unitOut
	end int64
	seq int
}

func (j *journey) exp(mean float64) int64 { return int64(j.r.ExpFloat64() * mean) }

// cents is a purchase amount: log-normal, median 35.00, at least 1.00.
func (j *journey) cents() int64 {
	return max(100, int64(math.Round(math.Exp(math.Log(35)+0.8*j.r.NormFloat64())*100)))
}

// purchases is how many purchases a user makes: none with probability
// none, else 1 plus a geometric number (mean 1).
func (j *journey) purchases(none float64) int {
	if j.r.Float64() < none {
		return 0
	}
	n := 1
	for j.r.Float64() < 0.5 && n < 50 {
		n++
	}
	return n
}

// purchaseAt is when a user's purchase k (from 0) comes, after t: the
// first one first seconds plus an exponential wait of mean firstMean
// later, each other one later seconds plus one of mean laterMean.
func (j *journey) purchaseAt(t int64, k int, first int64, firstMean float64, later int64, laterMean float64) int64 {
	if k == 0 {
		return t + first + j.exp(firstMean)
	}
	return t + later + j.exp(laterMean)
}

// emit stores c (received after delay seconds at most) and, with
// probability dup, a repeat of it marked duplicate.
func (j *journey) emit(c convRow, delay int64, dup float64) {
	c.received = c.ts + j.r.Int64N(delay+1)
	c.ingested = c.received + 1 + j.r.Int64N(3)
	c.id = newID(j.r, c.received*1000+j.r.Int64N(1000))
	j.out.convs = append(j.out.convs, c)
	if j.r.Float64() < dup {
		c.duplicate = 1
		c.received += 30 + j.r.Int64N(600)
		c.ingested = c.received + 1 + j.r.Int64N(3)
		c.id = newID(j.r, c.received*1000+j.r.Int64N(1000))
		j.out.convs = append(j.out.convs, c)
		j.out.stats.dups++
	}
}

func (j *journey) name(kind string) string {
	j.seq++
	return fmt.Sprintf("%s-%s%d-%d-%d", j.p.prefix, kind, j.u.day, j.u.part, j.seq)
}

// ours is a user the partner sent us: a signup (usually naming the click
// id, else matched by visitor), then purchases, some refunded.
func (j *journey) ours(c click) {
	var delay int64
	switch x := j.r.Float64(); {
	case x < 0.6:
		delay = 30 + j.exp(15*60)
	case x < 0.9:
		delay = 3600 + j.r.Int64N(23*3600)
	default:
		delay = day + j.r.Int64N(24*day)
	}
	t := c.sec + delay
	if t >= j.end {
		return
	}
	cur := c.ps.Terms.Currency
	s := convRow{ts: t, typ: typSignup, source: vocab.SourceOurs, user: j.name("u"), visitor: c.visitor,
		fp: fingerprint(c.key, t/day), country: c.country}
	if j.r.Float64() < clickIDShare {
		s.click = c.id
	}
	if j.r.Float64() < existingRate {
		s.existing = 1
	}
	j.emit(s, 5, ourDupRate)
	j.out.stats.signups++
	for k := range j.purchases(0.4) {
		t = j.purchaseAt(t, k, 60, 2*day, 600, 30*day)
		if t >= j.end {
			break
		}
		b := convRow{ts: t, typ: typPurch, source: vocab.SourceOurs, user: s.user, order: j.name("o"),
			visitor: c.visitor, fp: fingerprint(c.key, t/day), cents: j.cents(), currency: cur, country: c.country}
		j.emit(b, 5, ourDupRate)
		j.out.stats.purchases++
		if j.r.Float64() < refundRate {
			rf := b
			rf.typ, rf.ts = typRef, t+day+j.r.Int64N(13*day)
			if j.r.Float64() < 0.25 {
				rf.cents = max(1, b.cents/2)
			}
			if rf.ts < j.end {
				rf.fp = fingerprint(c.key, rf.ts/day)
				j.emit(rf, 5, 0)
				j.out.stats.refunds++
			}
		}
	}
}

// partner is a user we sent the partner: its postbacks (source
// "partner:<id>") name our click id for the signup and every purchase.
func (j *journey) partner(c click) {
	var delay int64
	switch x := j.r.Float64(); {
	case x < 0.5:
		delay = 60 + j.exp(30*60)
	case x < 0.9:
		delay = 3600 + j.r.Int64N(47*3600)
	default:
		delay = 2*day + j.r.Int64N(18*day)
	}
	t := c.sec + delay
	if t >= j.end {
		return
	}
	s := convRow{ts: t, typ: typSignup, source: c.ps.src, user: j.name("x"), click: c.id,
		partner: c.ps.Partner, country: "ZZ"}
	j.emit(s, 6*3600, postDupRate)
	j.out.stats.signups++
	j.out.stats.postbacks++
	for k := range j.purchases(0.5) {
		t = j.purchaseAt(t, k, 300, 3*day, 3600, 40*day)
		if t >= j.end {
			break
		}
		b := s
		b.typ, b.ts, b.order, b.cents, b.currency = typPurch, t, j.name("q"), j.cents(), c.ps.Terms.Currency
		j.emit(b, 6*3600, postDupRate)
		j.out.stats.purchases++
		j.out.stats.postbacks++
	}
}
