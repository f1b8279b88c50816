package reports_test

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zones must not depend on the machine

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/reports"
	"github.com/xpromo/xpromo/schema"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// The scenario world shared by the balance and overlaps tests: three
// partners in Germany (Europe/Berlin), India (Asia/Kolkata, a half-hour
// zone) and the US (no zone set: UTC), with terms whose targets change
// within the period, an agreement that starts and ends mid-month, and a
// paused version. zeta-de appears in attributions but not in the catalog.

var balPartnerships = []catalog.Partnership{
	{ID: "acme-de", Partner: "acme", Country: "DE", Direction: vocab.Both},
	{ID: "beta-de", Partner: "beta", Country: "DE", Direction: vocab.Both},
	{ID: "cyan-de", Partner: "cyan", Country: "DE", Direction: vocab.Inbound},
	{ID: "acme-in", Partner: "acme", Country: "IN", Direction: vocab.Both},
	{ID: "beta-in", Partner: "beta", Country: "IN", Direction: vocab.Outbound},
	{ID: "cyan-us", Partner: "cyan", Country: "US", Direction: vocab.Both},
}

// balTerms are set in this order (each partnership's versions oldest first).
var balTerms = []catalog.Terms{
	{Partnership: "acme-de", EffectiveFrom: balDate("2024-01-01"), StartDate: balDate("2024-01-01"), TargetInboundUsersMonth: 100, TargetOutboundUsersMonth: 50, Status: catalog.StatusActive},
	{Partnership: "beta-de", EffectiveFrom: balDate("2024-01-01"), StartDate: balDate("2024-03-10"), EndDate: balDate("2024-04-20"), TargetInboundUsersMonth: 31, TargetOutboundUsersMonth: 30, Status: catalog.StatusActive},
	{Partnership: "cyan-de", EffectiveFrom: balDate("2024-01-01"), StartDate: balDate("2024-01-01"), TargetInboundUsersMonth: 40, Status: catalog.StatusActive},
	{Partnership: "acme-in", EffectiveFrom: balDate("2024-01-01"), StartDate: balDate("2024-01-01"), TargetInboundUsersMonth: 62, Status: catalog.StatusActive},
	{Partnership: "beta-in", EffectiveFrom: balDate("2024-02-01"), StartDate: balDate("2024-02-01"), TargetOutboundUsersMonth: 29, Status: catalog.StatusActive},
	{Partnership: "acme-de", EffectiveFrom: balDate("2024-04-10"), StartDate: balDate("2024-01-01"), TargetInboundUsersMonth: 120, TargetOutboundUsersMonth: 60, Status: catalog.StatusActive},
	{Partnership: "cyan-de", EffectiveFrom: balDate("2024-04-01"), StartDate: balDate("2024-01-01"), TargetInboundUsersMonth: 40, Status: catalog.StatusPaused},
}

var balZones = map[string]*time.Location{"DE": balLoc("Europe/Berlin"), "IN": balLoc("Asia/Kolkata")}

