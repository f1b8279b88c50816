package main

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/xpromo/xpromo/lib/chdb"
)

// rowCounter reads how many rows a table holds. It sums the rows of the
// table's active parts in system.parts: metadata only, so polling it ten
// times a second costs ClickHouse nothing, unlike count() over millions of
// rows on 18.16. Rows appear there when an insert commits, as for count().
type rowCounter struct {
	conn  driver.Conn
	db    string
	table string
}

func newRowCounter(ctx context.Context, url, table string) (*rowCounter, error) {
	opts, err := chdb.Options(url)
	if err != nil {
		return nil, err
	}
	if !chdb.ValidIdent(table) {
		return nil, fmt.Errorf("table %q is not a plain identifier", table)
	}
	conn, err := chdb.Open(ctx, url, false)
	if err != nil {
		return nil, err
	}
	return &rowCounter{conn: conn, db: opts.Auth.Database, table: table}, nil
}

func (c *rowCounter) rows(ctx context.Context) (uint64, error) {
	var n uint64
	err := c.conn.QueryRow(ctx, "SELECT sum(rows) FROM system.parts WHERE active AND database = ? AND table = ?", c.db, c.table).Scan(&n)
	return n, err
}

// count is the exact count(), for the final figure.
func (c *rowCounter) count(ctx context.Context) (uint64, error) {
	var n uint64
	err := c.conn.QueryRow(ctx, "SELECT count() FROM "+c.table).Scan(&n)
	return n, err
}

func (c *rowCounter) Close() error { return c.conn.Close() }

// e2eStats is how long answered hits took to become visible in ClickHouse.
type e2eStats struct {
	Table       string  `json:"table"`
	Baseline    uint64  `json:"baseline_rows"`
	Answered    int64   `json:"answered"`     // 2xx/3xx answers: hits durable in Redis
	Stored      uint64  `json:"stored"`       // rows added to the table (count())
	Missing     int64   `json:"missing"`      // answered minus stored, when positive
	Checkpoints int     `json:"checkpoints"`  // samples of the answered count
	LagP50      float64 `json:"lag_p50_s"`    // seconds from a checkpoint until as many rows were visible
	LagP99      float64 `json:"lag_p99_s"`    //
	LagMax      float64 `json:"lag_max_s"`    //
	Unresolved  int     `json:"unresolved"`   // checkpoints never reached within the wait
	Waited      string  `json:"drain_waited"` // how long after the load the rows took to arrive
}

type poll struct {
	at   time.Time
	rows uint64
}

// e2eTracker samples the answered count (checkpoints) and the table's rows
// (polls); the lag of a checkpoint is the time until the table held at
// least as many new rows as had been answered at that moment. Hits are
// ingested in stream order, so that is the visibility delay of the hit
// answered at the checkpoint.
type e2eTracker struct {
	rc       *rowCounter
	every    time.Duration
	baseline uint64

	mu    sync.Mutex
	cps   []checkpoint
	polls []poll
	err   error
}

func (t *e2eTracker) checkpoint(at time.Time, ok int64) {
	t.mu.Lock()
	t.cps = append(t.cps, checkpoint{At: at, OK: ok})
	t.mu.Unlock()
}

func (t *e2eTracker) pollOnce(ctx context.Context) (uint64, error) {
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	n, err := t.rc.rows(qctx)
	if err != nil {
		return 0, err
	}
	at := time.Now()
	rows := uint64(0)
	if n > t.baseline {
		rows = n - t.baseline
	}
	t.mu.Lock()
	t.polls = append(t.polls, poll{at: at, rows: rows})
	t.mu.Unlock()
	return rows, nil
}

// pollLoop polls until stop is closed.
func (t *e2eTracker) pollLoop(ctx context.Context, stop <-chan struct{}) {
	tk := time.NewTicker(t.every)
	defer tk.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-tk.C:
			if _, err := t.pollOnce(ctx); err != nil {
				t.mu.Lock()
				if t.err == nil {
					t.err = err
				}
				t.mu.Unlock()
			}
		}
	}
}

// drain polls until the table has answered rows or wait has passed.
func (t *e2eTracker) drain(ctx context.Context, answered int64, wait time.Duration) time.Duration {
	start := time.Now()
	for time.Since(start) < wait && ctx.Err() == nil {
		rows, err := t.pollOnce(ctx)
		if err == nil && rows >= uint64(answered) {
			break
		}
		time.Sleep(t.every)
	}
	return time.Since(start)
}

func (t *e2eTracker) stats(answered int64, stored uint64, waited time.Duration) *e2eStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := &e2eStats{Baseline: t.baseline, Answered: answered, Stored: stored, Waited: waited.Round(10 * time.Millisecond).String()}
	if int64(stored) < answered {
		s.Missing = answered - int64(stored)
	}
	var lags []float64
	for _, cp := range t.cps {
		if cp.OK == 0 {
			continue
		}
		s.Checkpoints++
		// Polls are in time order and rows never decrease.
		i := sort.Search(len(t.polls), func(i int) bool { return !t.polls[i].at.Before(cp.At) && t.polls[i].rows >= uint64(cp.OK) })
		if i == len(t.polls) {
			s.Unresolved++
			continue
		}
		lags = append(lags, t.polls[i].at.Sub(cp.At).Seconds())
	}
	sort.Float64s(lags)
	q := func(p float64) float64 {
		if len(lags) == 0 {
			return 0
		}
		i := int(p*float64(len(lags))+0.5) - 1
		return lags[min(max(i, 0), len(lags)-1)]
	}
	s.LagP50, s.LagP99 = q(0.50), q(0.99)
	if len(lags) > 0 {
		s.LagMax = lags[len(lags)-1]
	}
	return s
}
