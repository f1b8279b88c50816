package buffer

import (
	"context"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/xpromo/xpromo/tracker/hit"
)

// The committer workers: each takes a group of queued hits and writes it
// to its own stream in one XADD, or to the spill journal when Redis does
// not answer within Config.Timeout.

// worker is one committer: it owns a stream and sends one group at a time.
type worker struct {
	b      *Buffer
	stream string
	win    *window
	last   entryID // this worker's goroutine only
}

func (w *worker) nextID() entryID {
	b := w.b
	ms := uint64(b.now().UnixMilli())
	if ms > w.last.ms {
		w.last = entryID{ms: ms}
	} else {
		w.last.seq++
	}
	if w.last.ms >= b.leaseMs.Load() {
		// The clock ran past the lease (a stalled renewer): extend it now,
		// before this id can exist anywhere.
		if err := b.renewLease(w.last.ms); err != nil {
			b.log.Error("buffer: cannot renew the id lease", "err", err)
		}
	}
	return w.last
}

func (w *worker) commitLoop() {
	b := w.b
	group := make([]*request, 0, b.cfg.MaxGroup)
	parts := make([][]byte, 0, b.cfg.MaxGroup)
	rec := &record{stream: w.stream}
	for first := range b.in {
		group = append(group[:0], first)
	fill:
		for len(group) < b.cfg.MaxGroup {
			select {
			case r, ok := <-b.in:
				if !ok {
					break fill
				}
				group = append(group, r)
			default:
				break fill
			}
		}
		parts = parts[:0]
		for _, r := range group {
			parts = append(parts, r.payload)
		}
		// A fresh buffer each time: a journaled record keeps no reference,
		// but a timed-out transaction may still be writing this one.
		rec.ids = append(rec.ids[:0], w.nextID())
		rec.payload = append(rec.payload[:0], hit.AppendGroup(make([]byte, 0, 64+len(parts)*160), parts))
		err := w.commit(rec, len(group))
		clear(parts)
		for _, r := range group {
			r.done <- err
		}
		clear(group)
	}
}

// commit makes one group of hits hits durable.
func (w *worker) commit(rec *record, hits int) error {
	b := w.b
	start := time.Now()
	n := float64(hits)
	b.m.GroupSize.Observe(n)
	b.mu.Lock()
	spilling := b.spilling
	b.mu.Unlock()
	if !spilling {
		failed, err := w.direct(rec)
		if err == nil {
			b.m.HitsDurable.WithLabelValues("redis").Add(n)
			b.m.CommitSeconds.Observe(time.Since(start).Seconds())
			return nil
		}
		b.log.Warn("buffer: Redis did not take a group in time; spilling to the journal until it is back", "err", err, "hits", hits)
		rec = failed
	}
	b.mu.Lock()
	b.spilling = true
	err := b.j.Append(rec.marshal())
	b.m.Spilling.Set(1)
	b.m.JournalBytes.Set(float64(b.j.Size()))
	b.mu.Unlock()
	if b.cfg.afterSpill != nil {
		b.cfg.afterSpill()
	}
	select {
	case b.wake <- struct{}{}:
	default:
	}
	if err != nil {
		b.m.HitsLost.Add(n)
		b.log.Error("buffer: spill journal write failed; these hits are answered but not kept", "err", err, "hits", hits)
		return ErrLost
	}
	b.m.HitsDurable.WithLabelValues("journal").Add(n)
	b.m.CommitSeconds.Observe(time.Since(start).Seconds())
	return nil
}

func isIDTooSmall(err error) bool {
	return err != nil && strings.Contains(err.Error(), "equal or smaller than the target stream top")
}

// direct writes rec to Redis in one transaction within cfg.Timeout. On
// failure it returns the part of rec that is not known to be stored.
func (w *worker) direct(rec *record) (*record, error) {
	b := w.b
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.Timeout)
	defer cancel()
	// A group is one entry, and one XADD is atomic: no MULTI needed, one
	// command and one round trip per group.
	err := b.xadd(ctx, rec.stream, rec.ids[0], rec.payload[0])
	if !isIDTooSmall(err) {
		if err != nil {
			return rec, err
		}
		w.win.add(rec.ids[0], rec.payload[0])
		return nil, nil
	}
	// Redis refused the id as not above its stream top: ids went backwards
	// (a clock step, or the stream's ids came from elsewhere). The entry is
	// not stored; give it a fresh id above the top.
	if info, ierr := b.rdb.XInfoStream(ctx, w.stream).Result(); ierr == nil {
		if top, perr := parseEntryID(info.LastGeneratedID); perr == nil && w.last.less(top) {
			w.last = top
		}
	}
	retry := &record{stream: rec.stream, ids: []entryID{w.nextID()}, payload: rec.payload}
	b.log.Warn("buffer: stream id was not above the stream top; reissued", "stream", rec.stream)
	if err := b.xadd(ctx, retry.stream, retry.ids[0], retry.payload[0]); err != nil {
		return retry, err
	}
	w.win.add(retry.ids[0], retry.payload[0])
	return nil, nil
}

func (b *Buffer) xadd(ctx context.Context, stream string, id entryID, payload []byte) error {
	return b.rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, ID: id.String(), Values: []any{Field, payload}}).Err()
}
