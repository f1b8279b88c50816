package attribution

import (
	"encoding/csv"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/catalog"
)

// The fixture format is described in testdata/README.md.

var fixtureColumns = map[string]bool{
	"scenario": true, "kind": true, "id": true, "time": true, "note": true,
	// terms
	"version": true, "model": true, "window_days": true, "in_rev_days": true, "out_rev_days": true,
	// clicks
	"partnership": true, "partner": true, "direction": true, "country": true, "bot": true,
	// clicks and conversions
	"visitor": true, "fingerprint": true,
	// conversions
	"type": true, "source": true, "user": true, "order": true, "click": true,
	"amount": true, "currency": true, "existing": true, "repeat": true,
	// expectations, on conversion rows
	"want_outcome": true, "want_partnership": true, "want_click": true, "want_model": true,
	"want_match": true, "want_revenue": true, "want_overlaps": true,
	"want_terms_version": true, "want_currency": true,
}

type scenario struct {
	file, name string
	terms      map[string][]catalog.Terms
	clicks     []Click
	convs      []Conversion
	want       []Result
	lines      []int // fixture line of each conversion
	checkCur   bool  // the file has a want_currency column
}

func (s *scenario) termsFunc() Terms {
	return func(p string, at time.Time) (catalog.Terms, bool) {
		return catalog.TermsInForce(s.terms[p], at)
	}
}

func loadFixture(t *testing.T, path string) []*scenario {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comment = '#'
	header, err := r.Read()
	if err != nil {
		t.Fatalf("%s: header: %v", path, err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		if !fixtureColumns[h] {
			t.Fatalf("%s: unknown column %q", path, h)
		}
		col[h] = i
	}
	for _, req := range []string{"scenario", "kind", "id", "time", "want_outcome"} {
		if _, ok := col[req]; !ok {
			t.Fatalf("%s: missing column %q", path, req)
		}
	}
	_, checkCur := col["want_currency"]
	var out []*scenario
	byName := map[string]*scenario{}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		line, _ := r.FieldPos(0)
		get := func(name string) string {
			if i, ok := col[name]; ok {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("%s:%d: %s", path, line, fmt.Sprintf(format, args...))
		}
		name := get("scenario")
		s := byName[name]
		if s == nil {
			s = &scenario{file: filepath.Base(path), name: name, terms: map[string][]catalog.Terms{}, checkCur: checkCur}
			byName[name] = s
			out = append(out, s)
		}
		at, err := time.Parse(time.RFC3339, get("time"))
		if err != nil {
			fail("time: %v", err)
		}
		num := func(name string) uint64 {
			v := get(name)
			if v == "" {
				return 0
			}
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				fail("%s: %v", name, err)
			}
			return n
		}
		flag := func(name string) bool {
			switch get(name) {
			case "", "false", "0":
				return false
			case "true", "1":
				return true
			}
			fail("%s: want true or false", name)
			return false
		}
		dec := func(name string) decimal.Decimal {
			v := get(name)
			if v == "" {
				return decimal.Zero
			}
			d, err := decimal.NewFromString(v)
			if err != nil {
				fail("%s: %v", name, err)
			}
			return d
		}
		switch get("kind") {
		case "terms":
			p := get("partnership")
			s.terms[p] = append(s.terms[p], catalog.Terms{
				Partnership:               p,
				Version:                   uint32(num("version")),
				EffectiveFrom:             at,
				AttributionModel:          get("model"),
				AttributionWindowDays:     uint16(num("window_days")),
				InboundRevenueWindowDays:  uint16(num("in_rev_days")),
				OutboundRevenueWindowDays: uint16(num("out_rev_days")),
			})
		case "click":
			s.clicks = append(s.clicks, Click{
				ID: get("id"), Time: at, Partnership: get("partnership"), Partner: get("partner"),
				Country: get("country"), Direction: get("direction"), Visitor: get("visitor"),
				Fingerprint: get("fingerprint"), Bot: flag("bot"),
			})
		case "conversion":
			if get("want_outcome") == "" {
				fail("conversion without want_outcome")
			}
			s.convs = append(s.convs, Conversion{
				ID: get("id"), Time: at, Type: get("type"), Source: get("source"),
				UserID: get("user"), OrderID: get("order"), ClickID: get("click"),
				Visitor: get("visitor"), Fingerprint: get("fingerprint"),
				Amount: dec("amount"), Currency: get("currency"), Existing: flag("existing"), Repeat: flag("repeat"),
			})
			var overlaps []string
			if v := get("want_overlaps"); v != "" {
				overlaps = strings.Split(v, "|")
			}
			s.want = append(s.want, Result{
				Conversion: get("id"), Partnership: get("want_partnership"), Click: get("want_click"),
				Model: get("want_model"), Match: get("want_match"), Outcome: get("want_outcome"),
				Revenue: dec("want_revenue"), Currency: get("want_currency"), Overlaps: overlaps,
				TermsVersion: uint32(num("want_terms_version")),
			})
			s.lines = append(s.lines, line)
		default:
			fail("kind %q: want terms, click or conversion", get("kind"))
		}
	}
	return out
}

// diff describes how got differs from want, "" when it does not.
func diff(got, want Result, checkCur bool) string {
	var d []string
	str := func(field, g, w string) {
		if g != w {
			d = append(d, fmt.Sprintf("%s=%q want %q", field, g, w))
		}
	}
	str("conversion", got.Conversion, want.Conversion)
	str("outcome", got.Outcome, want.Outcome)
	str("partnership", got.Partnership, want.Partnership)
	str("click", got.Click, want.Click)
	str("model", got.Model, want.Model)
	str("match", got.Match, want.Match)
	str("overlaps", strings.Join(got.Overlaps, "|"), strings.Join(want.Overlaps, "|"))
	if checkCur {
		str("currency", got.Currency, want.Currency)
	}
	if !got.Revenue.Equal(want.Revenue) {
		d = append(d, fmt.Sprintf("revenue=%s want %s", got.Revenue, want.Revenue))
	}
	if got.TermsVersion != want.TermsVersion {
		d = append(d, fmt.Sprintf("terms_version=%d want %d", got.TermsVersion, want.TermsVersion))
	}
	return strings.Join(d, "; ")
}

func TestFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/*.csv")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, path := range files {
		for _, s := range loadFixture(t, path) {
			t.Run(s.file+"/"+s.name, func(t *testing.T) {
				check := func(label string, got []Result) {
					t.Helper()
					if len(got) != len(s.want) {
						t.Fatalf("%s: %d results for %d conversions", label, len(got), len(s.want))
					}
					for i := range got {
						if d := diff(got[i], s.want[i], s.checkCur); d != "" {
							t.Errorf("%s: %s:%d %s: %s", label, s.file, s.lines[i], s.want[i].Conversion, d)
						}
					}
				}
				check("as given", Attribute(s.clicks, s.convs, s.termsFunc()))

				// The same scenario with both inputs shuffled must give the
				// same Result for each conversion.
				rng := rand.New(rand.NewPCG(1, uint64(len(s.convs))))
				for range 5 {
					clicks := slices.Clone(s.clicks)
					rng.Shuffle(len(clicks), func(i, j int) { clicks[i], clicks[j] = clicks[j], clicks[i] })
					perm := rng.Perm(len(s.convs))
					convs := make([]Conversion, len(perm))
					for i, p := range perm {
						convs[i] = s.convs[p]
					}
					got := Attribute(clicks, convs, s.termsFunc())
					back := make([]Result, len(got))
					for i, p := range perm {
						back[p] = got[i]
					}
					check("shuffled", back)
				}
			})
		}
	}
}
