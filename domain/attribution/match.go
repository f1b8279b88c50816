package attribution

import (
	"slices"
	"sort"
	"time"

	"github.com/xpromo/xpromo/domain/catalog"
)

// qualifies reports whether n may be credited with a conversion of scope
// at t: a human click at or before t, t within its attribution window.
func (n *node) qualifies(scope string, t time.Time) bool {
	return n.qualHint && n.scope == scope && !n.c.Time.After(t) && !t.After(n.end)
}

// match is the outcome of the matching tiers for one conversion.
type match struct {
	win   *node
	how   string // MatchClickID, MatchVisitor or MatchFingerprint
	model string
	parts []string // partnerships of every qualifying click in any tier, sorted, unique
}

// overlaps returns the partnerships in m other than winner.
func (m *match) overlaps(winner string) []string {
	var out []string
	for _, p := range m.parts {
		if p != winner {
			out = append(out, p)
		}
	}
	return out
}

// match runs the tiers: the named click, then the visitor's clicks, then
// the fingerprint's; the first non-empty tier wins, and within a tier the
// model in force at its latest click picks the click.
func (e *engine) match(cv *Conversion, scope string) match {
	var m match
	var named *node
	if cv.ClickID != "" {
		if n := e.byID[cv.ClickID]; n != nil && n.qualifies(scope, cv.Time) {
			named = n
		}
	}
	var vis, fp []*node
	e.buf = e.buf[:0]
	if cv.Visitor != "" {
		e.buf = candidates(e.buf, e.byVis[key{scope, cv.Visitor}], cv.Time)
		vis = e.buf
	}
	if cv.Fingerprint != "" {
		start := len(e.buf)
		e.buf = candidates(e.buf, e.byFP[key{scope, cv.Fingerprint}], cv.Time)
		fp = e.buf[start:]
		vis = e.buf[:start:start]
	}
	switch {
	case named != nil:
		m.win, m.how, m.model = named, MatchClickID, named.model
	case len(vis) > 0:
		m.win, m.model = pick(vis)
		m.how = MatchVisitor
	case len(fp) > 0:
		m.win, m.model = pick(fp)
		m.how = MatchFingerprint
	default:
		return m
	}
	if named != nil {
		m.parts = append(m.parts, named.c.Partnership)
	}
	for _, n := range e.buf {
		m.parts = append(m.parts, n.c.Partnership)
	}
	slices.Sort(m.parts)
	m.parts = slices.Compact(m.parts)
	return m
}

// candidates appends the clicks of list (sorted by time) that qualify for
// a conversion at t.
func candidates(dst, list []*node, t time.Time) []*node {
	hi := sort.Search(len(list), func(i int) bool { return list[i].c.Time.After(t) })
	for _, n := range list[:hi] {
		if !t.After(n.end) {
			dst = append(dst, n)
		}
	}
	return dst
}

// pick applies the model of the terms in force at the latest candidate's
// click; cands is sorted by (time, id) and not empty.
func pick(cands []*node) (*node, string) {
	latest := cands[len(cands)-1]
	if latest.model == catalog.FirstClick {
		return cands[0], catalog.FirstClick
	}
	return latest, catalog.LastClick
}
