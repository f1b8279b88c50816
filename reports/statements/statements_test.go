package statements

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zones must not depend on the machine

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"github.com/thedatashed/xlsxreader"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/fx"
	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/lib/pgdb"
	"github.com/xpromo/xpromo/reports"
	"github.com/xpromo/xpromo/schema"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// testNow is the clock of every test: October and November 2026 have
// ended everywhere, December has not.
var testNow = time.Date(2026, 12, 15, 10, 0, 0, 0, time.UTC)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// rowsOf maps a fixture's data rows by its header.
func rowsOf(t *testing.T, path string) []map[string]string {
	t.Helper()
	recs := testenv.ReadCSV(t, path)
	var out []map[string]string
	for _, r := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[h] = r[i]
		}
		out = append(out, m)
	}
	return out
}

func dec(t *testing.T, s string) decimal.Decimal {
	t.Helper()
	d, err := decimal.NewFromString(s)
	if err != nil {
		t.Fatalf("decimal %q: %v", s, err)
	}
	return d
}

// scenario is a fixture directory loaded into a fresh database.
type scenario struct {
	dir   string
	src   Source
	attrs []map[string]string
	ps    map[string]catalog.Partnership
}

func loadScenario(t *testing.T, ctx context.Context, name string) *scenario {
	t.Helper()
	dir := filepath.Join("testdata", name)
	db := testenv.ClickHouse(t)
	pg := testenv.Postgres(t).Pool
	st := catalog.NewStore(pg)
	sc := &scenario{dir: dir, ps: map[string]catalog.Partnership{}}
	zones := map[string]*time.Location{}
	partners := map[string]bool{}
	for _, r := range rowsOf(t, filepath.Join(dir, "partnerships.csv")) {
		if !partners[r["partner"]] {
			partners[r["partner"]] = true
			if _, err := st.AddPartner(ctx, catalog.Partner{ID: r["partner"], Name: strings.ToUpper(r["partner"])}, "test"); err != nil {
				t.Fatalf("AddPartner(%s): %v", r["partner"], err)
			}
		}
		ps := catalog.Partnership{ID: r["id"], Partner: r["partner"], Country: r["country"], Direction: r["direction"]}
		if _, err := st.AddPartnership(ctx, ps, "test"); err != nil {
			t.Fatalf("AddPartnership(%s): %v", ps.ID, err)
		}
		sc.ps[ps.ID] = ps
		loc, err := time.LoadLocation(r["timezone"])
		if err != nil {
			t.Fatal(err)
		}
		zones[ps.Country] = loc
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, r := range rowsOf(t, filepath.Join(dir, "terms.csv")) {
		eff, err := time.Parse(time.DateOnly, r["effective_from"])
		if err != nil {
			t.Fatal(err)
		}
		tm := catalog.Terms{EffectiveFrom: eff, StartDate: start, Currency: r["currency"],
			InboundCPA: dec(t, r["inbound_cpa"]), InboundRevSharePct: dec(t, r["inbound_revshare_pct"]),
			OutboundCPA: dec(t, r["outbound_cpa"]), OutboundRevSharePct: dec(t, r["outbound_revshare_pct"])}
		if _, err := st.SetTerms(ctx, r["partnership"], tm, "test"); err != nil {
			t.Fatalf("SetTerms(%s): %v", r["partnership"], err)
		}
	}
	snap, err := st.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rates := fx.NewStore(pg)
	if _, err := os.Stat(filepath.Join(dir, "rates.csv")); err == nil {
		var rs []fx.Rate
		for _, r := range rowsOf(t, filepath.Join(dir, "rates.csv")) {
			d, err := time.Parse(time.DateOnly, r["date"])
			if err != nil {
				t.Fatal(err)
			}
			rs = append(rs, fx.Rate{Date: d, Currency: r["currency"], PerEUR: dec(t, r["per_eur"])})
		}
		if _, err := rates.Load(ctx, rs); err != nil {
			t.Fatal(err)
		}
	}
	sc.src = Source{Conn: db.Conn, PG: pg, Catalog: snap, Zones: zones, Rates: rates, Now: func() time.Time { return testNow }}
	sc.attrs = rowsOf(t, filepath.Join(dir, "attributions.csv"))
	return sc
}

// insertPhase writes the attributions of one phase, one insert per
// version, so that recomputed rows land in other parts than the ones they
// replace and only FINAL reconciles them.
func (sc *scenario) insertPhase(t *testing.T, ctx context.Context, phase string) {
	t.Helper()
	byVersion := map[string][]map[string]string{}
	var versions []string
	for _, r := range sc.attrs {
		if r["phase"] != phase {
			continue
		}
		if _, ok := byVersion[r["version"]]; !ok {
			versions = append(versions, r["version"])
		}
		byVersion[r["version"]] = append(byVersion[r["version"]], r)
	}
	sort.Strings(versions)
	computed := time.Now().UTC().Truncate(time.Second)
	// The reporting amount as attribution stores it: in EUR at the rate of
	// the conversion's day (6 and 10 decimals), none (rate 0) without one.
	rates, err := sc.src.Rates.Rates(ctx, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2105, 12, 31, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range versions {
		batch, err := sc.src.Conn.PrepareBatch(ctx, schema.Attributions.Insert())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range byVersion[v] {
			ts, err := time.Parse(time.DateTime, r["ts"])
			if err != nil {
				t.Fatal(err)
			}
			tv, _ := strconv.ParseUint(r["terms_version"], 10, 32)
			ver, _ := strconv.ParseUint(v, 10, 64)
			ps := sc.ps[r["partnership"]]
			country := ps.Country
			if country == "" {
				country = "\x00\x00"
			}
			rev := dec(t, r["revenue"])
			rep, rate, rateDate := decimal.Zero, decimal.Zero, time.Unix(0, 0).UTC()
			if !rev.IsZero() && r["currency"] != "" {
				if c, err := rates.Convert(rev, r["currency"], "EUR", ts); err == nil {
					rep, rate, rateDate = c.Amount.RoundBank(6), c.Rate.RoundBank(10), c.RateDate
				}
			}
			if err := batch.Append(r["conversion"], ts, r["type"], "ours", "u-"+r["conversion"], "", r["outcome"],
				r["partnership"], ps.Partner, country, r["direction"], "", "", "", uint32(tv), []string{},
				rev, r["currency"], rep, "EUR", rate, rateDate, computed, ver); err != nil {
				t.Fatalf("Append(%s): %v", r["conversion"], err)
			}
		}
		if err := batch.Send(); err != nil {
			t.Fatal(err)
		}
	}
}

// record is a statement row as the expected fixtures write it: the period,
// then the export columns from "kind" on.
func records(s *Statement) [][]string {
	var out [][]string
	for _, r := range s.records() {
		out = append(out, append([]string{s.Period}, r...))
	}
	return out
}

func expectedFor(t *testing.T, dir, period string) [][]string {
	t.Helper()
	var out [][]string
	for _, r := range testenv.ReadCSV(t, filepath.Join(dir, "expected.csv"))[1:] {
		if r[0] == period {
			out = append(out, r)
		}
	}
	return out
}

func periodsIn(t *testing.T, dir string) []string {
	t.Helper()
	seen := map[string]bool{}
	var out []string
	for _, r := range testenv.ReadCSV(t, filepath.Join(dir, "expected.csv"))[1:] {
		if !seen[r[0]] {
			seen[r[0]] = true
			out = append(out, r[0])
		}
	}
	return out
}

func checkExpected(t *testing.T, sc *scenario, st *Statement) {
	t.Helper()
	want := expectedFor(t, sc.dir, st.Period)
	got := records(st)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("statement %s (%s):\n got  %q\n want %q", st.Period, st.Status, got, want)
	}
}

// reconcile checks period's regular lines against
// reports.PartnershipsReport for the same month, per partnership and
// direction: the new users, and the revenue and amounts
// (reconcileMoney).
func reconcile(t *testing.T, ctx context.Context, src Source, st *Statement) {
	t.Helper()
	y, m, err := parsePeriod(st.Period)
	if err != nil {
		t.Fatal(err)
	}
	env := &reports.Env{Conn: src.Conn, Catalog: src.Catalog, Zones: src.Zones}
	from := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	tbl, err := reports.PartnershipsReport(ctx, env, reports.Params{From: from, To: from.AddDate(0, 1, -1), Granularity: reports.Month})
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, c := range tbl.Columns {
		col[c.Name] = i
	}
	fromReport := map[string]int64{}
	for _, r := range tbl.Rows {
		n := int64(r[col["new_users"]].(uint64))
		if n != 0 {
			fromReport[r[col["partnership"]].(string)+"/"+r[col["direction"]].(string)] += n
		}
	}
	fromStatement := map[string]int64{}
	var total int64
	for _, l := range st.Lines {
		if l.Kind == KindRegular && l.NewUsers != 0 {
			fromStatement[l.Partnership+"/"+l.Direction] += l.NewUsers
		}
		if l.Kind == KindRegular {
			total += l.NewUsers
		}
	}
	var totals int64
	for _, tt := range st.Totals {
		totals += tt.NewUsers
	}
	if !reflect.DeepEqual(fromReport, fromStatement) {
		t.Errorf("%s new users: partnerships report %v, statement %v", st.Period, fromReport, fromStatement)
	}
	reconcileMoney(t, src, tbl, st)
	hasAdj := false
	for _, l := range st.Lines {
		hasAdj = hasAdj || l.Kind == KindAdjustment
	}
	if !hasAdj && totals != total {
		t.Errorf("%s: totals hold %d new users, lines %d", st.Period, totals, total)
	}
}

func TestScenarios(t *testing.T) {
	for _, name := range []string{"cpa_only", "revshare_only", "both", "two_currencies", "terms_change", "refunds", "half_even", "jpy"} {
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t)
			sc := loadScenario(t, ctx, name)
			sc.insertPhase(t, ctx, "1")
			for _, p := range periodsIn(t, sc.dir) {
				st, err := Build(ctx, sc.src, p)
				if err != nil {
					t.Fatalf("Build(%s): %v", p, err)
				}
				if st.Status != StatusDraft || st.ID != "" || len(st.Hash) != 64 {
					t.Errorf("draft metadata: %+v", st)
				}
				checkExpected(t, sc, st)
				checkTotals(t, st)
				reconcile(t, ctx, sc.src, st)
				checkExports(t, st)
			}
		})
	}
}

