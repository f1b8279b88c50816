// Package journal is the tracker's on-disk spill journal: an append-only
// log of opaque records (hit groups) that could not be written to Redis in
// time. Append returns only once the record is fsync'd; a replayer reads
// the records back in order with ReadFrom, possibly while new ones are
// still appended, and frees disk with Release and Reset.
//
// The journal is a directory of segment files named seg-%020d.log, numbered
// upwards from 1 and never reused. Each record in a segment is
//
//	uint32 LE payload length | uint32 LE CRC-32C (Castagnoli) of payload | payload
//
// with no file header and no padding. Lengths of 0 or above MaxRecord are
// treated as corruption. Other files in the directory are ignored, except
// LOCK, which holds an flock while the journal is open.
//
// Crash safety: a record is acknowledged (Append returns nil) only after
// fdatasync. A record being written when the process died (a torn tail)
// was never acknowledged, so Open drops any invalid bytes at the end of the
// last segment. Invalid bytes inside an older segment are real corruption:
// ReadFrom reports them with ErrCorrupt and a position in the next segment.
package journal

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

var (
	// ErrLocked is returned (wrapped) by Open when another Journal, in this
	// or another process, holds the directory.
	ErrLocked = errors.New("journal: directory locked")
	// ErrCorrupt is returned (wrapped) by ReadFrom for a record that fails
	// its length or checksum check.
	ErrCorrupt = errors.New("journal: corrupt record")
	// ErrClosed is returned by methods called after Close.
	ErrClosed = errors.New("journal: closed")
	// ErrEmptyRecord is returned by Append for a zero-length record.
	ErrEmptyRecord = errors.New("journal: empty record")
)

const (
	// DefaultSegmentSize is used when Options.SegmentSize is 0.
	DefaultSegmentSize = 64 << 20

	lockName = "LOCK"
)

// Options configure a Journal. The zero value is usable.
type Options struct {
	// SegmentSize is the size a segment may reach before appends move to a
	// new segment. A record larger than that gets a segment of its own.
	SegmentSize int64
	// Logger receives notices about dropped torn tails and failed
	// deletions. The default discards them.
	Logger *slog.Logger
}

// Position is a place in the journal: a segment number and a byte offset
// in it. The zero Position means the start of the oldest segment.
type Position struct {
	Segment uint64
	Offset  int64
}

func (p Position) String() string { return fmt.Sprintf("%d:%d", p.Segment, p.Offset) }

// Compare orders positions by segment, then offset.
func (p Position) Compare(q Position) int {
	if c := cmp.Compare(p.Segment, q.Segment); c != 0 {
		return c
	}
	return cmp.Compare(p.Offset, q.Offset)
}

type segment struct {
	id   uint64
	size int64 // bytes readers may see; for the active segment, the durable end
}

// Journal is an open journal directory. All methods are safe for
// concurrent use.
type Journal struct {
	dir  string
	opts Options
	log  *slog.Logger
	lock *os.File

	// Lock order: gcMu, wmu, mu, rmu.
	gcMu sync.Mutex // serializes Release, Reset and Close around file deletion

	wmu        sync.Mutex // serializes appends and segment creation
	w          *os.File   // active (last) segment; nil once closed
	wid        uint64
	wOff       int64
	mustRotate bool // a failed write left bytes past wOff that could not be cut off
	buf        []byte

	mu     sync.RWMutex
	segs   []segment // ascending ids; the last is the active one; never empty while open
	total  int64
	closed bool

	rmu sync.Mutex // guards the read handle, which is cached for one segment
	rid uint64
	rf  *os.File

	// Test hooks.
	writeAt  func(f *os.File, b []byte, off int64) (int, error)
	sync     func(f *os.File) error
	truncate func(f *os.File, size int64) error
}

