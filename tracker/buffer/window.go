package buffer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/xpromo/xpromo/lib/refresh"
	"github.com/xpromo/xpromo/tracker/hit"
)

// Redis that restarts without its data (no AOF) loses every stream entry
// the ingester had not yet written to ClickHouse, although each of those
// hits got its answer. So the buffer keeps a replay window: every group
// Redis acknowledged stays in memory until Redis shows it ingested (the
// ingester deletes an entry after writing it, so an entry below the
// stream's first one is gone for good). An epoch key, a random token
// written once per Redis data set, tells a Redis that lost its data: when
// the token is missing or changed, the window's entries that the stream no
// longer holds are re-sent to the tracker's re-send stream, marked with
// ResentField; the ingester checks marked entries against ClickHouse, so
// those that had been written already are not written twice.
//
// Limits: the window is bounded by Config.WindowBytes (entries evicted
// for room while perhaps not yet ingested are counted and logged if a loss
// follows), and a Redis restored from an older RDB snapshot (entries the
// ingester had deleted come back) is not covered: run Redis with AOF or
// with no persistence at all.

// ResentField marks a stream entry re-sent after Redis lost data.
const ResentField = "r"

// EpochKey names the key holding the token of the current Redis data set.
func EpochKey(prefix string) string { return prefix + "epoch" }

// ResendStream is the stream a tracker instance re-sends lost groups to.
func ResendStream(prefix, instance string) string { return StreamKey(prefix, instance+":resent") }

type winEntry struct {
	id      entryID
	payload []byte
	hits    int
}

// window holds the groups of one stream that Redis acknowledged and that
// are not known to be ingested yet, in id order.
type window struct {
	stream string
	mu     sync.Mutex
	ents   []winEntry
	bytes  int64
	max    int64
	// Hits evicted for room while perhaps not yet ingested, and the
	// highest evicted id: they are uncovered until the stream's first
	// entry passes that id.
	evicted    int
	maxEvicted entryID
}

func (w *window) add(id entryID, payload []byte) {
	hits, _ := hit.GroupLen(payload)
	e := winEntry{id: id, payload: payload, hits: hits}
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := len(w.ents); n == 0 || w.ents[n-1].id.less(id) {
		w.ents = append(w.ents, e)
	} else {
		i, found := slices.BinarySearchFunc(w.ents, id, cmpEntry)
		if found {
			return
		}
		w.ents = slices.Insert(w.ents, i, e)
	}
	w.bytes += int64(len(payload))
	drop := 0
	for w.bytes > w.max && drop < len(w.ents)-1 {
		w.bytes -= int64(len(w.ents[drop].payload))
		w.evicted += w.ents[drop].hits
		w.maxEvicted = w.ents[drop].id
		drop++
	}
	w.dropFront(drop)
}

// dropFront removes the first n entries in O(n), not O(len): once the
// window is full every add evicts one, and shifting a million entries per
// group commit would stall the committer. append reallocates (copying the
// live entries only) when the backing array runs out.
func (w *window) dropFront(n int) {
	if n == 0 {
		return
	}
	clear(w.ents[:n]) // release the payloads
	w.ents = w.ents[n:]
	if len(w.ents) == 0 {
		w.ents = nil
	}
}

func cmpEntry(e winEntry, id entryID) int {
	switch {
	case e.id.less(id):
		return -1
	case id.less(e.id):
		return 1
	}
	return 0
}

// trimBelow drops the entries with ids below first: they are ingested.
func (w *window) trimBelow(first entryID, inclusive bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	i, found := slices.BinarySearchFunc(w.ents, first, cmpEntry)
	if found && inclusive {
		i++
	}
	for _, e := range w.ents[:i] {
		w.bytes -= int64(len(e.payload))
	}
	w.dropFront(i)
	if w.evicted > 0 && (w.maxEvicted.less(first) || inclusive && w.maxEvicted == first) {
		w.evicted, w.maxEvicted = 0, entryID{}
	}
}

func (w *window) snapshot() []winEntry {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.ents)
}

// remove drops the entries whose ids are in gone.
func (w *window) remove(gone map[entryID]bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ents = slices.DeleteFunc(w.ents, func(e winEntry) bool {
		if gone[e.id] {
			w.bytes -= int64(len(e.payload))
			return true
		}
		return false
	})
}

func (w *window) size() (entries int, bytes int64, evicted int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.ents), w.bytes, w.evicted
}

// WindowStats reports the replay window: groups and bytes held, and hits
// evicted for room while perhaps not yet ingested.
func (b *Buffer) WindowStats() (entries int, bytes int64, evicted int) {
	for _, w := range b.windows {
		e, by, ev := w.size()
		entries, bytes, evicted = entries+e, bytes+by, evicted+ev
	}
	return
}

func newToken() string {
	rb := make([]byte, 12)
	_, _ = rand.Read(rb)
	return hex.EncodeToString(rb)
}

// guardLoop checks every GuardEvery that Redis still holds its data set,
// trims the window of what was ingested, and re-sends what Redis lost.
func (b *Buffer) guardLoop(ctx context.Context) {
	refresh.Every(ctx, b.cfg.GuardEvery, func(ctx context.Context) {
		gctx, cancel := context.WithTimeout(ctx, b.cfg.ReplayTimeout)
		defer cancel()
		if err := b.guard(gctx); err != nil && ctx.Err() == nil {
			b.log.Debug("buffer: replay window check failed; retrying", "err", err)
		}
	})
}