// checkTotals recomputes the totals from the lines.
func checkTotals(t *testing.T, st *Statement) {
	t.Helper()
	want := map[string]Total{}
	for _, l := range st.Lines {
		tt := want[l.Currency]
		tt.Currency = l.Currency
		tt.NewUsers += l.NewUsers
		for _, p := range []struct {
			dst *decimal.Decimal
			v   decimal.Decimal
		}{
			{&tt.Revenue, l.Revenue}, {&tt.CPA, l.CPA}, {&tt.RevShare, l.RevShare},
			{&tt.WeOwe, l.WeOwe}, {&tt.TheyOwe, l.TheyOwe}, {&tt.Net, l.Net}} {
			*p.dst = p.dst.Add(p.v)
		}
		want[l.Currency] = tt
		// Line rules.
		if !l.WeOwe.Add(l.TheyOwe).Equal(l.CPA.Add(l.RevShare)) || !l.Net.Equal(l.TheyOwe.Sub(l.WeOwe)) {
			t.Errorf("line %+v breaks owe/net rules", l)
		}
	}
	if len(want) != len(st.Totals) {
		t.Fatalf("%d totals, want %d", len(st.Totals), len(want))
	}
	for _, tt := range st.Totals {
		w := want[tt.Currency]
		if tt.NewUsers != w.NewUsers || !tt.Revenue.Equal(w.Revenue) || !tt.Net.Equal(w.Net) || !tt.WeOwe.Equal(w.WeOwe) || !tt.TheyOwe.Equal(w.TheyOwe) {
			t.Errorf("total %s = %+v, want %+v", tt.Currency, tt, w)
		}
	}
}