// Open opens the journal in dir, creating dir if needed. It locks dir
// exclusively (a second Open fails with an error wrapping ErrLocked) and
// cuts any torn tail off the last segment.
func Open(dir string, opts Options) (*Journal, error) {
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	lf, err := os.OpenFile(filepath.Join(dir, lockName), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if err := lockFile(lf); err != nil {
		lf.Close()
		if errors.Is(err, ErrLocked) {
			return nil, fmt.Errorf("%w: %s is open in another Journal (this or another process)", ErrLocked, dir)
		}
		return nil, fmt.Errorf("journal: lock %s: %w", dir, err)
	}
	j := &Journal{
		dir:      dir,
		opts:     opts,
		log:      opts.Logger.With("journal", dir),
		lock:     lf,
		writeAt:  (*os.File).WriteAt,
		sync:     datasync,
		truncate: (*os.File).Truncate,
	}
	if err := j.load(); err != nil {
		unlockFile(lf)
		lf.Close()
		return nil, fmt.Errorf("journal: open %s: %w", dir, err)
	}
	return j, nil
}

func (j *Journal) load() error {
	entries, err := os.ReadDir(j.dir)
	if err != nil {
		return err
	}
	var ids []uint64
	for _, e := range entries {
		if id, ok := parseSegName(e.Name()); ok && e.Type().IsRegular() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	if len(ids) == 0 {
		f, err := j.createSegment(1)
		if err != nil {
			return err
		}
		j.w, j.wid = f, 1
		j.segs = []segment{{id: 1}}
		return nil
	}
	for _, id := range ids[:len(ids)-1] {
		fi, err := os.Stat(filepath.Join(j.dir, segName(id)))
		if err != nil {
			return err
		}
		j.segs = append(j.segs, segment{id: id, size: fi.Size()})
		j.total += fi.Size()
	}

	last := ids[len(ids)-1]
	name := filepath.Join(j.dir, segName(last))
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	valid, err := validPrefix(f, fi.Size())
	if err != nil {
		f.Close()
		return err
	}
	if dropped := fi.Size() - valid; dropped > 0 {
		// Never acknowledged: Append fsyncs before returning, and a bad
		// record ends the scan, so everything after it is unacknowledged too.
		if err := f.Truncate(valid); err != nil {
			f.Close()
			return err
		}
		if err := j.sync(f); err != nil {
			f.Close()
			return err
		}
		j.log.Warn("journal: dropped torn tail", "segment", segName(last),
			"offset", valid, "bytes", dropped)
	}
	j.w, j.wid, j.wOff = f, last, valid
	j.segs = append(j.segs, segment{id: last, size: valid})
	j.total += valid
	return nil
}

// createSegment creates an empty segment file and makes its name durable.
// An existing file of that name can only be a leftover of an earlier
// failed attempt (ids above the last known segment are unused), so it is
// truncated.
func (j *Journal) createSegment(id uint64) (*os.File, error) {
	path := filepath.Join(j.dir, segName(id))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syncDir(j.dir); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return f, nil
}

// Append writes rec as one record and returns once it is durable. On
// error nothing was acknowledged: the partial record is cut off so the
// segment stays valid, and readers never see it.
//
// Concurrent Appends are serialized, one fdatasync each; callers wanting
// fewer syncs should batch records themselves (the tracker does).
func (j *Journal) Append(rec []byte) error {
	if len(rec) == 0 {
		return ErrEmptyRecord
	}
	if len(rec) > MaxRecord {
		return fmt.Errorf("journal: record of %d bytes exceeds the %d byte limit", len(rec), MaxRecord)
	}
	j.wmu.Lock()
	defer j.wmu.Unlock()
	if j.w == nil {
		return ErrClosed
	}
	n := int64(headerLen + len(rec))
	if j.mustRotate || (j.wOff > 0 && j.wOff+n > j.opts.SegmentSize) {
		if err := j.rotate(); err != nil {
			return fmt.Errorf("journal: append: new segment: %w", err)
		}
	}
	j.buf = encodeRecord(j.buf[:0], rec)
	off := j.wOff
	_, err := j.writeAt(j.w, j.buf, off)
	if err == nil {
		err = j.sync(j.w)
	}
	if cap(j.buf) > 1<<20 {
		j.buf = nil // don't pin a large buffer
	}
	if err != nil {
		return j.undo(off, err)
	}
	j.wOff = off + n
	j.mu.Lock()
	j.segs[len(j.segs)-1].size = j.wOff
	j.total += n
	j.mu.Unlock()
	return nil
}

// undo cuts a failed record off the active segment.
func (j *Journal) undo(off int64, cause error) error {
	name := segName(j.wid)
	if err := j.truncate(j.w, off); err != nil {
		// The junk past off stays; appends move to a new segment so the
		// junk ends up at the end of an older one, which readers skip.
		j.mustRotate = true
		j.log.Error("journal: cannot cut off a failed record", "segment", name,
			"offset", off, "err", err)
		return fmt.Errorf("journal: append to %s: %w (cutting it off failed too: %v)", name, cause, err)
	}
	// Best effort: should the cut not be durable, Open drops the torn
	// tail, or a whole record that failed only its fsync may be replayed.
	_ = j.sync(j.w)
	return fmt.Errorf("journal: append to %s: %w", name, cause)
}

// rotate starts a new active segment. Called with wmu held.
func (j *Journal) rotate() error {
	id := j.wid + 1
	f, err := j.createSegment(id)
	if err != nil {
		return err
	}
	old := j.w
	j.w, j.wid, j.wOff, j.mustRotate = f, id, 0, false
	j.mu.Lock()
	j.segs = append(j.segs, segment{id: id})
	j.mu.Unlock()
	// Every record in old was already synced.
	if err := old.Close(); err != nil {
		j.log.Warn("journal: close segment", "err", err)
	}
	return nil
}

// Close closes the journal and releases the directory lock. Closing
// twice is a no-op.
func (j *Journal) Close() error {
	j.gcMu.Lock()
	defer j.gcMu.Unlock()
	j.wmu.Lock()
	defer j.wmu.Unlock()
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	var errs []error
	if j.w != nil {
		errs = append(errs, j.w.Close())
		j.w = nil
	}
	j.rmu.Lock()
	if j.rf != nil {
		j.rf.Close()
		j.rf = nil
	}
	j.rmu.Unlock()
	j.segs, j.total = nil, 0
	errs = append(errs, unlockFile(j.lock), j.lock.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("journal: close: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
