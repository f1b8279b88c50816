package gen

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/attribution"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/fx"
	"github.com/xpromo/xpromo/lib/chdb"
	"github.com/xpromo/xpromo/schema"
)

// batch is one insert's rows.
type batch struct {
	hits  *hitRows
	convs []convRow
}

// constCols are the columns that are the same for every click and view,
// made once at the batch size and sliced.
type constCols struct {
	empty  []string
	zero   []decimal.Decimal
	zeroU8 []uint8
}

func newConstCols(n int) *constCols {
	c := &constCols{empty: make([]string, n), zero: make([]decimal.Decimal, n), zeroU8: make([]uint8, n)}
	for i := range c.zero {
		c.zero[i] = decimal.Zero
	}
	return c
}

// hitColumns returns h's columns in the order of schema.Hits (the
// ingester's columns; sub_id stays empty).
func (c *constCols) hitColumns(h *hitRows) []any {
	n := h.len()
	e := c.empty[:n]
	return []any{h.id, h.ts, h.kind, h.link, h.partner, h.partnership, h.dir, h.campaign,
		h.country, h.visitor, h.ref, h.device, h.bot, e, e, e, c.zero[:n], e, h.ingested, c.zeroU8[:n], h.fp, e}
}

// convColumns returns cs's columns in the order of schema.Conversions.
func convColumns(cs []convRow) []any {
	n := len(cs)
	var (
		id, source, user, order, click = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		visitor, fp, cur, link         = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		partner, partnership, country  = make([]string, n), make([]string, n), make([]string, n)
		ts, received, ingested         = make([]int64, n), make([]int64, n), make([]int64, n)
		typ                            = make([]int8, n)
		existing, duplicate            = make([]uint8, n), make([]uint8, n)
		amount                         = make([]decimal.Decimal, n)
	)
	for i := range cs {
		c := &cs[i]
		id[i], ts[i], received[i], typ[i], source[i], user[i], order[i], click[i] = c.id, c.ts, c.received, c.typ, c.source, c.user, c.order, c.click
		visitor[i], fp[i], existing[i], duplicate[i], amount[i], cur[i] = c.visitor, c.fp, c.existing, c.duplicate, decimal.New(c.cents, -2), c.currency
		partner[i], country[i], ingested[i] = c.partner, c.country, c.ingested
	}
	return []any{id, ts, received, typ, source, user, order, click, visitor, fp, existing, duplicate, amount, cur, link, partner, partnership, country, ingested}
}