func exportAll(t *testing.T, st *Statement) (csvB, jsonB, xlsxB []byte) {
	t.Helper()
	var c, j, x bytes.Buffer
	if err := st.WriteCSV(&c); err != nil {
		t.Fatal(err)
	}
	if err := st.WriteJSON(&j); err != nil {
		t.Fatal(err)
	}
	if err := st.WriteXLSX(&x); err != nil {
		t.Fatal(err)
	}
	return c.Bytes(), j.Bytes(), x.Bytes()
}

// checkExports reads each export back and compares it with the statement:
// CSV with encoding/csv, JSON with encoding/json, XLSX with the
// independent xlsxreader, every number compared as a decimal.
func checkExports(t *testing.T, st *Statement) {
	t.Helper()
	c, j, x := exportAll(t, st)
	want := st.records()

	// CSV.
	recs, err := csv.NewReader(bytes.NewReader(c)).ReadAll()
	if err != nil {
		t.Fatalf("csv: %v", err)
	}
	if !reflect.DeepEqual(recs[0], csvHeader) {
		t.Errorf("csv header %q", recs[0])
	}
	if len(recs)-1 != len(want) {
		t.Fatalf("csv has %d rows, want %d", len(recs)-1, len(want))
	}
	for i, r := range recs[1:] {
		meta := []string{st.ID, st.Period, st.Status, st.closedAt()}
		if !reflect.DeepEqual(r[:metaColumns], meta) || !reflect.DeepEqual(r[metaColumns:], want[i]) {
			t.Errorf("csv row %d = %q, want %q + %q", i+1, r, meta, want[i])
		}
	}
	if !bytes.Contains(c, []byte("\r\n")) {
		t.Error("csv lines do not end in CRLF")
	}

	// JSON.
	var js struct {
		ID, Period, Status, Hash string
		ClosedAt                 *string `json:"closed_at"`
		Lines                    []Line
		Totals                   []map[string]any
	}
	if bytes.Contains(j, []byte(`\u003e`)) {
		t.Error("json escapes '>'")
	}
	if err := json.Unmarshal(j, &js); err != nil {
		t.Fatalf("json: %v", err)
	}
	if js.ID != st.ID || js.Period != st.Period || js.Status != st.Status || js.Hash != st.Hash {
		t.Errorf("json metadata %+v", js)
	}
	if len(js.Lines) != len(st.Lines) || len(js.Totals) != len(st.Totals) {
		t.Fatalf("json has %d lines and %d totals", len(js.Lines), len(js.Totals))
	}
	for i, l := range js.Lines {
		if !linesEqual(l, st.Lines[i]) {
			t.Errorf("json line %d = %+v, want %+v", i, l, st.Lines[i])
		}
	}
	for i, tt := range js.Totals {
		if tt["net"] != fixed(st.Totals[i].Net, st.Totals[i].Currency) {
			t.Errorf("json total %d = %v", i, tt)
		}
	}

	// XLSX, with an independent reader.
	xf, err := xlsxreader.NewReader(x)
	if err != nil {
		t.Fatalf("xlsx: %v", err)
	}
	if len(xf.Sheets) == 0 || xf.Sheets[0] != st.Period {
		t.Fatalf("xlsx sheets %v, want %s first", xf.Sheets, st.Period)
	}
	var rows [][]xlsxreader.Cell
	for r := range xf.ReadRows(st.Period) {
		if r.Error != nil {
			t.Fatalf("xlsx row: %v", r.Error)
		}
		rows = append(rows, r.Cells)
	}
	if len(rows) != len(want)+1 {
		t.Fatalf("xlsx has %d rows, want %d", len(rows), len(want)+1)
	}
	header := csvHeader[metaColumns:]
	for _, c := range rows[0] {
		if k := c.ColumnIndex(); k >= len(header) || c.Value != header[k] {
			t.Errorf("xlsx header cell %s = %q", c.Column, c.Value)
		}
	}
	for i, cells := range rows[1:] {
		got := make([]xlsxreader.Cell, len(header))
		for _, c := range cells {
			got[c.ColumnIndex()] = c
		}
		for k, w := range want[i] {
			c := got[k]
			switch {
			case k >= 7 && k <= 14:
				if w == "" {
					if c.Value != "" {
						t.Errorf("xlsx row %d col %d = %q, want empty", i+2, k, c.Value)
					}
					continue
				}
				if c.Type != xlsxreader.TypeNumerical {
					t.Errorf("xlsx row %d col %d is %s, want a number", i+2, k, c.Type)
				}
				if !dec(t, c.Value).Equal(dec(t, w)) {
					t.Errorf("xlsx row %d col %d = %s, want %s", i+2, k, c.Value, w)
				}
			default:
				if c.Value != w {
					t.Errorf("xlsx row %d col %d = %q, want %q", i+2, k, c.Value, w)
				}
			}
		}
	}
	// Deterministic: the same statement writes the same bytes.
	_, _, x2 := exportAll(t, st)
	if !bytes.Equal(x, x2) {
		t.Error("two XLSX exports of one statement differ")
	}
}