// guard runs one check. The epoch and every stream's state are read in one
// MULTI, so the trim never uses a stream state from after a loss.
func (b *Buffer) guard(ctx context.Context) error {
	var epoch *redis.StringCmd
	infos := make([]*redis.XInfoStreamCmd, len(b.windows))
	_, err := b.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		epoch = p.Get(ctx, b.epochKey)
		for i, w := range b.windows {
			infos[i] = p.XInfoStream(ctx, w.stream)
		}
		return nil
	})
	cur, eerr := epoch.Result()
	if eerr != nil && !errors.Is(eerr, redis.Nil) {
		if err == nil {
			err = eerr
		}
		return fmt.Errorf("guard: %w", err)
	}
	known := b.epoch
	switch {
	case eerr == nil && cur == known && !b.recoverPending:
		for i, w := range b.windows {
			info, ierr := infos[i].Result()
			if ierr != nil {
				continue // no such stream yet: nothing was added to it
			}
			if info.Length > 0 {
				if first, perr := parseEntryID(info.FirstEntry.ID); perr == nil {
					w.trimBelow(first, false)
				}
			} else if last, perr := parseEntryID(info.LastGeneratedID); perr == nil {
				w.trimBelow(last, true)
			}
		}
		return nil
	case eerr == nil && cur == known:
		// An earlier re-send did not finish: finish it.
	case eerr == nil && known == "":
		b.epoch = cur // first contact: this data set is the one we write to
		return nil
	default:
		if errors.Is(eerr, redis.Nil) {
			if err := b.rdb.SetNX(ctx, b.epochKey, newToken(), 0).Err(); err != nil {
				return fmt.Errorf("guard: set epoch: %w", err)
			}
			if cur, err = b.rdb.Get(ctx, b.epochKey).Result(); err != nil {
				return fmt.Errorf("guard: read epoch: %w", err)
			}
		}
		b.epoch = cur
		if known == "" {
			return nil // a first start against an empty Redis: nothing written yet
		}
		entries, _, evicted := b.WindowStats()
		b.log.Error("buffer: Redis lost its data (its epoch key changed: restarted without AOF?); re-sending the groups it no longer holds from the replay window",
			"groups_in_window", entries, "hits_evicted_from_window", evicted)
		if evicted > 0 {
			b.log.Error("buffer: hits answered before Redis lost its data were evicted from the replay window for room and cannot be re-sent; they are lost if they were not yet ingested",
				"hits", evicted, "window_bytes", b.cfg.WindowBytes)
		}
	}
	b.recoverPending = true
	if err := b.register(ctx); err != nil {
		return fmt.Errorf("guard: register: %w", err)
	}
	for _, w := range b.windows {
		if err := b.resend(ctx, w); err != nil {
			return err
		}
	}
	b.recoverPending = false
	return nil
}

// presentScript returns, for each id, whether the stream holds it.
var presentScript = redis.NewScript(`
local out = {}
for i = 1, #ARGV do
  out[i] = #redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i], 'COUNT', 1)
end
return out
`)

const resendChunk = 500

// resend re-sends the window's entries that w's stream no longer holds
// (lost, or ingested: the ingester tells them apart) to the re-send
// stream, and moves them to that stream's window under their new ids.
func (b *Buffer) resend(ctx context.Context, w *window) error {
	ents := w.snapshot()
	var hits, groups int
	for start := 0; start < len(ents); start += resendChunk {
		chunk := ents[start:min(start+resendChunk, len(ents))]
		ids := make([]any, len(chunk))
		for i, e := range chunk {
			ids[i] = e.id.String()
		}
		flags, err := presentScript.Run(ctx, b.rdb, []string{w.stream}, ids...).Int64Slice()
		if err != nil {
			return fmt.Errorf("guard: check %s: %w", w.stream, err)
		}
		var absent []winEntry
		for i, e := range chunk {
			if i < len(flags) && flags[i] == 0 {
				absent = append(absent, e)
			}
		}
		if len(absent) == 0 {
			continue
		}
		cmds := make([]*redis.StringCmd, len(absent))
		_, err = b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, e := range absent {
				cmds[i] = p.XAdd(ctx, &redis.XAddArgs{Stream: b.resendStream, Values: []any{Field, e.payload, ResentField, "1"}})
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("guard: re-send to %s: %w", b.resendStream, err)
		}
		gone := make(map[entryID]bool, len(absent))
		for i, e := range absent {
			id, perr := parseEntryID(cmds[i].Val())
			if perr != nil {
				return fmt.Errorf("guard: re-send: %w", perr)
			}
			b.resendWin.add(id, e.payload)
			gone[e.id] = true
			hits += e.hits
			groups++
		}
		w.remove(gone) // for the re-send window itself: the old ids only
	}
	if groups > 0 {
		b.m.HitsReplayed.Add(float64(hits))
		b.log.Warn("buffer: re-sent groups Redis no longer held; the ingester skips any it had already written",
			"stream", w.stream, "groups", groups, "hits", hits, "to", b.resendStream)
	}
	return nil
}
