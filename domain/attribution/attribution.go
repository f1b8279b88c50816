package attribution

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/vocab"
)

// How the winning click was found.
const (
	MatchClickID     = "click_id"
	MatchVisitor     = "visitor"
	MatchFingerprint = "fingerprint"
	MatchUser        = "user" // a purchase credited through the user's attributed signup
)

// Outcomes.
const (
	OutcomeNewUser       = "new_user"
	OutcomeReturningUser = "returning_user"
	OutcomeCredited      = "credited"
	OutcomeDuplicate     = "duplicate"
	OutcomeUnattributed  = "unattributed"
	OutcomeOutsideWindow = "outside_window"
	OutcomeNotCredited   = "not_credited"
)

// Click is one recorded click on a tracking link.
type Click struct {
	ID          string
	Time        time.Time
	Partnership string
	Partner     string
	Country     string
	Direction   string // vocab.Inbound or vocab.Outbound
	Visitor     string // first-party visitor id (cookie)
	Fingerprint string // daily-salted hash of IP+UA
	Bot         bool
}

// Conversion is one event that may be credited to a click.
type Conversion struct {
	ID          string
	Time        time.Time
	Type        string // vocab.TypeSignup, vocab.TypePurchase or vocab.TypeRefund
	Source      string // vocab.SourceOurs ("" means the same) or "partner:<partner id>"
	UserID      string
	OrderID     string
	ClickID     string
	Visitor     string
	Fingerprint string
	Amount      decimal.Decimal
	Currency    string
	Existing    bool // the product says the user already had an account
	Repeat      bool // answered as a repeat when it was captured (stored duplicate = 1)
}

// Terms returns the version of a partnership's terms in force at at, false
// when none is. catalog.TermsInForce over a partnership's versions is one.
type Terms func(partnership string, at time.Time) (catalog.Terms, bool)

// Result is the attribution of one conversion. See the package doc for
// which fields are filled for which outcome.
type Result struct {
	Conversion   string
	Partnership  string
	Click        string
	Model        string
	Match        string // MatchClickID, MatchVisitor, MatchFingerprint, MatchUser or ""
	Outcome      string
	Revenue      decimal.Decimal // signed: refunds negative; zero for signups and duplicates
	Currency     string
	Overlaps     []string // other partnerships that also had a qualifying click, sorted
	TermsVersion uint32
}

const day = 24 * time.Hour

// node is a click with what its terms say, looked up once.
type node struct {
	c        *Click
	sec      int64 // c.Time, kept here for sorting without a second indirection
	nsec     int32
	scope    string    // the conversion source that may credit it; "" for none
	end      time.Time // the last instant a conversion may credit it
	model    string
	version  uint32
	revenue  time.Duration // revenue window for its direction
	qualHint bool          // not a bot and has a scope
}

// engine holds the indexes and the state built while conversions are
// processed in time order.
type engine struct {
	byID   map[string]*node
	byVis  map[key][]*node   // (scope, visitor) -> clicks sorted by (time, id)
	byFP   map[key][]*node   // (scope, fingerprint) -> clicks sorted by (time, id)
	users  map[key]*user     // (scope, user id)
	orders map[key]*order    // (scope, order id): the first purchase
	done   map[orderKey]bool // (scope, type, order id) of purchases and refunds seen
	convs  map[string]bool   // conversion ids seen
	buf    []*node
}

// key is a value within a conversion source's scope.
type key struct{ scope, v string }

type orderKey struct{ scope, typ, order string }

type user struct {
	credited map[string]bool // partnerships credited with a signup of this user
	anchor   *anchor         // the first attributed signup
}

type anchor struct {
	at    time.Time
	click *node
	match string
	model string
}

type order struct {
	res      Result
	amount   decimal.Decimal
	currency string
}

// Attribute attributes every conversion to at most one click and returns
// one Result per conversion, in the order of convs. Inputs may be in any
// order and are not modified; the output does not depend on their order.
// terms may be nil: every partnership then has default terms.
func Attribute(clicks []Click, convs []Conversion, terms Terms) []Result {
	e := newEngine(clicks, convs, terms)
	order := make([]int, len(convs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		// Identical conversions keep their input order.
		return cmp.Or(compareConv(&convs[a], &convs[b]), cmp.Compare(a, b))
	})
	out := make([]Result, len(convs))
	for _, i := range order {
		out[i] = e.process(&convs[i])
	}
	return out
}