func linesEqual(a, b Line) bool {
	return a.Partnership == b.Partnership && a.Partner == b.Partner && a.Country == b.Country &&
		a.Direction == b.Direction && a.Currency == b.Currency && a.TermsVersion == b.TermsVersion &&
		a.Kind == b.Kind && a.AdjustsPeriod == b.AdjustsPeriod && a.NewUsers == b.NewUsers &&
		a.Revenue.Equal(b.Revenue) && a.CPA.Equal(b.CPA) && a.RevShare.Equal(b.RevShare) &&
		a.WeOwe.Equal(b.WeOwe) && a.TheyOwe.Equal(b.TheyOwe) && a.Net.Equal(b.Net) && a.FXRates == b.FXRates
}

// TestLateEvent closes October, adds late October conversions and builds
// November (one adjustment line), closes November, adds more late events
// (October and November) and builds December: each late change is carried
// once, and the closed statements export byte for byte as when closed.
func TestLateEvent(t *testing.T) {
	ctx := testCtx(t)
	sc := loadScenario(t, ctx, "late_event")
	sc.insertPhase(t, ctx, "1")

	if _, err := Close(ctx, sc.src, "2026-12", "fin@example.com"); !errors.Is(err, ErrBadPeriod) {
		t.Fatalf("closing December before it ended: %v, want ErrBadPeriod", err)
	}
	if _, err := Close(ctx, sc.src, "2026-10", " "); !errors.Is(err, ErrBadActor) {
		t.Fatalf("closing without an actor: %v", err)
	}
	draft, err := Build(ctx, sc.src, "2026-10")
	if err != nil {
		t.Fatal(err)
	}
	oct, err := Close(ctx, sc.src, "2026-10", "fin@example.com")
	if err != nil {
		t.Fatalf("Close(2026-10): %v", err)
	}
	if oct.Status != StatusClosed || oct.ClosedBy != "fin@example.com" || !oct.ClosedAt.Equal(testNow) ||
		oct.Hash != draft.Hash || oct.ID != "st_2026-10_"+oct.Hash[:12] {
		t.Fatalf("closed October: %+v (draft hash %s)", oct, draft.Hash)
	}
	if got := oct.FileName("csv"); got != "xpromo-statement-2026-10-"+oct.Hash[:12]+".csv" {
		t.Errorf("FileName = %s", got)
	}
	_, err = Close(ctx, sc.src, "2026-10", "ops@example.com")
	if ce, ok := errors.AsType[*ClosedError](err); !ok || !errors.Is(err, ErrClosed) || *ce != (ClosedError{"2026-10", oct.ID, "fin@example.com", testNow}) ||
		err.Error() != "2026-10 is already closed: statement "+oct.ID+", closed at 2026-12-15T10:00:00Z by fin@example.com" {
		t.Fatalf("second Close: %v, want a ClosedError naming the first", err)
	}
	octC, octJ, octX := exportAll(t, oct)
	checkExports(t, oct)

	// Read back: the same bytes.
	again, err := Build(ctx, sc.src, "2026-10")
	if err != nil {
		t.Fatal(err)
	}
	c, j, x := exportAll(t, again)
	if !bytes.Equal(c, octC) || !bytes.Equal(j, octJ) || !bytes.Equal(x, octX) {
		t.Fatal("closed October read back exports differently")
	}

	sc.insertPhase(t, ctx, "2")
	nov, err := Build(ctx, sc.src, "2026-11")
	if err != nil {
		t.Fatal(err)
	}
	if nov.Status != StatusDraft {
		t.Fatalf("November is %s", nov.Status)
	}
	checkExpected(t, sc, nov)
	checkExports(t, nov)
	if _, err := Close(ctx, sc.src, "2026-11", "fin@example.com"); err != nil {
		t.Fatal(err)
	}

	sc.insertPhase(t, ctx, "3")
	for _, p := range []string{"2026-10", "2026-11", "2026-12"} {
		st, err := Build(ctx, sc.src, p)
		if err != nil {
			t.Fatal(err)
		}
		checkExpected(t, sc, st)
		checkTotals(t, st)
		if p == "2026-10" {
			c, j, x := exportAll(t, st)
			if !bytes.Equal(c, octC) || !bytes.Equal(j, octJ) || !bytes.Equal(x, octX) {
				t.Error("October's exports changed after late events")
			}
		}
		if p == "2026-12" {
			checkExports(t, st)
		}
	}
	// Recomputed now, October differs from its closed statement; the
	// statement itself does not.
	now, err := computeLines(ctx, sc.src, "2026-10")
	if err != nil {
		t.Fatal(err)
	}
	if now[0].NewUsers != 4 {
		t.Errorf("October recomputed has %d new users, want 4", now[0].NewUsers)
	}
}

