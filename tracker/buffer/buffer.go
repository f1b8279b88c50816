// Package buffer makes hits durable before the tracker answers: it groups
// the hits of concurrent requests into one Redis stream entry, written with
// one XADD (a group commit) and, when Redis does not acknowledge within a
// few milliseconds,
// writes the group to an fsync'd on-disk spill journal instead, replaying
// it into Redis in order once Redis is back.
//
// Replays must never add a hit twice, even when the first attempt timed out
// but was in fact applied. So each committer worker of each tracker
// instance writes a stream of its own, and every entry gets an explicit,
// strictly increasing stream id: Redis refuses an id not above the stream's
// last one, which makes every replay of an already-applied group a
// harmless error. This holds because:
//   - a worker sends one group at a time, so the groups of its stream
//     reach Redis in id order (several workers keep several groups in
//     flight, on several streams);
//   - after any failure, every later group goes to the journal until the
//     journal has been replayed to its end (in order), so no direct write
//     can overtake a journaled one;
//   - ids never go backwards across restarts: they start above the stream's
//     last id and above a lease of future milliseconds kept on disk;
//   - a replay stops at the first error that is not "already there", so
//     what Redis holds of the journal is always a prefix of it.
package buffer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/xpromo/xpromo/lib/metrics"
	"github.com/xpromo/xpromo/tracker/hit"
	"github.com/xpromo/xpromo/tracker/journal"
)

// Config configures a Buffer.
type Config struct {
	Dir       string        // journal and state files; one running tracker per Dir
	KeyPrefix string        // prefix of every Redis key, e.g. "xpromo:"
	Timeout   time.Duration // how long a group may wait for Redis before it is journaled
	MaxGroup  int           // most hits in one group commit
	Workers   int           // committer workers (groups in flight), one stream each
	QueueSize int           // hits waiting for the committer
	// ReplayTimeout bounds one replay transaction.
	ReplayTimeout time.Duration
	// WindowBytes bounds the replay window (groups Redis acknowledged and
	// the ingester has not yet taken), re-sent if Redis loses its data.
	WindowBytes int64
	// GuardEvery is how often the window is trimmed and Redis checked for
	// lost data.
	GuardEvery time.Duration

	clock func() time.Time // tests move time backwards with it
	// afterSpill, when set, runs after a group went to the journal and
	// b.mu was released: tests let a replay finish there (the gauge race
	// of xpromo_spilling).
	afterSpill func()
}

// Defaults fills in zero fields.
func (c *Config) Defaults() {
	if c.KeyPrefix == "" {
		c.KeyPrefix = "xpromo:"
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Millisecond
	}
	if c.MaxGroup == 0 {
		c.MaxGroup = 1024
	}
	if c.Workers == 0 {
		c.Workers = 1
	}
	if c.QueueSize == 0 {
		c.QueueSize = 1 << 16
	}
	if c.ReplayTimeout == 0 {
		c.ReplayTimeout = 2 * time.Second
	}
	if c.WindowBytes == 0 {
		c.WindowBytes = 64 << 20
	}
	if c.GuardEvery == 0 {
		c.GuardEvery = time.Second
	}
}

// Validate checks a Config after Defaults.
func (c *Config) Validate() error {
	switch {
	case c.Dir == "":
		return errors.New("buffer: Dir is required (the spill journal lives there)")
	case c.Timeout < 100*time.Microsecond || c.Timeout > 10*time.Second:
		return fmt.Errorf("buffer: Timeout %v out of range 100µs..10s", c.Timeout)
	case c.MaxGroup < 1 || c.MaxGroup > 100000:
		return fmt.Errorf("buffer: MaxGroup %d out of range 1..100000", c.MaxGroup)
	case c.Workers < 1 || c.Workers > 64:
		return fmt.Errorf("buffer: Workers %d out of range 1..64", c.Workers)
	case c.QueueSize < 1:
		return fmt.Errorf("buffer: QueueSize %d must be positive", c.QueueSize)
	case c.WindowBytes < 1<<20:
		return fmt.Errorf("buffer: WindowBytes %d below 1 MiB", c.WindowBytes)
	case c.GuardEvery < 10*time.Millisecond:
		return fmt.Errorf("buffer: GuardEvery %v below 10ms", c.GuardEvery)
	}
	return nil
}

// RegistryKey is the Redis set naming every hit stream; the ingester reads
// the streams listed there.
func RegistryKey(prefix string) string { return prefix + "streams" }

// StreamKey is the stream of one committer worker of a tracker instance.
func StreamKey(prefix, instance string) string { return prefix + "hits:" + instance }

func workerStream(prefix, instance string, w int) string {
	return StreamKey(prefix, fmt.Sprintf("%s:%d", instance, w))
}

// Field is the stream entry field holding a group of encoded hits
// (hit.AppendGroup): one entry per group commit.
const Field = "g"

