package ingest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/redis/go-redis/v9"

	"github.com/xpromo/xpromo/lib/chdb"
	"github.com/xpromo/xpromo/schema"
	"github.com/xpromo/xpromo/tracker/buffer"
	"github.com/xpromo/xpromo/tracker/hit"
)

// isDataError tells a refusal of the data (retrying cannot help) from an
// unavailable server (retry until it is back).
func isDataError(err error) bool {
	var ex *clickhouse.Exception
	return errors.As(err, &ex)
}

// flush writes one batch and acknowledges it. Insert failures are retried
// with backoff for as long as ctx allows; a batch ClickHouse keeps refusing
// for its content goes to the dead-letter stream. If ctx ends first the
// entries stay pending and are redelivered later.
func (in *Ingester) flush(ctx context.Context, entries []entry, redelivered bool) error {
	start := in.now()
	rs := decode(entries)
	if redelivered {
		if err := retry(ctx, in, "check stored ids", func() error { return in.dropStored(ctx, rs) }); err != nil {
			return err
		}
	}
	now := in.now().UTC().Truncate(time.Second)
	var dead []entry
	var deadWhy []string
	// write inserts prepared columns, retrying. A failed insert may have
	// been applied all the same (the connection broke after ClickHouse
	// took the block, before its answer came back), so before each retry
	// the rows already stored are dropped; the columns are rebuilt only then.
	write := func(table, query string, n func() int, cols func() []any, dropStored func(context.Context) error) error {
		if n() == 0 {
			return nil
		}
		prepared := cols()
		attempts := 0
		for {
			err := chdb.InsertColumns(ctx, in.ch, query, prepared)
			if err == nil {
				in.m.Ingested.WithLabelValues(table).Add(float64(n()))
				return nil
			}
			in.m.InsertFailures.Inc()
			attempts++
			if isDataError(err) && attempts >= in.cfg.MaxAttempts {
				in.log.Error("ingest: ClickHouse keeps refusing a batch; dead-lettering it", "table", table, "rows", n(), "err", err)
				return errDeadLetter{err}
			}
			in.log.Warn("ingest: insert failed; retrying", "table", table, "rows", n(), "attempt", attempts, "err", err)
			in.heartbeat(ctx, entries)
			if !backoffSleep(ctx, attempts) {
				return fmt.Errorf("insert %s: %w", table, err)
			}
			if err := retry(ctx, in, "check stored ids before retrying "+table, func() error { return dropStored(ctx) }); err != nil {
				return err
			}
			if n() == 0 {
				return nil // the failed attempt had in fact stored every row
			}
			prepared = cols()
		}
	}
	idsOf := func(hs []*hit.Hit) map[string]bool {
		m := make(map[string]bool, len(hs))
		for _, h := range hs {
			m[h.ID] = true
		}
		return m
	}
	err := write(schema.Hits.Name, schema.Hits.Insert(), func() int { return len(rs.hits) },
		func() []any { return hitColumns(rs.hits, rs.amounts, now) }, rs.dropStoredHits(in))
	// deadLetter collects the entries of rows ClickHouse refused.
	var dl errDeadLetter
	deadLetterRows := func(hs []*hit.Hit) {
		for _, e := range entriesHolding(entries, idsOf(hs)) {
			if !slices.ContainsFunc(dead, func(d entry) bool { return d.stream == e.stream && d.id == e.id }) {
				dead, deadWhy = append(dead, e), append(deadWhy, dl.Error())
			}
		}
	}
	if errors.As(err, &dl) {
		deadLetterRows(rs.hits)
	} else if err != nil {
		return err
	}
	err = write(schema.Conversions.Name, schema.Conversions.Insert(), func() int { return len(rs.conversions) },
		func() []any { return conversionColumns(rs.conversions, rs.convAmounts, now) }, rs.dropStoredConversions(in))
	if errors.As(err, &dl) {
		deadLetterRows(rs.conversions)
	} else if err != nil {
		// The hits are stored; if we stop here they are redelivered and
		// found stored, so nothing is counted twice.
		return err
	}
	err = write(schema.RejectedHits.Name, schema.RejectedHits.Insert(), func() int { return len(rs.rejected) },
		func() []any { return rejectedColumns(rs.rejected, now) }, rs.dropStoredRejected(in))
	if errors.As(err, &dl) {
		deadLetterRows(rs.rejected)
	} else if err != nil {
		return err
	}
	if in.cfg.AfterInsert != nil {
		in.cfg.AfterInsert()
	}
	dead, deadWhy = append(dead, rs.dead...), append(deadWhy, rs.deadWhy...)
	if len(dead) > 0 {
		if err := retry(ctx, in, "dead-letter", func() error { return in.deadLetter(ctx, dead, deadWhy) }); err != nil {
			return err
		}
	}
	if err := retry(ctx, in, "acknowledge", func() error { return in.ack(ctx, entries) }); err != nil {
		return err
	}
	in.m.BatchSize.Observe(float64(len(rs.hits) + len(rs.conversions) + len(rs.rejected)))
	in.m.BatchSeconds.Observe(in.now().Sub(start).Seconds())
	return nil
}

type errDeadLetter struct{ err error }

func (e errDeadLetter) Error() string { return "refused by ClickHouse: " + e.err.Error() }

func retry(ctx context.Context, in *Ingester, op string, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil {
			return nil
		}
		in.log.Warn("ingest: "+op+" failed; retrying", "attempt", attempt, "err", err)
		if !backoffSleep(ctx, attempt) {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
}

func backoffSleep(ctx context.Context, attempt int) bool {
	// Up to 3.2 s: cheap while ClickHouse is away, and the backlog starts
	// draining within seconds of its return.
	d := 100 * time.Millisecond << min(attempt-1, 5)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// heartbeat resets the idle time of entries we are still working on, so no
// other ingester claims them while we retry.
func (in *Ingester) heartbeat(ctx context.Context, entries []entry) {
	byStream := map[string][]string{}
	for _, e := range entries {
		byStream[e.stream] = append(byStream[e.stream], e.id)
	}
	for s, ids := range byStream {
		if err := in.rdb.XClaimJustID(ctx, &redis.XClaimArgs{
			Stream: s, Group: in.cfg.Group, Consumer: in.cfg.Consumer, MinIdle: 0, Messages: ids,
		}).Err(); err != nil && ctx.Err() == nil {
			in.log.Debug("ingest: heartbeat failed", "err", err)
		}
	}
}

func (in *Ingester) deadLetter(ctx context.Context, dead []entry, why []string) error {
	_, err := in.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, e := range dead {
			p.XAdd(ctx, &redis.XAddArgs{Stream: DeadLetterKey(in.cfg.KeyPrefix), Values: []any{
				"stream", e.stream, "id", e.id, "reason", why[i], buffer.Field, e.data,
			}})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("dead-letter: %w", err)
	}
	in.m.DeadLettered.Add(float64(len(dead)))
	in.log.Error("ingest: entries moved to the dead-letter stream", "stream", DeadLetterKey(in.cfg.KeyPrefix), "entries", len(dead), "first_reason", why[0])
	return nil
}