// TestClosedIntegrity: a closed statement cannot be changed or deleted,
// nor stored twice; one whose lines no longer match its hash (changed by
// hand, past the database's refusal) is refused rather than shown.
func TestClosedIntegrity(t *testing.T) {
	ctx := testCtx(t)
	sc := loadScenario(t, ctx, "cpa_only")
	sc.insertPhase(t, ctx, "1")
	st, err := Close(ctx, sc.src, "2026-10", "fin")
	if err != nil {
		t.Fatal(err)
	}
	pg := sc.src.PG
	for _, q := range []string{`UPDATE statements SET closed_by = 'mallory'`, `DELETE FROM statements`} {
		if _, err := pg.Exec(ctx, q); err == nil || !strings.Contains(err.Error(), "is closed and cannot be changed") {
			t.Errorf("%s: %v, want refused", q, err)
		}
	}
	// A second statement of the period, stored past Close's lock, is
	// refused by the key and answered with the one stored.
	second := *st
	second.ClosedBy, second.Hash, second.ID = "other", strings.Repeat("b", 64), "st_2026-10_bbbbbbbbbbbb"
	err = pgx.BeginFunc(ctx, pg, func(tx pgx.Tx) error { return insertStatement(ctx, tx, &second, []byte("[]")) })
	if ce, ok := errors.AsType[*ClosedError](err); !ok || ce.ID != st.ID || ce.ClosedBy != "fin" {
		t.Fatalf("inserting a second statement of 2026-10: %v, want a ClosedError naming %s", err, st.ID)
	}

	tampered := append([]Line{}, st.Lines...)
	tampered[0].CPA = tampered[0].CPA.Add(decimal.NewFromInt(1))
	canon, err := canonicalLines(tampered)
	if err != nil {
		t.Fatal(err)
	}
	if err := pgx.BeginFunc(ctx, pg, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `ALTER TABLE statements DISABLE TRIGGER statements_immutable`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE statements SET lines = $1 WHERE period = '2026-10'`, string(canon))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := Build(ctx, sc.src, "2026-10"); err == nil || !strings.Contains(err.Error(), "hash") {
		t.Fatalf("Build of a tampered statement: %v", err)
	}
}

// TestCloseRace: two processes (two pools) close the same month at once;
// one statement is stored, and the other close gets a ClosedError naming
// it.
func TestCloseRace(t *testing.T) {
	ctx := testCtx(t)
	sc := loadScenario(t, ctx, "late_event")
	sc.insertPhase(t, ctx, "1")
	url := pgURLOf(t, ctx, sc.src.PG)
	type result struct {
		st  *Statement
		err error
	}
	results := make(chan result, 2)
	start := make(chan struct{})
	for i := range 2 {
		pool, err := pgdb.Open(ctx, url, false)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		src := sc.src
		src.PG = pool
		go func() {
			<-start
			st, err := Close(ctx, src, "2026-10", fmt.Sprintf("fin%d@example.com", i))
			results <- result{st, err}
		}()
	}
	close(start)
	var won *Statement
	var lost []error
	for range 2 {
		r := <-results
		switch {
		case r.err == nil:
			won = r.st
		case errors.Is(r.err, ErrClosed):
			lost = append(lost, r.err)
		default:
			t.Fatalf("Close: %v", r.err)
		}
	}
	if won == nil || len(lost) != 1 {
		t.Fatalf("%v won and %d lost (%v); want one each", won, len(lost), lost)
	}
	if ce, ok := errors.AsType[*ClosedError](lost[0]); !ok || ce.ID != won.ID || ce.ClosedBy != won.ClosedBy || !ce.ClosedAt.Equal(won.ClosedAt) {
		t.Errorf("the loser's error %v does not name the winner %s by %s", lost[0], won.ID, won.ClosedBy)
	}
	var n int
	if err := sc.src.PG.QueryRow(ctx, `SELECT count(*) FROM statements WHERE period = '2026-10'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d statements of 2026-10 (%v), want 1", n, err)
	}
}

