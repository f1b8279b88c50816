// Package privacy erases a person's events on request (GDPR article 17)
// and drops raw hits older than their retention. See docs/PRIVACY.md for
// what is stored, hashed and for how long.
package privacy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/redis/go-redis/v9"

	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/lib/chdb"
	"github.com/xpromo/xpromo/reports"
	"github.com/xpromo/xpromo/tracker/conversion"
)

// SQL of erasure. Lists bind as array literals (has(?, col)): mutations
// on 18.16 take no subqueries, and literals keep them independent of data
// the mutation itself deletes.
const (
	selectConversions = `SELECT id, source, toString(type), user_id, order_id, click_id, visitor FROM conversions WHERE %s`
	selectAttributed  = `SELECT DISTINCT click FROM attributions WHERE has(?, conversion) AND click != ''`
	selectClickVisits = `SELECT DISTINCT visitor FROM hits WHERE has(?, id) AND visitor != ''`
	selectHitMonths   = `SELECT toYYYYMM(ts) AS m, count() FROM hits WHERE %s GROUP BY m ORDER BY m`
	countWhere        = `SELECT count() FROM %s WHERE %s`
	selectRejected    = `SELECT id, query FROM rejected_hits WHERE position(query, 'uid=') > 0`
	deleteWhere       = `ALTER TABLE %s DELETE WHERE %s`
	updateWhere       = `ALTER TABLE %s UPDATE %s WHERE %s`
	selectReattribute = `SELECT count(), min(ts), max(ts) FROM attributions WHERE (%s) AND NOT has(?, conversion)`
	pendingMutations  = `SELECT count() FROM system.mutations WHERE database = currentDatabase() AND has(?, table) AND is_done = 0`
)

// MaxID bounds a user or visitor id (as the tracker does).
const MaxID = 128

// Subject names the person to erase: our product's user id (in Source,
// default vocab.SourceOurs) or a visitor id (the xp_vid cookie).
type Subject struct {
	UserID  string
	Source  string
	Visitor string
}

func (s *Subject) validate() error {
	if (s.UserID == "") == (s.Visitor == "") {
		return errors.New("name exactly one of a user id and a visitor id")
	}
	for _, v := range []string{s.UserID, s.Visitor, s.Source} {
		if len(v) > MaxID || !utf8.ValidString(v) {
			return fmt.Errorf("id %q: at most %d bytes of UTF-8", v, MaxID)
		}
	}
	if s.UserID != "" && s.Source == "" {
		s.Source = vocab.SourceOurs
	}
	return nil
}

// Plan is what an erasure covers, found before anything is deleted.
type Plan struct {
	Subject     Subject
	Visitors    []string          // the person's browsers (visitor ids)
	Clicks      []string          // clicks named by the person's conversions
	HitClicks   []string          // ids of the person's stored clicks
	Conversions []string          // conversion ids
	Rejected    []string          // rejected hits naming the user
	Rows        map[string]uint64 // rows per table
	Months      []uint32          // hits_hourly partitions (YYYYMM) to rebuild
	RedisKeys   []string          // dedup keys naming the person's signups and orders
	// Other people's conversions credited to the person's clicks happened
	// in [ReattributeFrom, ReattributeTo): attributed again after.
	ReattributeFrom, ReattributeTo time.Time
}

// Empty reports whether there is nothing to erase.
func (p *Plan) Empty() bool {
	for _, n := range p.Rows {
		if n > 0 {
			return false
		}
	}
	return len(p.RedisKeys) == 0
}

// Tables holding a person's events.
var Tables = []string{"conversions", "hits", "attributions", "rejected_hits"}

// Eraser erases people's events.
type Eraser struct {
	Conn      driver.Conn
	Redis     *redis.Client // nil: dedup keys are left alone
	KeyPrefix string
	Log       *slog.Logger
	Poll      time.Duration // how often mutations are checked; default 100ms
	// Reattribute recomputes the attribution of conversions in [from, to)
	// (attribution.Job.Run); nil leaves it to serve's next run, which only
	// covers the open months.
	Reattribute func(ctx context.Context, from, to time.Time) error
	Rounds      int // erase-and-check rounds before giving up; default 3
}

func (e *Eraser) defaults() {
	if e.Log == nil {
		e.Log = slog.New(slog.DiscardHandler)
	}
	if e.Poll <= 0 {
		e.Poll = 100 * time.Millisecond
	}
	if e.Rounds <= 0 {
		e.Rounds = 3
	}
}

// clause is one "has(?, col)" condition and its array.
type clause struct {
	col  string
	vals []string
}