// newEngine indexes the clicks the conversions can reach: human clicks
// with a scope whose id, visitor or fingerprint some conversion names.
// Only those get their terms looked up and are sorted, which keeps a
// large click history cheap.
func newEngine(clicks []Click, convs []Conversion, terms Terms) *engine {
	e := &engine{
		byID:   make(map[string]*node, len(convs)/2),
		byVis:  make(map[key][]*node, len(convs)),
		byFP:   make(map[key][]*node, len(convs)),
		users:  make(map[key]*user, len(convs)/2),
		orders: make(map[key]*order, len(convs)/2),
		done:   make(map[orderKey]bool, len(convs)),
		convs:  make(map[string]bool, len(convs)),
	}
	for i := range convs {
		cv := &convs[i]
		scope := convScope(cv)
		if cv.ClickID != "" {
			e.byID[cv.ClickID] = nil
		}
		if cv.Visitor != "" {
			e.byVis[key{scope, cv.Visitor}] = nil
		}
		if cv.Fingerprint != "" {
			e.byFP[key{scope, cv.Fingerprint}] = nil
		}
	}
	// The reachable clicks, and for their ids the earliest copy among all
	// clicks: a replayed click id is one click, its earliest copy.
	var reach []int
	first := map[string]int{}
	for i := range clicks {
		c := &clicks[i]
		scope := clickScope(c)
		if c.Bot || scope == "" {
			continue
		}
		_, id := e.byID[c.ID]
		_, vis := e.byVis[key{scope, c.Visitor}]
		_, fp := e.byFP[key{scope, c.Fingerprint}]
		if id || (vis && c.Visitor != "") || (fp && c.Fingerprint != "") {
			reach = append(reach, i)
			first[c.ID] = -1
		}
	}
	for i := range clicks {
		if j, ok := first[clicks[i].ID]; ok && (j < 0 || compareClick(&clicks[i], &clicks[j]) < 0) {
			first[clicks[i].ID] = i
		}
	}
	nodes := make([]node, 0, len(reach))
	for _, i := range reach {
		if first[clicks[i].ID] == i {
			nodes = append(nodes, newNode(&clicks[i], terms))
		}
	}
	slices.SortFunc(nodes, func(a, b node) int {
		if a.sec != b.sec {
			return cmp.Compare(a.sec, b.sec)
		}
		if a.nsec != b.nsec {
			return cmp.Compare(a.nsec, b.nsec)
		}
		return compareClick(a.c, b.c)
	})
	for i := range nodes {
		n := &nodes[i]
		if _, ok := e.byID[n.c.ID]; ok {
			e.byID[n.c.ID] = n
		}
		if k := (key{n.scope, n.c.Visitor}); n.c.Visitor != "" {
			if l, ok := e.byVis[k]; ok {
				e.byVis[k] = append(l, n)
			}
		}
		if k := (key{n.scope, n.c.Fingerprint}); n.c.Fingerprint != "" {
			if l, ok := e.byFP[k]; ok {
				e.byFP[k] = append(l, n)
			}
		}
	}
	return e
}

func newNode(c *Click, terms Terms) node {
	var t catalog.Terms
	ok := false
	if terms != nil {
		t, ok = terms(c.Partnership, c.Time)
	}
	if !ok {
		t = catalog.Terms{}
	}
	t.Defaults()
	n := node{
		c:       c,
		sec:     c.Time.Unix(),
		nsec:    int32(c.Time.Nanosecond()),
		scope:   clickScope(c),
		end:     c.Time.Add(time.Duration(t.AttributionWindowDays) * day),
		model:   catalog.LastClick,
		version: t.Version,
		revenue: time.Duration(t.InboundRevenueWindowDays) * day,
	}
	if t.AttributionModel == catalog.FirstClick {
		n.model = catalog.FirstClick
	}
	if c.Direction == vocab.Outbound {
		n.revenue = time.Duration(t.OutboundRevenueWindowDays) * day
	}
	n.qualHint = !c.Bot && n.scope != ""
	return n
}

// clickScope is the conversion source that may credit a click: our product
// for inbound clicks, the partner for outbound ones.
func clickScope(c *Click) string {
	switch c.Direction {
	case vocab.Inbound:
		return vocab.SourceOurs
	case vocab.Outbound:
		if c.Partner != "" {
			return vocab.SourcePartnerPrefix + c.Partner
		}
	}
	return ""
}

func convScope(cv *Conversion) string {
	if cv.Source == "" {
		return vocab.SourceOurs
	}
	return cv.Source
}

func (e *engine) process(cv *Conversion) Result {
	res := Result{Conversion: cv.ID, Currency: cv.Currency, Revenue: decimal.Zero}
	scope := convScope(cv)
	if cv.ID != "" {
		if e.convs[cv.ID] {
			res.Outcome = OutcomeDuplicate
			return res
		}
		e.convs[cv.ID] = true
	}
	switch cv.Type {
	case vocab.TypeSignup:
		return e.signup(cv, scope, res)
	case vocab.TypePurchase:
		return e.purchase(cv, scope, res)
	case vocab.TypeRefund:
		return e.refund(cv, scope, res)
	}
	res.Outcome = OutcomeNotCredited
	return res
}

