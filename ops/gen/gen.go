// Package gen writes realistic synthetic traffic into ClickHouse for
// report benchmarks: a catalog (through catalog.Store), hits, conversions
// and their attributions. The rows are a pure function of the
// configuration (seed included); see docs/GEN.md for the model.
package gen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/xpromo/xpromo/domain/catalog"
)

// Config says what to generate.
type Config struct {
	Hits           int64     // clicks and views
	Partnerships   int       // spread over Countries countries
	Countries      int       // the largest markets, 1-60
	Days           int       // days of traffic from Start
	Start          time.Time // first day (cut to its UTC midnight)
	Seed           int64     // ids are prefixed "g<seed>-"; the same seed gives the same rows
	Batch          int       // rows per insert (default 100000)
	ConversionRate float64   // conversions per human click, each way (default 0.02)
	Workers        int       // goroutines generating rows (default: GOMAXPROCS, at most 4)
	Inserts        int       // inserts running at once (default 2)
	// Attribute runs the attribution job over the generated period.
	Attribute bool
	// AttributeChunk is the days of one attribution run (default 365).
	// Job.Run holds a run's conversions and candidate clicks in memory:
	// about 3.3 GB for the 1M conversions of 100M hits in one run.
	AttributeChunk int

	// CatalogViaStore writes the catalog with catalog.Store one change at
	// a time instead of in bulk: the audited path, but quadratic (every
	// change reloads the catalog).
	CatalogViaStore bool

	// Progress receives a progress line every ProgressEvery (default 5s);
	// nil: none.
	Progress      io.Writer
	ProgressEvery time.Duration
}

// Defaults and limits.
const (
	DefaultBatch          = 100_000
	DefaultConversionRate = 0.02
	MaxBatch              = 1_000_000
)

func (c *Config) defaults() {
	if c.Batch == 0 {
		c.Batch = DefaultBatch
	}
	if c.Workers == 0 {
		c.Workers = min(4, runtime.GOMAXPROCS(0))
	}
	if c.Inserts == 0 {
		c.Inserts = 2
	}
	if c.ProgressEvery == 0 {
		c.ProgressEvery = 5 * time.Second
	}
	s := c.Start.UTC()
	c.Start = time.Date(s.Year(), s.Month(), s.Day(), 0, 0, 0, 0, time.UTC)
}

// Validate checks c; zero Batch and Workers stand for their defaults.
func (c *Config) Validate() error {
	switch {
	case c.Hits < 0:
		return errors.New("hits must not be negative")
	case c.Countries < 1 || c.Countries > MaxCountries:
		return fmt.Errorf("countries must be 1-%d", MaxCountries)
	case c.Partnerships < c.Countries || c.Partnerships > 99_999:
		return errors.New("partnerships must be at least the number of countries (each gets one) and at most 99999")
	case c.Days < 1 || c.Days > 3660:
		return errors.New("days must be 1-3660")
	case c.Batch < 0 || c.Batch > MaxBatch:
		return fmt.Errorf("batch must be 1-%d", MaxBatch)
	case !(c.ConversionRate >= 0 && c.ConversionRate <= 1):
		return errors.New("conversion rate must be 0-1")
	case c.Workers < 0 || c.Inserts < 0:
		return errors.New("workers and inserts must not be negative")
	case c.Start.Year() < 2000 || c.Start.AddDate(0, 0, c.Days).Year() > 2105:
		return errors.New("the period must lie within 2000-2105")
	}
	return nil
}

// Summary says what Run wrote and how long it took.
type Summary struct {
	Partners     int   `json:"partners"`
	Partnerships int   `json:"partnerships"`
	Links        int   `json:"links"`
	Terms        int   `json:"terms"`
	Hits         int64 `json:"hits"`
	Clicks       int64 `json:"clicks"`
	Views        int64 `json:"views"`
	Bots         int64 `json:"bots"`
	Conversions  int64 `json:"conversions"` // rows, repeats included
	Signups      int64 `json:"signups"`
	Purchases    int64 `json:"purchases"`
	Refunds      int64 `json:"refunds"`
	Postbacks    int64 `json:"postbacks"`  // partners' conversions (signups and purchases)
	Duplicates   int64 `json:"duplicates"` // repeats marked duplicate
	Attributions int64 `json:"attributions"`
	Unconverted  int64 `json:"unconverted"` // revenue without an FX rate to the reporting currency

	CatalogTime     time.Duration `json:"catalog_ns"`
	TrafficTime     time.Duration `json:"traffic_ns"` // hits and conversions
	AttributionTime time.Duration `json:"attribution_ns"`
	Total           time.Duration `json:"total_ns"`
}