var (
	// ErrClosed is returned by Submit after Close.
	ErrClosed = errors.New("buffer: closed")
	// ErrLost means neither Redis nor the journal took the hit.
	ErrLost = errors.New("buffer: hit not durable (Redis and spill journal both failed)")
)

type request struct {
	payload []byte
	done    chan error
}

var reqPool = sync.Pool{New: func() any { return &request{done: make(chan error, 1)} }}

// Buffer is the group committer. Submit is safe for concurrent use.
type Buffer struct {
	cfg      Config
	rdb      redis.UniversalClient
	j        *journal.Journal
	log      *slog.Logger
	m        *metrics.Metrics
	instance string
	workers  []*worker
	registry string

	// The replay window (window.go): one per worker stream plus the
	// re-send stream's; epoch and recoverPending belong to the guard.
	windows        []*window
	resendWin      *window
	resendStream   string
	epochKey       string
	epoch          string
	recoverPending bool

	in      chan *request
	closeMu sync.RWMutex
	closed  bool

	// mu guards spilling and journal appends against the replayer's reset.
	// The xpromo_spilling and xpromo_journal_bytes gauges are set under it
	// too, with the state they report: set after the unlock, a replay
	// finishing in between left the gauge at 1 with an empty journal.
	mu       sync.Mutex
	spilling bool

	leaseMs   atomic.Uint64 // no id is issued at or above this millisecond
	leaseMu   sync.Mutex
	leaseFile string

	wake          chan struct{}
	committerDone chan struct{}
	bgCancel      context.CancelFunc
	bgDone        sync.WaitGroup
	now           func() time.Time
}

const leaseAhead = 10 * time.Second

// Open opens the journal in cfg.Dir and starts the committer and the
// replayer. Redis may be down: hits then go to the journal.
func Open(ctx context.Context, rdb redis.UniversalClient, cfg Config, log *slog.Logger, m *metrics.Metrics) (*Buffer, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("buffer: %w", err)
	}
	j, err := journal.Open(filepath.Join(cfg.Dir, "journal"), journal.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("buffer: open spill journal: %w", err)
	}
	b := &Buffer{
		cfg: cfg, rdb: rdb, j: j, log: log, m: m,
		registry:      RegistryKey(cfg.KeyPrefix),
		in:            make(chan *request, cfg.QueueSize),
		wake:          make(chan struct{}, 1),
		committerDone: make(chan struct{}),
		leaseFile:     filepath.Join(cfg.Dir, "id-lease"),
		now:           time.Now,
	}
	if b.instance, err = instanceID(cfg.Dir); err != nil {
		j.Close()
		return nil, err
	}
	perWindow := cfg.WindowBytes / int64(cfg.Workers+1)
	for w := range cfg.Workers {
		win := &window{stream: workerStream(cfg.KeyPrefix, b.instance, w), max: perWindow}
		b.workers = append(b.workers, &worker{b: b, stream: win.stream, win: win})
		b.windows = append(b.windows, win)
	}
	b.resendStream = ResendStream(cfg.KeyPrefix, b.instance)
	b.resendWin = &window{stream: b.resendStream, max: perWindow}
	b.windows = append(b.windows, b.resendWin)
	b.epochKey = EpochKey(cfg.KeyPrefix)
	if cfg.clock != nil {
		b.now = cfg.clock
	}
	if err := b.initIDs(ctx); err != nil {
		j.Close()
		return nil, err
	}
	if err := b.register(ctx); err != nil {
		log.Warn("buffer: cannot register the streams yet; retrying every second", "err", err)
	} else {
		// This data set's epoch, made if there is none; with Redis down the
		// guard takes it at first contact.
		ectx, cancel := context.WithTimeout(ctx, time.Second)
		if err := b.rdb.SetNX(ectx, b.epochKey, newToken(), 0).Err(); err == nil {
			b.epoch, _ = b.rdb.Get(ectx, b.epochKey).Result()
		}
		cancel()
	}
	b.spilling = !j.Empty()
	if b.spilling {
		m.Spilling.Set(1)
		log.Warn("buffer: spill journal holds hits from an earlier run; replaying them before writing to Redis directly", "bytes", j.Size())
	}
	m.JournalBytes.Set(float64(j.Size()))
	bg, cancel := context.WithCancel(context.Background())
	b.bgCancel = cancel
	b.bgDone.Add(3)
	go func() { defer b.bgDone.Done(); b.replayLoop(bg) }()
	go func() { defer b.bgDone.Done(); b.leaseLoop(bg) }()
	go func() { defer b.bgDone.Done(); b.guardLoop(bg) }()
	var wg sync.WaitGroup
	for _, w := range b.workers {
		wg.Go(w.commitLoop)
	}
	go func() { wg.Wait(); close(b.committerDone) }()
	return b, nil
}

// Instance names this tracker's stream; it is kept in Dir across restarts.
func (b *Buffer) Instance() string { return b.instance }