// writeTraffic generates the units on cfg.Workers goroutines, assembles
// their rows in time order into batches of cfg.Batch rows and inserts them
// on one more goroutine, so generation and inserts overlap. Batches hold
// consecutive days, so an insert touches one or two monthly partitions.
// Memory holds at most 2*Workers units and three batches.
func (p *plan) writeTraffic(ctx context.Context, conn driver.Conn, pr *progress) (stats, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	units := p.units()
	type job struct {
		u   unit
		out chan *unitOut
	}
	var (
		wg   sync.WaitGroup
		jobs = make(chan job)
		ord  = make(chan chan *unitOut, 2*p.cfg.Workers)
		pool = sync.Pool{New: func() any { return new(unitOut) }}
	)
	for range p.cfg.Workers {
		wg.Go(func() {
			for j := range jobs {
				o := pool.Get().(*unitOut)
				p.gen(j.u, o)
				j.out <- o
			}
		})
	}
	wg.Go(func() {
		defer close(ord)
		defer close(jobs)
		for _, u := range units {
			out := make(chan *unitOut, 1)
			select {
			case ord <- out:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- job{u, out}:
			case <-ctx.Done():
				return
			}
		}
	})

	// Senders insert batches (Inserts at once: one insert keeps a
	// ClickHouse core busy); free returns their row buffers. A failed
	// insert cancels ctx with its error at once, yet its sender keeps
	// draining send, which flush feeds without watching ctx: an errgroup,
	// whose goroutine must return to cancel, would block flush.
	send := make(chan batch)
	free := make(chan *hitRows, p.cfg.Inserts+1)
	for range p.cfg.Inserts + 1 {
		free <- &hitRows{}
	}
	consts := newConstCols(p.cfg.Batch)
	var senders sync.WaitGroup
	for range p.cfg.Inserts {
		senders.Go(func() {
			for b := range send {
				if ctx.Err() == nil {
					var err error
					if b.hits != nil {
						err = chdb.InsertColumns(ctx, conn, schema.Hits.Insert(), consts.hitColumns(b.hits))
						if err == nil {
							pr.hits.Add(int64(b.hits.len()))
						}
					} else {
						err = chdb.InsertColumns(ctx, conn, schema.Conversions.Insert(), convColumns(b.convs))
						if err == nil {
							pr.convs.Add(int64(len(b.convs)))
						}
					}
					if err != nil {
						cancel(err)
					}
				}
				if b.hits != nil {
					b.hits.reset()
					free <- b.hits
				}
			}
		})
	}

	var st stats
	cur := <-free
	var convs []convRow
	flush := func(final bool) {
		if cur.len() > 0 && (final || cur.len() >= p.cfg.Batch) {
			send <- batch{hits: cur}
			cur = <-free
		}
		if len(convs) > 0 && (final || len(convs) >= p.cfg.Batch) {
			send <- batch{convs: convs}
			convs = nil
		}
	}
assemble:
	for out := range ord {
		var o *unitOut
		select {
		case o = <-out:
		case <-ctx.Done():
			break assemble
		}
		st.add(o.stats)
		for from := 0; from < o.hits.len(); {
			to := min(o.hits.len(), from+p.cfg.Batch-cur.len())
			cur.appendRange(&o.hits, from, to)
			from = to
			flush(false)
		}
		convs = append(convs, o.convs...)
		flush(false)
		pool.Put(o)
	}
	if ctx.Err() == nil {
		flush(true)
	}
	close(send)
	senders.Wait()
	var err error
	if ctx.Err() != nil {
		err = context.Cause(ctx)
	}
	cancel(nil)
	for range ord { // the dispatcher stops at the cancellation; its units are buffered
	}
	wg.Wait()
	return st, err
}

// attribute runs the attribution job over the generated period in runs
// of AttributeChunk days (default attributeRun). A run reads its
// conversions plus the lookback before it (the longest attribution or
// revenue window of any terms, at least 365 days) and the clicks they can
// reach, so a run of up to 365 days reads nothing twice; monthly runs
// would each re-read the year before them (measured 4x slower at 100M
// hits, the same results).
func attribute(ctx context.Context, conn driver.Conn, cat *catalog.Store, p *plan, pr *progress) (int64, int64, error) {
	job := attribution.NewJob(conn, cat, fx.NewStore(cat.DB()), slog.New(slog.DiscardHandler))
	chunk := p.cfg.AttributeChunk
	if chunk <= 0 {
		chunk = attributeRun
	}
	var total, unconverted int64
	for from := p.start; from.Before(p.end); {
		to := from.AddDate(0, 0, chunk)
		if to.After(p.end) {
			to = p.end
		}
		t := time.Now()
		s, err := job.Run(ctx, from, to)
		if err != nil {
			return total, unconverted, err
		}
		total += int64(s.Conversions)
		unconverted += int64(s.Unconverted)
		pr.logf("attributed %s..%s: %d conversions, %d candidate clicks in %.1fs", from.Format(time.DateOnly),
			to.AddDate(0, 0, -1).Format(time.DateOnly), s.Conversions, s.Clicks, time.Since(t).Seconds())
		from = to
	}
	return total, unconverted, nil
}

// attributeRun is the default days per attribution run: the shortest
// lookback of attribution.Job (catalog.DefaultRevenueWindowDays).
const attributeRun = catalog.DefaultRevenueWindowDays