func balLoc(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

func balDate(s string) time.Time {
	d, err := time.ParseInLocation(time.DateOnly, s, time.UTC)
	if err != nil {
		panic(err)
	}
	return d
}

func balPS(id string) (catalog.Partnership, bool) {
	for _, ps := range balPartnerships {
		if ps.ID == id {
			return ps, true
		}
	}
	return catalog.Partnership{}, false
}

func balZone(cc string) *time.Location {
	if z, ok := balZones[cc]; ok {
		return z
	}
	return time.UTC
}

// balAttr is one attributions row as the tests write it.
type balAttr struct {
	batch                      int // rows are written in one insert per batch, in batch order
	conv                       string
	ts                         time.Time
	typ, source, user, outcome string
	ps, partner, country, dir  string
	overlaps                   []string
	revenue                    decimal.Decimal
	currency                   string
	revRep                     decimal.Decimal
	version                    uint64
}

var balHeader = []string{"batch", "conversion", "ts", "type", "source", "user_id", "outcome", "partnership", "partner", "country", "direction", "overlaps", "revenue", "currency", "revenue_rep", "version"}

// balSetup creates a fresh database with the scenario catalog and returns
// the report environment on it.
func balSetup(t *testing.T, ctx context.Context) (*reports.Env, driver.Conn) {
	t.Helper()
	db := testenv.ClickHouse(t)
	st := catalog.NewStore(testenv.Postgres(t).Pool)
	for _, id := range []string{"acme", "beta", "cyan"} {
		if _, err := st.AddPartner(ctx, catalog.Partner{ID: id, Name: strings.ToUpper(id)}, "test"); err != nil {
			t.Fatalf("AddPartner(%s): %v", id, err)
		}
	}
	for _, ps := range balPartnerships {
		if _, err := st.AddPartnership(ctx, ps, "test"); err != nil {
			t.Fatalf("AddPartnership(%s): %v", ps.ID, err)
		}
	}
	for _, tm := range balTerms {
		tm.Currency = "EUR"
		if _, err := st.SetTerms(ctx, tm.Partnership, tm, "test"); err != nil {
			t.Fatalf("SetTerms(%s): %v", tm.Partnership, err)
		}
	}
	snap, err := st.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(snap.Terms["acme-de"]); n != 2 {
		t.Fatalf("acme-de has %d terms versions, want 2", n)
	}
	return &reports.Env{Conn: db.Conn, Catalog: snap, Zones: balZones}, db.Conn
}

// balInsert writes rows, one insert per batch number, so that versions of
// a conversion land in different parts and only FINAL reconciles them. It
// checks the table then holds more rows than conversions when some
// conversion was written twice.
func balInsert(t *testing.T, ctx context.Context, conn driver.Conn, rows []balAttr) {
	t.Helper()
	byBatch := map[int][]balAttr{}
	var order []int
	for _, r := range rows {
		if _, ok := byBatch[r.batch]; !ok {
			order = append(order, r.batch)
		}
		byBatch[r.batch] = append(byBatch[r.batch], r)
	}
	sort.Ints(order)
	now := testenv.Now().UTC().Truncate(time.Second)
	for _, b := range order {
		batch, err := conn.PrepareBatch(ctx, schema.Attributions.Insert())
		if err != nil {
			t.Fatalf("PrepareBatch: %v", err)
		}
		for _, r := range byBatch[b] {
			ov := r.overlaps
			if ov == nil {
				ov = []string{}
			}
			if err := batch.Append(r.conv, r.ts, r.typ, r.source, r.user, "", r.outcome,
				r.ps, r.partner, r.country, r.dir, "", "", "", uint32(0), ov,
				r.revenue, r.currency, r.revRep, "EUR", decimal.Zero, time.Unix(0, 0).UTC(), now, r.version); err != nil {
				t.Fatalf("Append(%s): %v", r.conv, err)
			}
		}
		if err := batch.Send(); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	var all, final uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM attributions").Scan(&all); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "SELECT count() FROM attributions FINAL").Scan(&final); err != nil {
		t.Fatal(err)
	}
	convs := map[string]bool{}
	for _, r := range rows {
		convs[r.conv] = true
	}
	if all != uint64(len(rows)) || final != uint64(len(convs)) {
		t.Fatalf("attributions: %d rows, %d FINAL; wrote %d rows of %d conversions", all, final, len(rows), len(convs))
	}
	if len(rows) == len(convs) {
		t.Fatal("scenario has no recomputed conversion")
	}
}

// balReadAttrs reads an attributions fixture.
func balReadAttrs(t *testing.T, name string) []balAttr {
	t.Helper()
	var out []balAttr
	for i, r := range readCSV(t, name, balHeader) {
		fail := func(err error) { t.Fatalf("%s line %d: %v", name, i+2, err) }
		batch, err := strconv.Atoi(r[0])
		if err != nil {
			fail(err)
		}
		ts, err := time.ParseInLocation(time.DateTime, r[2], time.UTC)
		if err != nil {
			fail(err)
		}
		rev, err := decimal.NewFromString(r[12])
		if err != nil {
			fail(err)
		}
		rep, err := decimal.NewFromString(r[14])
		if err != nil {
			fail(err)
		}
		v, err := strconv.ParseUint(r[15], 10, 64)
		if err != nil {
			fail(err)
		}
		var ov []string
		if r[11] != "" {
			ov = strings.Split(r[11], "|")
		}
		out = append(out, balAttr{batch: batch, conv: r[1], ts: ts, typ: r[3], source: r[4], user: r[5], outcome: r[6],
			ps: r[7], partner: r[8], country: r[9], dir: r[10], overlaps: ov, revenue: rev, currency: r[13], revRep: rep, version: v})
	}
	return out
}

func (r balAttr) convVersion() (string, uint64) { return r.conv, r.version }

// balOrder is the reports' row order: period, then the partnership's
// country, then the partnership.
func balOrder(a, b time.Time, psA, psB string) int {
	pa, _ := balPS(psA)
	pb, _ := balPS(psB)
	return cmp.Or(a.Compare(b), strings.Compare(pa.Country, pb.Country), strings.Compare(psA, psB))
}

// balInScope is the brute-force scope: the catalog partnerships that pass
// the Countries, Partner and (when partnerships) Partnerships filters.
func balInScope(p reports.Params, id string, partnerships bool) bool {
	ps, ok := balPS(id)
	if !ok {
		return false
	}
	if p.Countries != nil && !slices.Contains(p.Countries, ps.Country) {
		return false
	}
	if p.Partner != "" && ps.Partner != p.Partner {
		return false
	}
	if partnerships && p.Partnerships != nil && !slices.Contains(p.Partnerships, id) {
		return false
	}
	return true
}

// balLocalDay is the calendar day of ts in the zone of partnership id's
// country.
func balLocalDay(id string, ts time.Time) time.Time {
	ps, _ := balPS(id)
	l := ts.In(balZone(ps.Country))
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, time.UTC)
}