// pgURLOf is the URL of pool's database, for a second pool on it.
func pgURLOf(t *testing.T, ctx context.Context, pool *pgxpool.Pool) string {
	t.Helper()
	var name string
	if err := pool.QueryRow(ctx, `SELECT current_database()`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(testenv.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func TestScoped(t *testing.T) {
	st := &Statement{ID: "st_x", Period: "2026-10", Status: StatusClosed, Hash: strings.Repeat("a", 64), Lines: []Line{
		{Partnership: "a-de", Partner: "a", Country: "DE", Direction: vocab.Inbound, Currency: "EUR", Kind: KindRegular, Figures: Figures{NewUsers: 1, CPA: decimal.RequireFromString("1.50"), WeOwe: decimal.RequireFromString("1.50"), Net: decimal.RequireFromString("-1.50")}},
		{Partnership: "a-fr", Partner: "a", Country: "FR", Direction: vocab.Inbound, Currency: "EUR", Kind: KindRegular, Figures: Figures{NewUsers: 2}},
		{Partnership: "b-de", Partner: "b", Country: "DE", Direction: vocab.Outbound, Currency: "JPY", Kind: KindRegular, Figures: Figures{NewUsers: 3}},
	}}
	st.Totals = totals(st.Lines)
	got := st.Scoped([]string{"DE"}, "")
	if len(got.Lines) != 2 || len(got.Totals) != 2 || got.Totals[0].NewUsers != 1 || got.Hash != st.Hash || got.ID != st.ID {
		t.Errorf("Scoped(DE) = %+v", got)
	}
	got = st.Scoped(nil, "a")
	if len(got.Lines) != 2 || len(got.Totals) != 1 || got.Totals[0].NewUsers != 3 || !got.Totals[0].Net.Equal(decimal.RequireFromString("-1.5")) {
		t.Errorf("Scoped(nil, a) = %+v", got)
	}
	if got := st.Scoped([]string{}, ""); len(got.Lines) != 0 || len(got.Totals) != 0 {
		t.Errorf("Scoped(none) = %+v", got)
	}
	if len(st.Lines) != 3 {
		t.Error("Scoped changed the statement")
	}
	if got := (&Statement{Period: "2026-11", Status: StatusDraft, Hash: "abc"}).FileName("XLSX"); got != "xpromo-statement-2026-11-draft.xlsx" {
		t.Errorf("draft FileName = %s", got)
	}
}

func TestRound(t *testing.T) {
	for _, c := range []struct{ in, cur, want string }{
		{"2.345", "EUR", "2.34"}, {"2.355", "EUR", "2.36"}, {"-2.345", "EUR", "-2.34"}, {"2.3451", "EUR", "2.35"},
		{"0.5", "JPY", "0"}, {"1.5", "JPY", "2"}, {"451.5", "JPY", "452"},
		{"1.2345", "KWD", "1.234"}, {"1.2355", "KWD", "1.236"}, {"10", "USD", "10"},
	} {
		got, err := Round(decimal.RequireFromString(c.in), c.cur)
		if err != nil {
			t.Fatal(err)
		}
		if fixed(got, c.cur) != fixedWant(c.want, c.cur) {
			t.Errorf("Round(%s %s) = %s, want %s", c.in, c.cur, fixed(got, c.cur), c.want)
		}
	}
	for cur, want := range map[string]int32{"EUR": 2, "JPY": 0, "KWD": 3, "USD": 2} {
		if got, err := MinorUnit(cur); err != nil || got != want {
			t.Errorf("MinorUnit(%s) = %d, %v", cur, got, err)
		}
	}
	if _, err := MinorUnit("ZZZ"); err == nil {
		t.Error("MinorUnit(ZZZ) accepted")
	}
}

func fixedWant(s, cur string) string { return fixed(decimal.RequireFromString(s), cur) }

func TestBadPeriod(t *testing.T) {
	var src Source
	for _, p := range []string{"", "2026-13", "2026-00", "2026-1", "26-10", "2026-10-01", "1999-12"} {
		if _, err := Build(context.Background(), src, p); !errors.Is(err, ErrBadPeriod) {
			t.Errorf("Build(%q): %v, want ErrBadPeriod", p, err)
		}
		if _, err := Close(context.Background(), src, p, "x"); !errors.Is(err, ErrBadPeriod) {
			t.Errorf("Close(%q): %v, want ErrBadPeriod", p, err)
		}
	}
}

// TestMissingTerms: an attribution naming a terms version the catalog does
// not hold fails the statement rather than pricing it at zero.
func TestMissingTerms(t *testing.T) {
	ctx := testCtx(t)
	sc := loadScenario(t, ctx, "cpa_only")
	sc.attrs = []map[string]string{{"phase": "1", "conversion": "x1", "ts": "2026-10-05 10:00:00", "type": "signup",
		"outcome": "new_user", "partnership": "acme-de", "direction": "inbound", "terms_version": "7", "revenue": "0", "currency": "", "version": "1"}}
	sc.insertPhase(t, ctx, "1")
	if _, err := Build(ctx, sc.src, "2026-10"); !errors.Is(err, ErrNoTerms) {
		t.Fatalf("Build: %v, want ErrNoTerms", err)
	}
}

// TestOutOfOrderClose: a late October change carried by a closed December
// is not carried again by November, closed after it.
func TestOutOfOrderClose(t *testing.T) {
	ctx := testCtx(t)
	sc := loadScenario(t, ctx, "late_event")
	sc.src.Now = func() time.Time { return time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC) }
	sc.insertPhase(t, ctx, "1")
	if _, err := Close(ctx, sc.src, "2026-10", "fin"); err != nil {
		t.Fatal(err)
	}
	sc.insertPhase(t, ctx, "2") // a late October new user, a November one
	dec, err := Close(ctx, sc.src, "2026-12", "fin")
	if err != nil {
		t.Fatal(err)
	}
	var adj []Line
	for _, l := range dec.Lines {
		if l.Kind == KindAdjustment {
			adj = append(adj, l)
		}
	}
	if len(adj) != 1 || adj[0].AdjustsPeriod != "2026-10" || adj[0].NewUsers != 1 {
		t.Fatalf("December adjustments %+v, want one for 2026-10 with 1 new user", adj)
	}
	nov, err := Close(ctx, sc.src, "2026-11", "fin")
	if err != nil {
		t.Fatal(err)
	}
	if len(nov.Lines) != 1 || nov.Lines[0].Kind != KindRegular || nov.Lines[0].NewUsers != 1 {
		t.Fatalf("November lines %+v, want only its regular line", nov.Lines)
	}
	jan, err := Build(ctx, sc.src, "2027-01")
	if err != nil {
		t.Fatal(err)
	}
	if len(jan.Lines) != 0 {
		t.Fatalf("January lines %+v, want none", jan.Lines)
	}
}