// where joins the non-empty clauses with OR; ok is false when all are
// empty (nothing matches).
func where(cs ...clause) (string, []any, bool) {
	var parts []string
	var args []any
	for _, c := range cs {
		if len(c.vals) == 0 {
			continue
		}
		parts = append(parts, "has(?, "+c.col+")")
		args = append(args, c.vals)
	}
	return strings.Join(parts, " OR "), args, len(parts) > 0
}

type convRow struct{ id, source, typ, user, order, click, visitor string }

func (e *Eraser) conversions(ctx context.Context, cond string, args ...any) ([]convRow, error) {
	return chdb.Collect(ctx, e.Conn, fmt.Sprintf(selectConversions, cond), args, func(rows driver.Rows) (r convRow, err error) {
		return r, rows.Scan(&r.id, &r.source, &r.typ, &r.user, &r.order, &r.click, &r.visitor)
	})
}

func (e *Eraser) strings(ctx context.Context, q string, args ...any) ([]string, error) {
	return chdb.Collect(ctx, e.Conn, q, args, func(rows driver.Rows) (s string, err error) {
		return s, rows.Scan(&s)
	})
}

func addAll(set map[string]bool, vs ...string) {
	for _, v := range vs {
		if v != "" {
			set[v] = true
		}
	}
}

func sorted(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Plan finds what erasing s covers. For a visitor: every hit with that
// visitor id and every conversion reported from that browser. For a user:
// their conversions (in s.Source); the browsers those conversions came
// from or whose clicks they name or were credited to; every hit of those
// browsers and their conversions that name no user (another user's
// conversion on a shared browser is theirs, not this person's); rejected
// hits whose query names the user. Always the attributions of every
// erased conversion and the Redis dedup keys naming them.
func (e *Eraser) Plan(ctx context.Context, s Subject) (*Plan, error) {
	const op = "erase: plan"
	e.defaults()
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	p := &Plan{Subject: s, Rows: map[string]uint64{}}
	convs := map[string]convRow{}
	visitors, clicks := map[string]bool{}, map[string]bool{}
	if s.Visitor != "" {
		visitors[s.Visitor] = true
	} else {
		own, err := e.conversions(ctx, "source = ? AND user_id = ?", s.Source, s.UserID)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		ids := map[string]bool{}
		for _, c := range own {
			convs[c.id] = c
			addAll(ids, c.id)
			addAll(visitors, c.visitor)
			addAll(clicks, c.click)
		}
		if len(ids) > 0 {
			credited, err := e.strings(ctx, selectAttributed, sorted(ids))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", op, err)
			}
			addAll(clicks, credited...)
		}
		if len(clicks) > 0 {
			vs, err := e.strings(ctx, selectClickVisits, sorted(clicks))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", op, err)
			}
			addAll(visitors, vs...)
		}
	}
	p.Visitors, p.Clicks = sorted(visitors), sorted(clicks)
	if len(p.Visitors) > 0 {
		cond := "has(?, visitor)"
		if s.UserID != "" {
			cond += " AND user_id = ''"
		}
		more, err := e.conversions(ctx, cond, p.Visitors)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		for _, c := range more {
			convs[c.id] = c
		}
	}
	keys := map[string]bool{}
	for id, c := range convs {
		p.Conversions = append(p.Conversions, id)
		if c.typ == vocab.TypeSignup && c.user != "" || c.typ != vocab.TypeSignup && c.order != "" {
			keys[conversion.DedupKey(e.KeyPrefix, c.source, c.typ, c.user, c.order)] = true
		}
	}
	sort.Strings(p.Conversions)
	if s.UserID != "" {
		keys[conversion.DedupKey(e.KeyPrefix, s.Source, vocab.TypeSignup, s.UserID, "")] = true
		rej, err := e.rejected(ctx, s.UserID)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		p.Rejected = rej
	}
	if err := e.count(ctx, p); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if e.Redis != nil && len(keys) > 0 {
		for _, k := range sorted(keys) {
			n, err := e.Redis.Exists(ctx, k).Result()
			if err != nil {
				return nil, fmt.Errorf("%s: redis: %w", op, err)
			}
			if n > 0 {
				p.RedisKeys = append(p.RedisKeys, k)
			}
		}
	}
	return p, nil
}

// rejected returns the ids of rejected hits whose query has uid=user.
func (e *Eraser) rejected(ctx context.Context, user string) ([]string, error) {
	rows, err := e.Conn.Query(ctx, selectRejected)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, q string
		if err := rows.Scan(&id, &q); err != nil {
			return nil, err
		}
		v, err := url.ParseQuery(q)
		// A query that did not parse (why it was rejected) is matched as text.
		if slices.Contains(v["uid"], user) || err != nil && (strings.Contains(q, "uid="+user) || strings.Contains(q, "uid="+url.QueryEscape(user))) {
			out = append(out, id)
		}
	}
	return out, rows.Err()
}