// credit fills res with the winning click of m.
func credit(res *Result, m *match) {
	res.Partnership = m.win.c.Partnership
	res.Click = m.win.c.ID
	res.Model = m.model
	res.Match = m.how
	res.TermsVersion = m.win.version
	res.Overlaps = m.overlaps(res.Partnership)
}

func (e *engine) signup(cv *Conversion, scope string, res Result) Result {
	m := e.match(cv, scope)
	if cv.UserID == "" {
		switch {
		case cv.Existing:
			res.Outcome = OutcomeReturningUser
		case m.win != nil:
			res.Outcome = OutcomeNewUser
		default:
			res.Outcome = OutcomeUnattributed
		}
		if m.win != nil {
			credit(&res, &m)
		}
		return res
	}
	uk := key{scope, cv.UserID}
	u := e.users[uk]
	known := u != nil
	switch {
	case known && (m.win == nil || u.credited[m.win.c.Partnership]):
		res.Outcome = OutcomeDuplicate
		return res
	case known || cv.Existing:
		res.Outcome = OutcomeReturningUser
	case m.win != nil:
		res.Outcome = OutcomeNewUser
	default:
		res.Outcome = OutcomeUnattributed
	}
	if u == nil {
		u = &user{credited: make(map[string]bool)}
		e.users[uk] = u
	}
	if m.win != nil {
		credit(&res, &m)
		u.credited[m.win.c.Partnership] = true
		if u.anchor == nil {
			u.anchor = &anchor{at: cv.Time, click: m.win, match: m.how, model: m.model}
		}
	}
	return res
}

func (e *engine) purchase(cv *Conversion, scope string, res Result) Result {
	if e.repeated(scope, vocab.TypePurchase, cv.OrderID) {
		res.Outcome = OutcomeDuplicate
		return res
	}
	res.Revenue = cv.Amount
	m := e.match(cv, scope)
	var u *user
	if cv.UserID != "" {
		u = e.users[key{scope, cv.UserID}]
	}
	switch {
	case u != nil && u.anchor != nil:
		a := u.anchor
		res.Partnership = a.click.c.Partnership
		res.Click = a.click.c.ID
		res.Model = a.model
		res.Match = MatchUser
		res.TermsVersion = a.click.version
		res.Overlaps = m.overlaps(res.Partnership)
		res.Outcome = within(cv.Time, a.at, a.click.revenue)
	case m.win != nil:
		credit(&res, &m)
		res.Outcome = within(cv.Time, m.win.c.Time, m.win.revenue)
	default:
		res.Outcome = OutcomeUnattributed
	}
	if cv.OrderID != "" {
		e.orders[key{scope, cv.OrderID}] = &order{res: res, amount: cv.Amount, currency: cv.Currency}
	}
	return res
}

// repeated says whether an order id was seen before in scope for a
// conversion type, and marks it seen. An empty id is never repeated.
func (e *engine) repeated(scope, typ, orderID string) bool {
	if orderID == "" {
		return false
	}
	k := orderKey{scope, typ, orderID}
	if e.done[k] {
		return true
	}
	e.done[k] = true
	return false
}

// within is credited when t is no later than window after from.
func within(t, from time.Time, window time.Duration) string {
	if t.After(from.Add(window)) {
		return OutcomeOutsideWindow
	}
	return OutcomeCredited
}

func (e *engine) refund(cv *Conversion, scope string, res Result) Result {
	if e.repeated(scope, vocab.TypeRefund, cv.OrderID) {
		res.Outcome = OutcomeDuplicate
		return res
	}
	res.Outcome = OutcomeNotCredited
	amt := cv.Amount.Abs()
	var o *order
	if cv.OrderID != "" {
		o = e.orders[key{scope, cv.OrderID}]
	}
	if o == nil {
		res.Revenue = amt.Neg()
		return res
	}
	full := o.amount.Abs()
	if amt.IsZero() || amt.GreaterThan(full) {
		amt = full
	}
	res.Revenue = amt.Neg()
	if res.Currency == "" {
		res.Currency = o.currency
	}
	if o.res.Outcome != OutcomeCredited || !strings.EqualFold(res.Currency, o.currency) {
		return res
	}
	res.Outcome = OutcomeCredited
	res.Partnership = o.res.Partnership
	res.Click = o.res.Click
	res.Model = o.res.Model
	res.Match = o.res.Match
	res.TermsVersion = o.res.TermsVersion
	res.Overlaps = slices.Clone(o.res.Overlaps)
	return res
}