// Rows is every row written to the hits, conversions and attributions
// tables.
func (s Summary) Rows() int64 { return s.Hits + s.Conversions + s.Attributions }

// Run generates the configuration's data: the catalog into cat, the events
// into the database of conn. Both must hold the schema (xpromo migrate).
func Run(ctx context.Context, conn driver.Conn, cat *catalog.Store, cfg Config) (Summary, error) {
	cfg.defaults()
	if err := cfg.Validate(); err != nil {
		return Summary{}, err
	}
	begin := time.Now()
	p := newPlan(cfg)
	var sum Summary
	pr := newProgress(cfg.Progress, cfg.ProgressEvery, cfg.Hits)
	defer pr.stop()

	n, err := writeCatalog(ctx, cat, p, cfg.CatalogViaStore, func(what string, count int, d time.Duration) {
		pr.logf("catalog: %d %s in %.1fs", count, what, d.Seconds())
	})
	sum.Partners, sum.Partnerships, sum.Links, sum.Terms = n.Partners, n.Partnerships, n.Links, n.Terms
	sum.CatalogTime = time.Since(begin)
	if err != nil {
		return sum, fmt.Errorf("gen catalog: %w", err)
	}

	t := time.Now()
	pr.start()
	st, err := p.writeTraffic(ctx, conn, pr)
	sum.Clicks, sum.Views, sum.Bots = st.clicks, st.views, st.bots
	sum.Hits = st.clicks + st.views
	sum.Signups, sum.Purchases, sum.Refunds, sum.Postbacks, sum.Duplicates = st.signups, st.purchases, st.refunds, st.postbacks, st.dups
	sum.Conversions = st.signups + st.purchases + st.refunds + st.dups
	sum.TrafficTime = time.Since(t)
	pr.stop()
	if err != nil {
		return sum, fmt.Errorf("gen traffic: %w", err)
	}
	pr.logf("traffic: %d hits, %d conversions in %.1fs (%.0f rows/s)", sum.Hits, sum.Conversions,
		sum.TrafficTime.Seconds(), float64(sum.Hits+sum.Conversions)/sum.TrafficTime.Seconds())

	if cfg.Attribute {
		t = time.Now()
		a, unconverted, err := attribute(ctx, conn, cat, p, pr)
		sum.Attributions, sum.Unconverted = a, unconverted
		sum.AttributionTime = time.Since(t)
		if err != nil {
			return sum, fmt.Errorf("gen attribution: %w", err)
		}
	}
	sum.Total = time.Since(begin)
	return sum, nil
}

// progress prints counters every few seconds.
type progress struct {
	w              io.Writer
	every          time.Duration
	target         int64
	hits, convs    atomic.Int64
	mu             sync.Mutex
	begin          time.Time
	done           chan struct{}
	wg             sync.WaitGroup
	started, ended bool
}

func newProgress(w io.Writer, every time.Duration, target int64) *progress {
	return &progress{w: w, every: every, target: target, done: make(chan struct{})}
}

func (p *progress) logf(format string, args ...any) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "gen: "+format+"\n", args...)
}

func (p *progress) start() {
	p.begin = time.Now()
	if p.w == nil || p.started {
		return
	}
	p.started = true
	p.wg.Go(func() {
		t := time.NewTicker(p.every)
		defer t.Stop()
		for {
			select {
			case <-p.done:
				return
			case <-t.C:
				h, c := p.hits.Load(), p.convs.Load()
				secs := time.Since(p.begin).Seconds()
				pct := 100.0
				if p.target > 0 {
					pct = 100 * float64(h) / float64(p.target)
				}
				p.logf("%d/%d hits (%.1f%%), %d conversions, %.0f rows/s, %.0fs", h, p.target, pct, c, float64(h+c)/secs, secs)
			}
		}
	})
}

func (p *progress) stop() {
	if p.started && !p.ended {
		p.ended = true
		close(p.done)
		p.wg.Wait()
	}
}
