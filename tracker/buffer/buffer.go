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
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
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