func balCalDay(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// balPeriodOf is the period holding day d, found by walking back.
func balPeriodOf(gran string, d time.Time) time.Time {
	switch gran {
	case reports.Day:
		return d
	case reports.Week:
		for d.Weekday() != time.Monday {
			d = d.AddDate(0, 0, -1)
		}
		return d
	case reports.Month:
		for d.Day() != 1 {
			d = d.AddDate(0, 0, -1)
		}
		return d
	}
	return time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
}

// balTermsAt is the version of id's terms in force on day d: the latest
// EffectiveFrom on or before d, the later-set version on a tie.
func balTermsAt(id string, d time.Time) (catalog.Terms, bool) {
	var best catalog.Terms
	found := false
	for _, tm := range balTerms {
		if tm.Partnership != id || tm.EffectiveFrom.After(d) {
			continue
		}
		if !found || !tm.EffectiveFrom.Before(best.EffectiveFrom) {
			best, found = tm, true
		}
	}
	return best, found
}

// balTarget adds monthly / days-in-month for every day in days that is
// within the agreement; nil when nothing applies. Rounded half up to 2
// decimals.
func balTarget(tm catalog.Terms, monthly uint32, days []time.Time) any {
	if monthly == 0 || tm.Status != catalog.StatusActive {
		return nil
	}
	r := new(big.Rat)
	n := 0
	for _, d := range days {
		if d.Before(tm.StartDate) || (!tm.EndDate.IsZero() && d.After(tm.EndDate)) {
			continue
		}
		dim := time.Date(d.Year(), d.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day()
		r.Add(r, big.NewRat(int64(monthly), int64(dim)))
		n++
	}
	if n == 0 {
		return nil
	}
	// round half up: floor((100 r * 2 + 1) / 2)
	x := new(big.Rat).Mul(r, big.NewRat(200, 1))
	x.Add(x, big.NewRat(1, 1))
	q := new(big.Int).Quo(x.Num(), new(big.Int).Mul(x.Denom(), big.NewInt(2)))
	return decimal.NewFromBigInt(q, -2)
}

type balExpAgg struct {
	in, out       uint64
	inRev, outRev decimal.Decimal
}

// balBrute computes the balance report by brute force from the rows as
// written.
func balBrute(rows []balAttr, p reports.Params) [][]any {
	from, to := balCalDay(p.From), balCalDay(p.To)
	latest := latestVersions(rows)
	type key struct {
		period time.Time
		ps     string
	}
	accumulate := func(m map[key]*balExpAgg, r balAttr, period time.Time) {
		k := key{period, r.ps}
		a := m[k]
		if a == nil {
			a = &balExpAgg{}
			m[k] = a
		}
		switch {
		case r.outcome == "new_user" && r.dir == "inbound":
			a.in++
		case r.outcome == "new_user" && r.dir == "outbound":
			a.out++
		case r.outcome == "credited" && r.dir == "inbound":
			a.inRev = a.inRev.Add(r.revRep)
		case r.outcome == "credited" && r.dir == "outbound":
			a.outRev = a.outRev.Add(r.revRep)
		}
	}
	counts := func(r balAttr) bool {
		return balInScope(p, r.ps, true) && (r.outcome == "new_user" || r.outcome == "credited") && (r.dir == "inbound" || r.dir == "outbound")
	}
	cur := map[key]*balExpAgg{}
	for _, r := range latest {
		d := balLocalDay(r.ps, r.ts)
		if counts(r) && !d.Before(from) && !d.After(to) {
			accumulate(cur, r, balPeriodOf(p.Granularity, d))
		}
	}
	var prev map[key]*balExpAgg
	if p.Compare != "" {
		prev = map[key]*balExpAgg{}
		n := int(to.Sub(from).Hours()/24) + 1
		for _, r := range latest {
			d := balLocalDay(r.ps, r.ts)
			var moved time.Time
			if p.Compare == reports.CompareYear {
				if d.Before(from.AddDate(-1, 0, 0)) || d.After(to.AddDate(-1, 0, 0)) {
					continue
				}
				if d.Month() == time.February && d.Day() == 29 {
					d = d.AddDate(0, 0, -1)
				}
				moved = d.AddDate(1, 0, 0)
			} else {
				if d.Before(from.AddDate(0, 0, -n)) || d.After(from.AddDate(0, 0, -1)) {
					continue
				}
				moved = d.AddDate(0, 0, n)
			}
			if counts(r) {
				accumulate(prev, r, balPeriodOf(p.Granularity, moved))
			}
		}
	}
	// The days of each period within from-to.
	days := map[time.Time][]time.Time{}
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		pd := balPeriodOf(p.Granularity, d)
		days[pd] = append(days[pd], d)
	}
	targetsOf := func(id string, ds []time.Time) (any, any) {
		if len(ds) == 0 {
			return nil, nil
		}
		tm, ok := balTermsAt(id, ds[len(ds)-1])
		if !ok {
			return nil, nil
		}
		return balTarget(tm, tm.TargetInboundUsersMonth, ds), balTarget(tm, tm.TargetOutboundUsersMonth, ds)
	}
	targets := func(k key) (any, any) { return targetsOf(k.ps, days[k.period]) }
	// earlierDays are the earlier days whose figures count in period k
	// (moved as above), in order.
	earlierDays := func(k key) []time.Time {
		n := int(to.Sub(from).Hours()/24) + 1
		var out []time.Time
		for d := from.AddDate(-1, 0, -n-1); !d.After(to); d = d.AddDate(0, 0, 1) {
			moved := d.AddDate(0, 0, n)
			if p.Compare == reports.CompareYear {
				e := d
				if e.Month() == time.February && e.Day() == 29 {
					e = e.AddDate(0, 0, -1)
				}
				moved = e.AddDate(1, 0, 0)
			}
			if !moved.Before(from) && !moved.After(to) && balPeriodOf(p.Granularity, moved).Equal(k.period) {
				out = append(out, d)
			}
		}
		return out
	}
	mkRow := func(period any, k key, a *balExpAgg, in, outT any) []any {
		ps, _ := balPS(k.ps)
		var userRatio any
		if a.out > 0 {
			userRatio = float64(a.in) / float64(a.out)
		}
		behindIn := in != nil && decimal.NewFromInt(int64(a.in)).LessThan(in.(decimal.Decimal))
		behindOut := outT != nil && decimal.NewFromInt(int64(a.out)).LessThan(outT.(decimal.Decimal))
		behind := map[[2]bool]string{{true, true}: "both", {true, false}: "inbound", {false, true}: "outbound"}[[2]bool{behindIn, behindOut}]
		return []any{period, k.ps, ps.Partner, ps.Country, a.in, a.out, int64(a.in) - int64(a.out), userRatio,
			a.inRev, a.outRev, a.inRev.Sub(a.outRev), in, outT, behind}
	}
	keys := map[key]bool{}
	for k := range cur {
		keys[k] = true
	}
	for k := range prev {
		keys[k] = true
	}
	for period := range days {
		for _, ps := range balPartnerships {
			k := key{period, ps.ID}
			if !balInScope(p, ps.ID, true) {
				continue
			}
			if in, out := targets(k); in != nil || out != nil {
				keys[k] = true
			}
		}
	}
	list := slices.SortedFunc(maps.Keys(keys), func(a, b key) int {
		return balOrder(a.period, b.period, a.ps, b.ps)
	})
	out := [][]any{}
	for _, k := range list {
		a := cur[k]
		if a == nil {
			a = &balExpAgg{}
		}
		var period any = k.period
		if p.Granularity == reports.Total {
			period = p.From.Format(time.DateOnly) + ".." + p.To.Format(time.DateOnly)
		}
		in, outT := targets(k)
		row := mkRow(period, k, a, in, outT)
		if p.Compare != "" {
			b := prev[k]
			if b == nil {
				b = &balExpAgg{}
			}
			pin, pout := targetsOf(k.ps, earlierDays(k))
			prow := mkRow(nil, k, b, pin, pout)
			// Every numeric column (4-12) gets its earlier value and change.
			for j := 4; j <= 12; j++ {
				row = append(row, prow[j], balAnyChange(row[j], prow[j]))
			}
		}
		out = append(out, row)
	}
	return out
}

// balAnyChange is balRelChange of two cells of the same kind (nil: none).
func balAnyChange(a, b any) any {
	dec := func(v any) (decimal.Decimal, bool) {
		switch x := v.(type) {
		case uint64:
			return decimal.NewFromUint64(x), true
		case int64:
			return decimal.NewFromInt(x), true
		case float64:
			return decimal.NewFromFloat(x), true
		case decimal.Decimal:
			return x, true
		}
		return decimal.Decimal{}, false
	}
	x, ok1 := dec(a)
	y, ok2 := dec(b)
	if !ok1 || !ok2 {
		return nil
	}
	return balRelChange(x, y)
}

// balRelChange is (a-b)/|b| computed exactly, nil when b is 0.
func balRelChange(a, b decimal.Decimal) any {
	if b.IsZero() {
		return nil
	}
	return a.Sub(b).Div(b.Abs()).InexactFloat64()
}

// balSameCell compares a report cell with an expected one: decimals by
// value, floats to 1e-9 relative, dates by instant, the rest exactly
// (including their Go types).
func balSameCell(got, want any) bool {
	switch w := want.(type) {
	case nil:
		return got == nil
	case decimal.Decimal:
		g, ok := got.(decimal.Decimal)
		return ok && g.Equal(w)
	case float64:
		g, ok := got.(float64)
		return ok && math.Abs(g-w) <= 1e-9*math.Max(1, math.Abs(w))
	case time.Time:
		g, ok := got.(time.Time)
		return ok && g.Equal(w)
	}
	return got == want
}

func balCompare(t *testing.T, what string, tab *reports.Table, want [][]any) {
	t.Helper()
	for i := 0; i < max(len(tab.Rows), len(want)); i++ {
		switch {
		case i >= len(tab.Rows):
			t.Errorf("%s: row %d missing, want %v", what, i+1, want[i])
			continue
		case i >= len(want):
			t.Errorf("%s: row %d = %v, want no such row", what, i+1, tab.Rows[i])
			continue
		}
		g, w := tab.Rows[i], want[i]
		if len(g) != len(tab.Columns) || len(g) != len(w) {
			t.Errorf("%s: row %d has %d cells, %d columns, want %d", what, i+1, len(g), len(tab.Columns), len(w))
			continue
		}
		for j := range g {
			if !balSameCell(g[j], w[j]) {
				t.Errorf("%s: row %d %s = %v (%T), want %v (%T)\n got  %v\n want %v", what, i+1, tab.Columns[j].Name, g[j], g[j], w[j], w[j], g, w)
				break
			}
		}
	}
}

func balCSV(t *testing.T, tab *reports.Table) string {
	t.Helper()
	var b bytes.Buffer
	if err := tab.Write(&b, reports.FormatCSV); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func balGolden(t *testing.T, tab *reports.Table, name string) {
	t.Helper()
	want, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if got := balCSV(t, tab); got != strings.ReplaceAll(string(want), "\r\n", "\n") {
		t.Errorf("%s differs:\n--- got\n%s--- want\n%s", name, got, want)
	}
}

func balColumns(p reports.Params) []reports.Column {
	cols := append([]reports.Column(nil), reports.BalanceColumns...)
	if p.Granularity == reports.Total {
		cols[0].Kind = reports.KindText // FROM..TO
	}
	if p.Compare != "" {
		for _, c := range reports.BalanceColumns {
			switch c.Kind {
			case reports.KindInt, reports.KindDecimal, reports.KindRatio:
				cols = append(cols, reports.Column{Name: c.Name + "_prev", Kind: c.Kind}, reports.Column{Name: c.Name + "_change", Kind: reports.KindRatio})
			}
		}
	}
	return cols
}

func TestBalanceFixture(t *testing.T) {
	ctx := testCtx(t, 120*time.Second)
	env, conn := balSetup(t, ctx)
	rows := balReadAttrs(t, "balance_attributions.csv")
	balInsert(t, ctx, conn, rows)

	marApr := reports.Params{From: balDate("2024-03-01"), To: balDate("2024-04-30"), Granularity: reports.Month}
	totalPrev := reports.Params{From: balDate("2024-03-01"), To: balDate("2024-04-30"), Compare: reports.ComparePrevious}
	tests := []struct {
		name   string
		p      reports.Params
		golden string
	}{
		{"month", marApr, "balance_expected_month.csv"},
		{"total compare previous", totalPrev, "balance_expected_total_previous.csv"},
		{"day Berlin and Kolkata month edge", reports.Params{From: balDate("2024-03-31"), To: balDate("2024-04-01"), Granularity: reports.Day}, ""},
		{"week", reports.Params{From: balDate("2024-03-01"), To: balDate("2024-04-30"), Granularity: reports.Week}, ""},
		{"day compare previous", reports.Params{From: balDate("2024-03-01"), To: balDate("2024-03-02"), Granularity: reports.Day, Compare: reports.ComparePrevious}, ""},
		{"month DE", reports.Params{From: balDate("2024-03-01"), To: balDate("2024-04-30"), Granularity: reports.Month, Countries: []string{"DE"}}, ""},
		{"partner acme", reports.Params{From: balDate("2024-03-01"), To: balDate("2024-04-30"), Granularity: reports.Month, Partner: "acme"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := runReport(t, ctx, env, reports.BalanceReport, tt.p, balColumns(tt.p))
			balCompare(t, "brute force", tab, balBrute(rows, tt.p))
			if tt.golden != "" {
				balGolden(t, tab, tt.golden)
			}
		})
	}

	// The recomputed conversions count where their latest version puts
	// them: f15 moved from acme-de to beta-de, f16's latest revenue is 70
	// (version 3, written before the stale version 2), f17 became
	// unattributed.
	tab, err := reports.BalanceReport(ctx, env, reports.Params{From: balDate("2024-04-08"), To: balDate("2024-04-10"), Partnerships: []string{"acme-de", "beta-de"}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][2]string{}
	for _, r := range tab.Rows {
		got[r[1].(string)] = [2]string{fmt.Sprint(r[4]), r[9].(decimal.Decimal).String()}
	}
	want := map[string][2]string{"acme-de": {"0", "70"}, "beta-de": {"1", "0"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("recomputed conversions: got %v, want %v (inbound new users, outbound revenue)", got, want)
	}
}

// balRandom generates n conversions over February-May of 2023 and 2024,
// a tenth of them within two hours of a local midnight that starts a day,
// week or month in one of the zones; 30% are written in two or three
// versions, in random batches (so a stale version often arrives last).
func balRandom(seed uint64, n int) []balAttr {
	r := rand.New(rand.NewPCG(seed, 2024))
	ids := []string{"acme-de", "beta-de", "cyan-de", "acme-in", "beta-in", "cyan-us", "zeta-de"}
	edges := []string{"2024-03-01", "2024-03-04", "2024-03-31", "2024-04-01", "2024-04-08", "2024-04-15", "2024-05-01", "2023-03-01", "2023-04-01", "2023-04-03"}
	zones := []*time.Location{balZones["DE"], balZones["IN"], time.UTC}
	pick := func(list []string) string { return list[r.IntN(len(list))] }
	row := func(conv string, ts time.Time) balAttr {
		a := balAttr{conv: conv, ts: ts, ps: pick(ids)}
		ps, ok := balPS(a.ps)
		if !ok {
			ps = catalog.Partnership{ID: a.ps, Partner: "zeta", Country: "DE", Direction: vocab.Both}
		}
		a.partner, a.country = ps.Partner, ps.Country
		a.dir = ps.Direction
		if a.dir == vocab.Both {
			a.dir = pick([]string{"inbound", "outbound"})
		}
		switch x := r.IntN(100); {
		case x < 50:
			a.typ = "signup"
			a.outcome = pick([]string{"new_user", "new_user", "new_user", "returning_user", "duplicate", "unattributed"})
		case x < 85:
			a.typ = "purchase"
			a.outcome = pick([]string{"credited", "credited", "credited", "credited", "outside_window", "unattributed", "duplicate"})
		default:
			a.typ = "refund"
			a.outcome = pick([]string{"credited", "credited", "not_credited"})
		}
		if a.outcome == "duplicate" || a.outcome == "unattributed" || a.outcome == "not_credited" {
			a.ps, a.partner, a.dir = "", "", "none"
			a.country = pick([]string{"DE", "IN", "US"})
		}
		a.source = "ours"
		if a.dir == "outbound" {
			a.source = "partner:" + a.partner
		}
		if r.IntN(20) > 0 {
			a.user = fmt.Sprintf("u%d", r.IntN(250))
		}
		if a.ps != "" && r.IntN(10) < 4 {
			for k := 1 + r.IntN(3); len(a.overlaps) < k; {
				o := pick(ids)
				if (o != a.ps || r.IntN(30) == 0) && !slices.Contains(a.overlaps, o) {
					a.overlaps = append(a.overlaps, o)
				}
			}
			sort.Strings(a.overlaps)
		}
		a.revenue, a.revRep = decimal.Zero, decimal.Zero
		if a.typ != "signup" && a.outcome != "duplicate" {
			a.revenue = decimal.New(r.Int64N(5_000_000)+1, -4)
			if a.typ == "refund" {
				a.revenue = a.revenue.Neg()
			}
			a.currency = pick([]string{"EUR", "USD", "INR"})
			a.revRep = a.revenue.Mul(decimal.New(r.Int64N(2_000_000)+1, -6)).RoundBank(6) // revenue_rep holds 6 decimals
		}
		return a
	}
	var out []balAttr
	for i := range n {
		var ts time.Time
		if r.IntN(10) == 0 {
			z := zones[r.IntN(len(zones))]
			d := balDate(pick(edges))
			ts = time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, z).Add(time.Duration(r.IntN(4*3600)-2*3600) * time.Second)
		} else {
			year := 2023 + r.IntN(2)
			start := time.Date(year, 2, 1, 0, 0, 0, 0, time.UTC)
			ts = start.Add(time.Duration(r.Int64N(int64(120*24*3600))) * time.Second)
		}
		ts = ts.UTC()
		conv := fmt.Sprintf("r%05d", i)
		versions := []uint64{uint64(1 + r.IntN(1000))}
		if r.IntN(10) < 3 {
			for k := 1 + r.IntN(2); k > 0; k-- {
				v := uint64(1 + r.IntN(1000))
				if !slices.Contains(versions, v) {
					versions = append(versions, v)
				}
			}
		}
		for _, v := range versions {
			a := row(conv, ts)
			a.version, a.batch = v, 1+r.IntN(3)
			out = append(out, a)
		}
	}
	return out
}

// balRandomCases are the parameter sets run against the random scenario,
// for the balance and the overlaps report.
func balRandomCases() []struct {
	name string
	p    reports.Params
} {
	d := balDate
	return []struct {
		name string
		p    reports.Params
	}{
		{"month", reports.Params{From: d("2024-03-01"), To: d("2024-04-30"), Granularity: reports.Month}},
		{"month partial months", reports.Params{From: d("2024-02-15"), To: d("2024-04-10"), Granularity: reports.Month}},
		{"week", reports.Params{From: d("2024-03-04"), To: d("2024-04-21"), Granularity: reports.Week}},
		{"week partial weeks", reports.Params{From: d("2024-03-27"), To: d("2024-04-12"), Granularity: reports.Week}},
		{"day", reports.Params{From: d("2024-03-29"), To: d("2024-04-02"), Granularity: reports.Day}},
		{"total", reports.Params{From: d("2024-02-01"), To: d("2024-05-31")}},
		{"times of day are ignored", reports.Params{From: d("2024-03-31").Add(23 * time.Hour), To: d("2024-04-01").Add(time.Minute), Granularity: reports.Day}},
		{"day compare previous", reports.Params{From: d("2024-03-30"), To: d("2024-04-02"), Granularity: reports.Day, Compare: reports.ComparePrevious}},
		{"week compare previous", reports.Params{From: d("2024-03-13"), To: d("2024-04-20"), Granularity: reports.Week, Compare: reports.ComparePrevious}},
		{"month compare previous", reports.Params{From: d("2024-04-01"), To: d("2024-05-31"), Granularity: reports.Month, Compare: reports.ComparePrevious}},
		{"month compare year", reports.Params{From: d("2024-02-01"), To: d("2024-05-31"), Granularity: reports.Month, Compare: reports.CompareYear}},
		{"total compare year", reports.Params{From: d("2024-03-01"), To: d("2024-03-31"), Compare: reports.CompareYear}},
		{"total compare previous", reports.Params{From: d("2024-04-01"), To: d("2024-04-30"), Compare: reports.ComparePrevious}},
		{"country IN (Kolkata) by day", reports.Params{From: d("2024-03-30"), To: d("2024-04-02"), Granularity: reports.Day, Countries: []string{"IN"}}},
		{"countries DE and US by week", reports.Params{From: d("2024-03-01"), To: d("2024-04-30"), Granularity: reports.Week, Countries: []string{"DE", "US"}}},
		{"no country", reports.Params{From: d("2024-03-01"), To: d("2024-04-30"), Granularity: reports.Month, Countries: []string{}}},
		{"partner beta compare previous", reports.Params{From: d("2024-03-01"), To: d("2024-04-30"), Granularity: reports.Month, Partner: "beta", Compare: reports.ComparePrevious}},
		{"partner acme in IN", reports.Params{From: d("2024-03-01"), To: d("2024-04-30"), Granularity: reports.Week, Partner: "acme", Countries: []string{"IN"}}},
		{"partnerships filter", reports.Params{From: d("2024-03-01"), To: d("2024-04-30"), Granularity: reports.Month, Partnerships: []string{"acme-de", "beta-in"}}},
		{"unknown partner", reports.Params{From: d("2024-03-01"), To: d("2024-04-30"), Partner: "zeta"}},
	}
}

func TestBalanceRandom(t *testing.T) {
	ctx := testCtx(t, 120*time.Second)
	env, conn := balSetup(t, ctx)
	rows := balRandom(1, 4000)
	balInsert(t, ctx, conn, rows)
	for _, tc := range balRandomCases() {
		t.Run(tc.name, func(t *testing.T) {
			tab := runReport(t, ctx, env, reports.BalanceReport, tc.p, balColumns(tc.p))
			want := balBrute(rows, tc.p)
			balCompare(t, "brute force", tab, want)
			if tc.p.Countries == nil && tc.p.Partner == "" && tc.p.Partnerships == nil && len(want) < 6 {
				t.Errorf("only %d rows: the scenario does not exercise this case", len(want))
			}
		})
	}
}

// TestBalanceTargets checks the scaling of targets and behind on the
// catalog alone (no activity): every row is a target row.
func TestBalanceTargets(t *testing.T) {
	ctx := testCtx(t, 120*time.Second)
	env, _ := balSetup(t, ctx)
	type row struct {
		period, ps string
		in, out    string // "" for none
		behind     string
	}
	d := balDate
	tests := []struct {
		name string
		p    reports.Params
		want []row
	}{
		{"a whole month counts the monthly target", reports.Params{From: d("2024-03-01"), To: d("2024-03-31"), Granularity: reports.Month, Partnerships: []string{"acme-de", "beta-in"}},
			[]row{{"2024-03-01", "acme-de", "100", "50", "both"}, {"2024-03-01", "beta-in", "", "29", "outbound"}}},
		{"partial month pro rata by days", reports.Params{From: d("2024-03-01"), To: d("2024-03-10"), Granularity: reports.Month, Partnerships: []string{"acme-de"}},
			[]row{{"2024-03-01", "acme-de", "32.26", "16.13", "both"}}},
		{"agreement start and end cut the days", reports.Params{From: d("2024-03-01"), To: d("2024-04-30"), Granularity: reports.Month, Partnerships: []string{"beta-de"}},
			[]row{{"2024-03-01", "beta-de", "22", "21.29", "both"}, {"2024-04-01", "beta-de", "20.67", "20", "both"}}},
		{"days across two months", reports.Params{From: d("2024-02-20"), To: d("2024-03-05")},
			[]row{{"2024-02-20..2024-03-05", "acme-de", "50.61", "25.31", "both"}, {"2024-02-20..2024-03-05", "cyan-de", "20.24", "", "inbound"}, {"2024-02-20..2024-03-05", "acme-in", "31.38", "", "inbound"}, {"2024-02-20..2024-03-05", "beta-in", "", "14.68", "outbound"}}},
		{"version in force at the period's end", reports.Params{From: d("2024-04-08"), To: d("2024-04-14"), Granularity: reports.Week, Partnerships: []string{"acme-de"}},
			[]row{{"2024-04-08", "acme-de", "28", "14", "both"}}},
		{"a week before the change keeps the old version", reports.Params{From: d("2024-04-01"), To: d("2024-04-07"), Granularity: reports.Week, Partnerships: []string{"acme-de"}},
			[]row{{"2024-04-01", "acme-de", "23.33", "11.67", "both"}}},
		{"paused version: no target", reports.Params{From: d("2024-04-01"), To: d("2024-04-30"), Granularity: reports.Month, Partnerships: []string{"cyan-de"}}, nil},
		{"no terms yet", reports.Params{From: d("2023-12-01"), To: d("2023-12-31"), Granularity: reports.Month}, nil},
		{"one day", reports.Params{From: d("2024-02-29"), To: d("2024-02-29"), Granularity: reports.Day, Partnerships: []string{"acme-in"}},
			[]row{{"2024-02-29", "acme-in", "2.14", "", "inbound"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, err := reports.BalanceReport(ctx, env, tt.p)
			if err != nil {
				t.Fatal(err)
			}
			var got []row
			for _, r := range tab.Rows {
				s := func(v any) string {
					if v == nil {
						return ""
					}
					switch x := v.(type) {
					case time.Time:
						return x.Format(time.DateOnly)
					case string:
						return x
					}
					return v.(decimal.Decimal).String()
				}
				got = append(got, row{s(r[0]), r[1].(string), s(r[11]), s(r[12]), r[13].(string)})
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
			balCompare(t, "brute force", tab, balBrute(nil, tt.p))
		})
	}
}

func TestBalanceParams(t *testing.T) {
	env := &reports.Env{Catalog: catalog.NewSnapshot(nil, nil, nil)}
	for _, p := range []reports.Params{
		{},
		{From: balDate("2024-03-02"), To: balDate("2024-03-01")},
		{From: balDate("2024-03-01"), To: balDate("2024-03-01"), Granularity: "hour"},
		{From: balDate("2024-03-01"), To: balDate("2024-03-01"), Compare: "decade"},
	} {
		if _, err := reports.BalanceReport(context.Background(), env, p); err == nil {
			t.Errorf("BalanceReport(%+v): no error", p)
		}
		if _, err := reports.OverlapsReport(context.Background(), env, p); err == nil {
			t.Errorf("OverlapsReport(%+v): no error", p)
		}
	}
	// Nothing in scope: no query, an empty table.
	tab, err := reports.BalanceReport(context.Background(), env, reports.Params{From: balDate("2024-03-01"), To: balDate("2024-03-31"), Granularity: reports.Week})
	if err != nil || len(tab.Rows) != 0 || tab.Rows == nil {
		t.Fatalf("empty catalog: %v, %v", tab, err)
	}
}
