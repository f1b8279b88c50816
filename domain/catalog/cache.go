package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xpromo/xpromo/lib/cowmap"
	"github.com/xpromo/xpromo/lib/refresh"
)

// Cache keeps the latest Snapshot for lock-free reads on the redirect path.
// It asks the store for the changes since its snapshot every Interval, and
// at once after Trigger (e.g. on a Redis notification that the catalog
// changed), and applies them (Store.Changes, Snapshot.Apply); it loads the
// catalog whole at start and every FullEvery. It keeps a copy on disk, so
// a tracker that starts while PostgreSQL is down still knows its links;
// the copy is written after a whole load and at most every FileEvery in
// between, since writing it costs as much as a whole load.
type Cache struct {
	store     *Store
	file      string // "" disables the disk copy
	interval  time.Duration
	log       *slog.Logger
	snap      atomic.Pointer[Snapshot]
	loads     atomic.Int64  // successful refreshes, whole or by changes
	fulls     atomic.Int64  // of which whole loads
	fullAt    time.Time     // last whole load (Refresh is not concurrent: Run's loop)
	wake      chan struct{} // buffered(1): pending Trigger
	writeMu   sync.Mutex
	written   int64         // Rev of the snapshot last written to file, under writeMu
	wroteAt   time.Time     // when, under writeMu; zero: nothing written yet
	fileEvery time.Duration // FileEvery; tests set 0 to write every change
}

// FullEvery is how often a cache loads the catalog whole even though the
// changes keep it current: a safety net for a database restored to an
// earlier state or swapped for another, which changes cannot tell.
const FullEvery = 10 * time.Minute

// FileEvery is how often at most the disk copy is rewritten for changes:
// a tracker that starts while PostgreSQL is down starts with the links of
// a minute ago at worst.
const FileEvery = time.Minute

// NewCache returns a Cache; call Refresh once, then Run.
func NewCache(store *Store, file string, interval time.Duration, log *slog.Logger) *Cache {
	if interval <= 0 {
		interval = 2 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Cache{store: store, file: file, interval: interval, log: log, wake: make(chan struct{}, 1), fileEvery: FileEvery}
}

// Get returns the current snapshot (never nil after Start).
func (c *Cache) Get() *Snapshot { return c.snap.Load() }

// Start loads the catalog from PostgreSQL, falling back to the disk copy.
// It fails only when neither is available.
func (c *Cache) Start(ctx context.Context) error {
	err := c.Refresh(ctx)
	if err == nil {
		return nil
	}
	if snap, ferr := c.readFile(); ferr == nil {
		c.snap.Store(snap)
		c.log.Warn("catalog: PostgreSQL unavailable, using the copy on disk", "err", err, "file", c.file, "loaded_at", snap.LoadedAt)
		return nil
	}
	// Start empty rather than not at all: every code answers 404 until the
	// first successful refresh, and capture of pixels goes on.
	c.snap.Store(&Snapshot{Partners: map[string]Partner{}, Partnerships: map[string]Partnership{}, Links: cowmap.New[Link]()})
	c.log.Error("catalog: no catalog yet; links answer 404 until PostgreSQL is reachable", "err", err)
	return nil
}

// Refresh brings the snapshot up to date now: by the changes since it
// when it has one (from the store or the disk copy), else whole.
func (c *Cache) Refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cur := c.snap.Load()
	now := c.store.now()
	var next *Snapshot
	if cur != nil && cur.Rev > 0 && now.Sub(c.fullAt) < FullEvery {
		d, err := c.store.Changes(ctx, cur.Rev)
		if err != nil {
			return err
		}
		switch {
		case d.Rev == cur.Rev:
			c.loads.Add(1)
			c.keepFile(cur, now, false) // a change not written yet is due
			return nil
		case d.Rev > cur.Rev:
			next = cur.Apply(d, now)
		}
		// d.Rev < cur.Rev: not the database cur came from; load it whole.
	}
	whole := next == nil
	if whole {
		snap, err := c.store.Load(ctx)
		if err != nil {
			return err
		}
		next = snap
		c.fullAt = now
		c.fulls.Add(1)
	}
	c.snap.Store(next)
	c.loads.Add(1)
	c.keepFile(next, now, whole)
	return nil
}

// keepFile writes snap to disk after a whole load (now), or when the copy
// is older than fileEvery; a failure is logged, the next refresh retries.
func (c *Cache) keepFile(snap *Snapshot, now time.Time, whole bool) {
	c.writeMu.Lock()
	due := whole || c.wroteAt.IsZero() || now.Sub(c.wroteAt) >= c.fileEvery
	c.writeMu.Unlock()
	if !due {
		return
	}
	if err := c.writeFile(snap, now); err != nil {
		c.log.Warn("catalog: cannot keep a copy on disk", "err", err)
	}
}

// Trigger makes Run reload now instead of at its next tick. It never
// blocks: triggers that arrive while one is pending are coalesced into
// one reload, which starts after the last of them and so sees them all.
func (c *Cache) Trigger() {
	select {
	case c.wake <- struct{}{}:
	default: // a reload is already pending
	}
}

// Run refreshes every interval, or at once after Trigger, until ctx is done.
func (c *Cache) Run(ctx context.Context) {
	refresh.Loop(ctx, c.interval, c.wake, c.log, "catalog", c.Refresh)
}

func (c *Cache) writeFile(snap *Snapshot, now time.Time) error {
	if c.file == "" {
		return nil
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	// An unchanged catalog (same change number) costs no I/O.
	if !c.wroteAt.IsZero() && snap.Rev == c.written && snap.Rev != 0 {
		return nil
	}
	b, err := json.Marshal(snap)
	if err != nil {
		return err
	}
	tmp := c.file + ".tmp"
	if err := os.MkdirAll(filepath.Dir(c.file), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, c.file); err != nil {
		return err
	}
	c.written, c.wroteAt = snap.Rev, now
	return nil
}

func (c *Cache) readFile() (*Snapshot, error) {
	if c.file == "" {
		return nil, fmt.Errorf("no catalog file configured")
	}
	b, err := os.ReadFile(c.file)
	if err != nil {
		return nil, err
	}
	var snap Snapshot
	if err := json.Unmarshal(b, &snap); err != nil {
		return nil, fmt.Errorf("catalog file %s: %w", c.file, err)
	}
	snap.resolve()
	return &snap, nil
}
