package attribution

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/vocab"
)

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// world is a random but reproducible set of inputs.
type world struct {
	clicks []Click
	convs  []Conversion
	terms  map[string][]catalog.Terms
}

func (w *world) termsFunc() Terms {
	return func(p string, at time.Time) (catalog.Terms, bool) {
		return catalog.TermsInForce(w.terms[p], at)
	}
}

// genWorld makes nClicks clicks and nConvs conversions over 90 days, with
// times on a coarse grid so that ties on time are common.
func genWorld(seed uint64, nClicks, nConvs, nVisitors int) *world {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	w := &world{terms: map[string][]catalog.Terms{}}
	type ps struct{ id, partner, dir string }
	var pss []ps
	for i := range 12 {
		p := ps{fmt.Sprintf("p%02d", i), fmt.Sprintf("partner%d", i%8), vocab.Inbound}
		if i%3 == 2 {
			p.dir = vocab.Outbound
		}
		pss = append(pss, p)
		if i%4 == 3 {
			continue // no terms: defaults
		}
		for v := range 1 + rng.IntN(3) {
			model := catalog.LastClick
			if rng.IntN(2) == 0 {
				model = catalog.FirstClick
			}
			w.terms[p.id] = append(w.terms[p.id], catalog.Terms{
				Partnership:               p.id,
				Version:                   uint32(v + 1),
				EffectiveFrom:             t0.AddDate(0, 0, v*20-10),
				AttributionModel:          model,
				AttributionWindowDays:     uint16(rng.IntN(40)), // 0: default
				InboundRevenueWindowDays:  uint16(rng.IntN(60)),
				OutboundRevenueWindowDays: uint16(rng.IntN(60)),
			})
		}
	}
	grid := []time.Duration{time.Second, time.Minute, time.Hour}
	at := func() time.Time {
		g := grid[rng.IntN(len(grid))]
		span := int64(90 * 24 * time.Hour / g)
		return t0.Add(time.Duration(rng.Int64N(span)) * g)
	}
	visitor := func() string { return fmt.Sprintf("v%d", rng.IntN(nVisitors)) }
	fp := func() string { return fmt.Sprintf("f%d", rng.IntN(nVisitors/2+1)) }
	for i := range nClicks {
		p := pss[rng.IntN(len(pss))]
		c := Click{
			ID: fmt.Sprintf("k%06d", i), Time: at(), Partnership: p.id, Partner: p.partner,
			Country: "DE", Direction: p.dir, Visitor: visitor(), Fingerprint: fp(),
			Bot: rng.IntN(10) == 0,
		}
		if rng.IntN(5) == 0 {
			c.Visitor = ""
		}
		w.clicks = append(w.clicks, c)
	}
	// A few replayed click ids with other content.
	for range nClicks / 100 {
		c := w.clicks[rng.IntN(len(w.clicks))]
		c.Time = c.Time.Add(time.Duration(rng.IntN(3)-1) * time.Minute)
		c.Visitor = visitor()
		w.clicks = append(w.clicks, c)
	}
	types := []string{vocab.TypeSignup, vocab.TypeSignup, vocab.TypePurchase, vocab.TypePurchase, vocab.TypePurchase, vocab.TypeRefund, "install"}
	nOrders := nConvs/3 + 1
	for i := range nConvs {
		cv := Conversion{
			ID: fmt.Sprintf("c%06d", i), Time: at(), Type: types[rng.IntN(len(types))],
			UserID:   fmt.Sprintf("u%d", rng.IntN(nVisitors/2+1)),
			Visitor:  visitor(),
			Currency: []string{"EUR", "EUR", "EUR", "USD", ""}[rng.IntN(5)],
			Existing: rng.IntN(10) == 0,
		}
		switch rng.IntN(6) {
		case 0:
			cv.Source = ""
		case 1:
			cv.Source = vocab.SourcePartnerPrefix + fmt.Sprintf("partner%d", rng.IntN(8))
		default:
			cv.Source = vocab.SourceOurs
		}
		if rng.IntN(3) == 0 {
			cv.ClickID = w.clicks[rng.IntN(len(w.clicks))].ID
		}
		if rng.IntN(4) == 0 {
			cv.Visitor = ""
		}
		if rng.IntN(2) == 0 {
			cv.Fingerprint = fp()
		}
		if rng.IntN(8) == 0 {
			cv.UserID = ""
		}
		if cv.Type != vocab.TypeSignup {
			if rng.IntN(10) != 0 {
				cv.OrderID = fmt.Sprintf("o%d", rng.IntN(nOrders))
			}
			if cv.Type == vocab.TypePurchase || rng.IntN(2) == 0 {
				cv.Amount = decimal.New(rng.Int64N(100000), -2)
			}
		}
		w.convs = append(w.convs, cv)
	}
	// A few redelivered conversion ids with other content.
	for range nConvs / 50 {
		cv := w.convs[rng.IntN(len(w.convs))]
		cv.Time = cv.Time.Add(time.Duration(rng.IntN(120)) * time.Second)
		cv.Amount = cv.Amount.Add(decimal.NewFromInt(1))
		w.convs = append(w.convs, cv)
	}
	return w
}

func sameResult(a, b Result) bool {
	ra, rb := a.Revenue, b.Revenue
	a.Revenue, b.Revenue = decimal.Zero, decimal.Zero
	if len(a.Overlaps) == 0 && len(b.Overlaps) == 0 {
		a.Overlaps, b.Overlaps = nil, nil
	}
	return ra.Equal(rb) && reflect.DeepEqual(a, b)
}