// Streams are this tracker's stream keys, one per worker.
func (b *Buffer) Streams() []string {
	out := make([]string, len(b.workers))
	for i, w := range b.workers {
		out[i] = w.stream
	}
	return out
}

// Spilling reports whether hits currently go to the journal.
func (b *Buffer) Spilling() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.spilling
}

// JournalBytes is the size of the spill journal.
func (b *Buffer) JournalBytes() int64 { return b.j.Size() }

func instanceID(dir string) (string, error) {
	p := filepath.Join(dir, "instance")
	if b, err := os.ReadFile(p); err == nil {
		id := strings.TrimSpace(string(b))
		if id != "" && len(id) <= 64 && !strings.ContainsAny(id, " \t\n{}") {
			return id, nil
		}
	}
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return -1
	}, host)
	if len(host) > 32 {
		host = host[:32]
	}
	rb := make([]byte, 4)
	_, _ = rand.Read(rb)
	id := strings.TrimPrefix(host+"-"+hex.EncodeToString(rb), "-")
	if err := writeFileSync(p, []byte(id+"\n")); err != nil {
		return "", fmt.Errorf("buffer: keep instance id: %w", err)
	}
	return id, nil
}

func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// initIDs starts ids above everything issued before: the stream's last id
// when Redis answers, and the lease kept on disk in any case.
func (b *Buffer) initIDs(ctx context.Context) error {
	var lease entryID
	if raw, err := os.ReadFile(b.leaseFile); err == nil {
		ms, err := strconv.ParseUint(strings.TrimSpace(string(raw)), 10, 64)
		if err != nil {
			return fmt.Errorf("buffer: id lease file %s: %w", b.leaseFile, err)
		}
		lease = entryID{ms: ms}
	}
	ictx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	latest := uint64(b.now().UnixMilli())
	for _, w := range b.workers {
		w.last = lease
		if info, err := b.rdb.XInfoStream(ictx, w.stream).Result(); err == nil {
			if top, err := parseEntryID(info.LastGeneratedID); err == nil && w.last.less(top) {
				w.last = top
			}
		}
		latest = max(latest, w.last.ms)
	}
	return b.renewLease(latest)
}

// renewLease records on disk that ids up to ms+leaseAhead may be issued.
func (b *Buffer) renewLease(ms uint64) error {
	b.leaseMu.Lock()
	defer b.leaseMu.Unlock()
	next := ms + uint64(leaseAhead/time.Millisecond)
	if next <= b.leaseMs.Load() {
		return nil
	}
	if err := writeFileSync(b.leaseFile, []byte(strconv.FormatUint(next, 10)+"\n")); err != nil {
		return fmt.Errorf("buffer: renew id lease: %w", err)
	}
	b.leaseMs.Store(next)
	return nil
}

func (b *Buffer) leaseLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		_ = b.register(rctx) // a Redis that is down shows up as spills; nothing to add here
		cancel()
		now := uint64(b.now().UnixMilli())
		if b.leaseMs.Load() < now+uint64(leaseAhead/time.Millisecond)/2 {
			if err := b.renewLease(now); err != nil {
				b.log.Error("buffer: cannot renew the id lease", "err", err)
			}
		}
	}
}

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

// Submit makes h durable (in Redis or in the journal) and returns nil, or
// ErrLost when neither could take it, or ErrClosed after Close.
func (b *Buffer) Submit(h *hit.Hit) error {
	r := reqPool.Get().(*request)
	r.payload = h.Append(r.payload[:0])
	b.closeMu.RLock()
	if b.closed {
		b.closeMu.RUnlock()
		reqPool.Put(r)
		return ErrClosed
	}
	b.in <- r
	b.closeMu.RUnlock()
	err := <-r.done
	reqPool.Put(r)
	return err
}

// Close stops taking hits, makes every queued hit durable, and stops the
// replayer; a journal not yet replayed is kept for the next start.
func (b *Buffer) Close(ctx context.Context) error {
	b.closeMu.Lock()
	if b.closed {
		b.closeMu.Unlock()
		return nil
	}
	b.closed = true
	close(b.in)
	b.closeMu.Unlock()
	var err error
	select {
	case <-b.committerDone:
	case <-ctx.Done():
		err = fmt.Errorf("buffer: close: %w", ctx.Err())
	}
	b.bgCancel()
	b.bgDone.Wait()
	if size := b.j.Size(); size > 0 {
		b.log.Warn("buffer: spill journal not fully replayed; it will be replayed at the next start", "bytes", size)
	}
	if cerr := b.j.Close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
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

// register (re)adds the streams to the registry the ingester reads. It runs
// at start, every second, and with each replay rather than with every
// commit: a Redis that lost its data gets it back within a second, and the
// ingester reads a newly registered stream from its start.
func (b *Buffer) register(ctx context.Context) error {
	streams := make([]any, len(b.windows))
	for i, w := range b.windows {
		streams[i] = w.stream
	}
	return b.rdb.SAdd(ctx, b.registry, streams...).Err()
}

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