// Keys of Plan.Rows besides the tables: conversions of other users on the
// person's browsers, kept with their visitor id cleared.
const ClearedVisitors = "conversions_visitor_cleared"

// op is one mutation of an erasure and the rows it touches.
type op struct {
	key, table string
	update     string // "" deletes
	where      func(p *Plan) (string, []any, bool)
}

// ops are the mutations of an erasure, in order: conversions first, so an
// attribution run in between finds nothing to attribute again.
var ops = []op{
	{"conversions", "conversions", "", func(p *Plan) (string, []any, bool) { return where(clause{"id", p.Conversions}) }},
	// Another user's conversion on the person's browser is theirs: kept,
	// without the browser's id.
	{ClearedVisitors, "conversions", "visitor = ''", func(p *Plan) (string, []any, bool) {
		w, args, ok := where(clause{"visitor", p.Visitors})
		if ok && len(p.Conversions) > 0 {
			w, args = "("+w+") AND NOT has(?, id)", append(args, p.Conversions)
		}
		return w, args, ok
	}},
	{"hits", "hits", "", func(p *Plan) (string, []any, bool) {
		return where(clause{"visitor", p.Visitors}, clause{"id", p.Clicks})
	}},
	// Attributions of the person's conversions, and any naming one of the
	// person's clicks (another user's conversion credited to it: it is
	// attributed again without it).
	{"attributions", "attributions", "", func(p *Plan) (string, []any, bool) {
		w, args, ok := where(clause{"conversion", p.Conversions}, clause{"click", p.HitClicks})
		if p.Subject.UserID != "" {
			// Attributions outliving their conversion still name the user.
			if ok {
				w = "(" + w + ") OR "
			}
			w += "(source = ? AND user_id = ?)"
			args, ok = append(args, p.Subject.Source, p.Subject.UserID), true
		}
		return w, args, ok
	}},
	{"rejected_hits", "rejected_hits", "", func(p *Plan) (string, []any, bool) { return where(clause{"id", p.Rejected}) }},
}

// Keys are the keys of Plan.Rows and Result.Rows, in erasure order.
func Keys() []string {
	out := make([]string, len(ops))
	for i, o := range ops {
		out[i] = o.key
	}
	return out
}

