package buffer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/xpromo/xpromo/tracker/hit"
	"github.com/xpromo/xpromo/tracker/journal"
)

// replayScript adds journaled entries in order and stops at the first
// error other than "id not above the stream top" (an entry Redis already
// has), so that no later entry of a stream lands before an earlier one
// that failed: what is applied is always a prefix, and a retry resumes it.
// KEYS: the streams, then the registry. ARGV: stream index, id, payload
// for each entry. Returns one flag per entry handled (1 added, 0 already
// there) and an error message, empty unless it stopped early.
var replayScript = redis.NewScript(`
local flags = {}
local registry = KEYS[#KEYS]
for i = 1, #ARGV, 3 do
  local r = redis.pcall('XADD', KEYS[tonumber(ARGV[i])], ARGV[i+1], '` + Field + `', ARGV[i+2])
  if type(r) == 'table' and r.err then
    if string.find(r.err, 'equal or smaller', 1, true) then
      flags[#flags+1] = 0
    else
      return {flags, r.err}
    end
  else
    flags[#flags+1] = 1
  end
end
for k = 1, #KEYS - 1 do
  redis.call('SADD', registry, KEYS[k])
end
return {flags, ''}
`)

// replayLoop moves journaled groups into Redis, in order, and switches the
// committer back to direct writes once the journal is replayed to its end.
func (b *Buffer) replayLoop(ctx context.Context) {
	var pos journal.Position
	backoff := 50 * time.Millisecond
	sinceRelease := 0
	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-b.wake:
		case <-t.C:
		}
		return true
	}
	for {
		if ctx.Err() != nil {
			return
		}
		if !b.Spilling() {
			if !wait(time.Second) {
				return
			}
			continue
		}
		// Read a run of records and replay them in one transaction, so the
		// replay outpaces the groups still arriving while it runs.
		var recs []*record
		entries := 0
		next := pos
		var rerr error
		for len(recs) < maxReplayRecords && entries < maxReplayEntries {
			raw, after, err := b.j.ReadFrom(next)
			if errors.Is(err, journal.ErrCorrupt) {
				b.log.Error("buffer: corrupt spill journal segment; skipping to the next", "err", err, "at", next, "next", after)
				next = after
				continue
			}
			if err != nil {
				rerr = err
				break
			}
			rec := new(record)
			if err := rec.unmarshal(raw); err != nil {
				b.log.Error("buffer: malformed journal record skipped", "err", err, "at", next)
			} else {
				recs = append(recs, rec)
				entries += len(rec.ids)
			}
			next = after
		}
		if len(recs) > 0 {
			if err := b.replay(ctx, recs); err != nil {
				if !wait(backoff) {
					return
				}
				backoff = min(backoff*2, 2*time.Second)
				continue
			}
			backoff = 50 * time.Millisecond
		}
		pos = next
		if sinceRelease += len(recs); sinceRelease >= 256 {
			sinceRelease = 0
			if err := b.j.Release(pos); err != nil {
				b.log.Warn("buffer: release replayed journal segments", "err", err)
			}
			b.mu.Lock() // not to overwrite a newer size an append set
			b.m.JournalBytes.Set(float64(b.j.Size()))
			b.mu.Unlock()
		}
		switch {
		case errors.Is(rerr, io.EOF):
			b.mu.Lock()
			done, err := b.j.ResetIfEnd(pos)
			if done {
				b.spilling = false
				b.m.Spilling.Set(0)
				b.m.JournalBytes.Set(float64(b.j.Size()))
			}
			b.mu.Unlock()
			if err != nil {
				b.log.Error("buffer: cannot clear the replayed journal", "err", err)
			}
			if done {
				pos = journal.Position{}
				b.log.Info("buffer: spill journal replayed; writing to Redis directly again")
				continue
			}
			if len(recs) == 0 && !wait(5*time.Millisecond) {
				return
			}
		case rerr != nil:
			b.log.Error("buffer: read spill journal", "err", rerr)
			if !wait(time.Second) {
				return
			}
		}
	}
}

// Bounds on one replay transaction.
const (
	maxReplayRecords = 256
	maxReplayEntries = 20000
)

// replay adds journaled groups; entries Redis already has (their ids are
// not above their stream's top) are skipped.
func (b *Buffer) replay(ctx context.Context, recs []*record) error {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.ReplayTimeout)
	defer cancel()
	index := map[string]int{}
	var keys []string
	var argv []any
	var payloads [][]byte
	var wins []*window
	var ids []entryID
	for _, rec := range recs {
		k, ok := index[rec.stream]
		if !ok {
			keys = append(keys, rec.stream)
			k = len(keys)
			index[rec.stream] = k
		}
		win := b.windowOf(rec.stream)
		for i, id := range rec.ids {
			argv = append(argv, k, id.String(), rec.payload[i])
			payloads = append(payloads, rec.payload[i])
			wins, ids = append(wins, win), append(ids, id)
		}
	}
	keys = append(keys, b.registry)
	res, err := replayScript.Run(ctx, b.rdb, keys, argv...).Slice()
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	if len(res) != 2 {
		return fmt.Errorf("replay: unexpected script result %v", res)
	}
	flags, _ := res[0].([]any)
	var replayed, skipped int
	for i, f := range flags {
		if i < len(wins) && wins[i] != nil {
			// Added now or by a timed-out direct write: Redis has it either way.
			wins[i].add(ids[i], payloads[i])
		}
		hits, _ := hit.GroupLen(payloads[i])
		if n, _ := f.(int64); n == 1 {
			replayed += hits
		} else {
			skipped += hits
		}
	}
	b.m.HitsReplayed.Add(float64(replayed))
	b.m.HitsSkipped.Add(float64(skipped))
	if msg, _ := res[1].(string); msg != "" {
		return fmt.Errorf("replay stopped after %d of %d entries: %s", len(flags), len(payloads), msg)
	}
	return nil
}

// windowOf returns the replay window of one of this instance's streams,
// or nil for a stream of an earlier configuration (more workers).
func (b *Buffer) windowOf(stream string) *window {
	for _, w := range b.windows {
		if w.stream == stream {
			return w
		}
	}
	return nil
}