// TestShuffleInvariant: the Result of each conversion does not depend on
// the order of the clicks or of the conversions.
func TestShuffleInvariant(t *testing.T) {
	for seed := range uint64(40) {
		w := genWorld(seed, 600, 400, 60)
		want := Attribute(w.clicks, w.convs, w.termsFunc())
		outcomes := map[string]int{}
		for _, r := range want {
			outcomes[r.Outcome]++
		}
		if seed == 0 {
			t.Logf("outcomes of seed 0: %v", outcomes)
		}
		rng := rand.New(rand.NewPCG(seed, 7))
		for round := range 4 {
			clicks := slices.Clone(w.clicks)
			rng.Shuffle(len(clicks), func(i, j int) { clicks[i], clicks[j] = clicks[j], clicks[i] })
			perm := rng.Perm(len(w.convs))
			if round == 0 { // reversed
				for i := range perm {
					perm[i] = len(perm) - 1 - i
				}
			}
			convs := make([]Conversion, len(perm))
			for i, p := range perm {
				convs[i] = w.convs[p]
			}
			got := Attribute(clicks, convs, w.termsFunc())
			for i, p := range perm {
				if !sameResult(got[i], want[p]) {
					t.Fatalf("seed %d round %d: conversion %d (%s):\n got %+v\nwant %+v", seed, round, p, w.convs[p].ID, got[i], want[p])
				}
			}
		}
	}
}

// TestGeneratedCoverage guards the property test against a generator that
// no longer exercises the engine: every outcome and match kind occurs.
func TestGeneratedCoverage(t *testing.T) {
	seen := map[string]bool{}
	for seed := range uint64(40) {
		w := genWorld(seed, 600, 400, 60)
		for _, r := range Attribute(w.clicks, w.convs, w.termsFunc()) {
			seen["outcome:"+r.Outcome] = true
			seen["match:"+r.Match] = true
			seen["model:"+r.Model] = true
			if len(r.Overlaps) > 0 {
				seen["overlaps"] = true
			}
		}
	}
	for _, k := range []string{
		"outcome:" + OutcomeNewUser, "outcome:" + OutcomeReturningUser, "outcome:" + OutcomeCredited,
		"outcome:" + OutcomeDuplicate, "outcome:" + OutcomeUnattributed, "outcome:" + OutcomeOutsideWindow,
		"outcome:" + OutcomeNotCredited,
		"match:" + MatchClickID, "match:" + MatchVisitor, "match:" + MatchFingerprint, "match:" + MatchUser,
		"model:" + catalog.LastClick, "model:" + catalog.FirstClick, "overlaps",
	} {
		if !seen[k] {
			t.Errorf("generated inputs never give %s", k)
		}
	}
}

// TestInputsUntouched: Attribute does not reorder or change its inputs.
func TestInputsUntouched(t *testing.T) {
	w := genWorld(3, 300, 200, 40)
	clicks, convs := slices.Clone(w.clicks), slices.Clone(w.convs)
	res := Attribute(w.clicks, w.convs, w.termsFunc())
	if !reflect.DeepEqual(clicks, w.clicks) || !reflect.DeepEqual(convs, w.convs) {
		t.Fatal("inputs changed")
	}
	if len(res) != len(convs) {
		t.Fatalf("%d results for %d conversions", len(res), len(convs))
	}
	for i, r := range res {
		if r.Conversion != convs[i].ID {
			t.Fatalf("result %d is for %q, want %q", i, r.Conversion, convs[i].ID)
		}
		if r.Outcome == "" {
			t.Fatalf("result %d has no outcome", i)
		}
	}
}

func TestNilTermsAndEmptyInputs(t *testing.T) {
	if got := Attribute(nil, nil, nil); len(got) != 0 {
		t.Fatalf("got %v", got)
	}
	clicks := []Click{{ID: "k1", Time: t0, Partnership: "p", Direction: vocab.Inbound, Visitor: "v"}}
	convs := []Conversion{
		{ID: "s1", Time: t0.Add(30 * day), Type: vocab.TypeSignup, UserID: "u", Visitor: "v"},
		{ID: "o1", Time: t0.Add(30*day + 365*day), Type: vocab.TypePurchase, UserID: "u", OrderID: "o", Amount: decimal.NewFromInt(5)},
		{ID: "o2", Time: t0.Add(30*day + 365*day + time.Second), Type: vocab.TypePurchase, UserID: "u", OrderID: "o2", Amount: decimal.NewFromInt(5)},
	}
	got := Attribute(clicks, convs, nil)
	want := []string{OutcomeNewUser, OutcomeCredited, OutcomeOutsideWindow}
	for i, r := range got {
		if r.Outcome != want[i] || r.Partnership != "p" || r.Model != catalog.LastClick || r.TermsVersion != 0 {
			t.Errorf("%s: %+v, want %s for p under default terms", r.Conversion, r, want[i])
		}
	}
	if !got[0].Revenue.IsZero() {
		t.Errorf("signup revenue %s", got[0].Revenue)
	}
}

// BenchmarkAttribute: 100k clicks, 20k conversions.
func BenchmarkAttribute(b *testing.B) {
	w := genWorld(42, 100_000, 20_000, 30_000)
	w.clicks, w.convs = w.clicks[:100_000], w.convs[:20_000]
	terms := w.termsFunc()
	b.ReportAllocs()
	for b.Loop() {
		Attribute(w.clicks, w.convs, terms)
	}
}