// count fills p.Rows, p.Months and p.HitClicks.
func (e *Eraser) count(ctx context.Context, p *Plan) error {
	p.Months = nil
	if w, args, ok := where(clause{"visitor", p.Visitors}, clause{"id", p.Clicks}); ok {
		clicks, err := e.strings(ctx, "SELECT id FROM hits WHERE kind = 'click' AND ("+w+")", args...)
		if err != nil {
			return err
		}
		p.HitClicks = mergeSorted(p.HitClicks, clicks)
	}
	for _, o := range ops {
		w, args, ok := o.where(p)
		if !ok {
			p.Rows[o.key] = 0
			continue
		}
		if o.table == "hits" {
			rows, err := e.Conn.Query(ctx, fmt.Sprintf(selectHitMonths, w), args...)
			if err != nil {
				return err
			}
			var total uint64
			for rows.Next() {
				var m uint32
				var n uint64
				if err := rows.Scan(&m, &n); err != nil {
					rows.Close()
					return err
				}
				p.Months, total = append(p.Months, m), total+n
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			p.Rows[o.key] = total
			continue
		}
		var n uint64
		if err := e.Conn.QueryRow(ctx, fmt.Sprintf(countWhere, o.table, w), args...).Scan(&n); err != nil {
			return err
		}
		p.Rows[o.key] = n
	}
	if w, args, ok := where(clause{"click", p.HitClicks}); ok {
		// Other people's conversions credited to the person's clicks.
		var n uint64
		var from, to time.Time
		args = append(args, p.Conversions)
		if len(p.Conversions) == 0 {
			args[len(args)-1] = []string{""}
		}
		if err := e.Conn.QueryRow(ctx, fmt.Sprintf(selectReattribute, w), args...).Scan(&n, &from, &to); err != nil {
			return err
		}
		if n > 0 {
			p.ReattributeFrom, p.ReattributeTo = from.UTC(), to.UTC().Add(time.Second)
		}
	}
	return nil
}

func mergeSorted(a, b []string) []string {
	set := map[string]bool{}
	addAll(set, a...)
	addAll(set, b...)
	return sorted(set)
}

// Result is what Erase did.
type Result struct {
	Rows      map[string]uint64 // rows deleted (or cleared) per Plan.Rows key
	Months    []uint32          // rollup partitions rebuilt
	RedisKeys int               // dedup keys deleted
	Rounds    int
	Took      time.Duration
}

// Erase deletes what p covers: an ALTER TABLE ... DELETE mutation per
// table, waited for (18.16 has no mutations_sync: system.mutations is
// polled); other people's conversions credited to the person's clicks
// are attributed again (Reattribute); the months of hits_hourly that held
// the person's hits are rebuilt from the remaining hits, so reports agree;
// the dedup keys are deleted. Rows written meanwhile (a hit still in
// flight, an attribution run) are caught by counting again: up to Rounds
// rounds.
func (e *Eraser) Erase(ctx context.Context, p *Plan) (*Result, error) {
	const op = "erase"
	e.defaults()
	start := time.Now()
	res := &Result{Rows: map[string]uint64{}}
	months := map[uint32]bool{}
	var reFrom, reTo time.Time
	for round := 1; ; round++ {
		res.Rounds = round
		for _, m := range p.Months {
			months[m] = true
		}
		if !p.ReattributeFrom.IsZero() {
			if reFrom.IsZero() || p.ReattributeFrom.Before(reFrom) {
				reFrom = p.ReattributeFrom
			}
			if p.ReattributeTo.After(reTo) {
				reTo = p.ReattributeTo
			}
		}
		for _, o := range ops {
			if p.Rows[o.key] == 0 {
				continue
			}
			w, args, _ := o.where(p)
			q := fmt.Sprintf(deleteWhere, o.table, w)
			if o.update != "" {
				q = fmt.Sprintf(updateWhere, o.table, o.update, w)
			}
			if err := e.Conn.Exec(ctx, q, args...); err != nil {
				return res, fmt.Errorf("%s: %s: %w", op, o.key, err)
			}
			res.Rows[o.key] += p.Rows[o.key]
			// A mutation sees the data as it was when it was made: wait
			// for each, so the next one's condition holds on what is left.
			if err := e.waitMutations(ctx, []string{o.table}); err != nil {
				return res, fmt.Errorf("%s: %w", op, err)
			}
		}
		if !reFrom.IsZero() && e.Reattribute != nil {
			if err := e.Reattribute(ctx, reFrom, reTo); err != nil {
				return res, fmt.Errorf("%s: attribute again: %w", op, err)
			}
		}
		p.ReattributeFrom, p.ReattributeTo = time.Time{}, time.Time{}
		if err := e.count(ctx, p); err != nil {
			return res, fmt.Errorf("%s: check: %w", op, err)
		}
		left := false
		for _, n := range p.Rows {
			left = left || n > 0
		}
		if !left {
			break
		}
		if round >= e.Rounds {
			return res, fmt.Errorf("%s: rows still present after %d rounds: %v", op, round, p.Rows)
		}
		e.Log.Info("erase: rows written meanwhile; another round", "rows", p.Rows)
	}
	for m := range months {
		res.Months = append(res.Months, m)
	}
	slices.Sort(res.Months)
	if err := reports.RebuildRollupMonths(ctx, e.Conn, res.Months); err != nil {
		return res, fmt.Errorf("%s: %w", op, err)
	}
	if e.Redis != nil && len(p.RedisKeys) > 0 {
		n, err := e.Redis.Del(ctx, p.RedisKeys...).Result()
		if err != nil {
			return res, fmt.Errorf("%s: redis: %w", op, err)
		}
		res.RedisKeys = int(n)
	}
	res.Took = time.Since(start)
	return res, nil
}

// waitMutations returns once no mutation of tables is left undone.
func (e *Eraser) waitMutations(ctx context.Context, tables []string) error {
	return WaitMutations(ctx, e.Conn, tables, e.Poll)
}

// WaitMutations polls system.mutations until no mutation of tables in
// the current database is undone, or ctx ends.
func WaitMutations(ctx context.Context, conn driver.Conn, tables []string, poll time.Duration) error {
	for {
		var n uint64
		if err := conn.QueryRow(ctx, pendingMutations, tables).Scan(&n); err != nil {
			return fmt.Errorf("wait for mutations: %w", err)
		}
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for mutations: %d undone: %w", n, ctx.Err())
		case <-time.After(poll):
		}
	}
}

// Summary is the plan's counts in one line.
func (p *Plan) Summary() string {
	var b strings.Builder
	for i, o := range ops {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(o.key + " " + strconv.FormatUint(p.Rows[o.key], 10))
	}
	fmt.Fprintf(&b, "; %d visitor id(s), %d conversion(s), %d redis key(s), rollup months %v", len(p.Visitors), len(p.Conversions), len(p.RedisKeys), p.Months)
	return b.String()
}
