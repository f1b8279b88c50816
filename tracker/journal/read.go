package journal

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// ReadFrom returns the record at p and the position just after it.
//
// If p is the zero Position, names a segment that no longer exists, or
// points at or past the end of a segment, reading starts at the first
// record of the next segment that exists. At the end of the journal it
// returns io.EOF and next = End(); keep reading from next.
//
// A record that fails its checks yields an error wrapping ErrCorrupt and
// a next that skips the rest of its segment (the start of the following
// segment, or End() in the last one); the caller should log the error and
// continue from next. Other errors (I/O) return next = p; retry later.
//
// Only records whose Append has returned nil are ever returned. The
// returned slice belongs to the caller.
func (j *Journal) ReadFrom(p Position) (rec []byte, next Position, err error) {
	j.mu.RLock()
	defer j.mu.RUnlock()
	if j.closed {
		return nil, p, ErrClosed
	}
	i, found := slices.BinarySearchFunc(j.segs, p.Segment, func(s segment, id uint64) int {
		return cmp.Compare(s.id, id)
	})
	off := p.Offset
	if !found || off < 0 {
		off = 0
	}
	for {
		if i >= len(j.segs) {
			return nil, j.endLocked(), io.EOF
		}
		s := j.segs[i]
		if off >= s.size {
			i, off = i+1, 0
			continue
		}
		rec, end, err := j.readAt(s.id, off, s.size)
		if err == nil {
			return rec, Position{s.id, end}, nil
		}
		err = fmt.Errorf("journal: %s offset %d: %w", segName(s.id), off, err)
		if !errors.Is(err, ErrCorrupt) {
			return nil, p, err
		}
		if i+1 < len(j.segs) {
			return nil, Position{j.segs[i+1].id, 0}, err
		}
		return nil, j.endLocked(), err
	}
}

// readAt reads one record through the cached read handle. Called with
// mu read-locked, so the segment cannot be deleted meanwhile.
func (j *Journal) readAt(id uint64, off, limit int64) ([]byte, int64, error) {
	j.rmu.Lock()
	defer j.rmu.Unlock()
	if j.rf == nil || j.rid != id {
		if j.rf != nil {
			j.rf.Close()
			j.rf = nil
		}
		f, err := os.Open(filepath.Join(j.dir, segName(id)))
		if errors.Is(err, fs.ErrNotExist) {
			// Deleted behind our back: nothing to retry.
			return nil, off, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		if err != nil {
			return nil, off, err
		}
		j.rf, j.rid = f, id
	}
	return readRecord(j.rf, off, limit, nil)
}

// Start returns the position of the oldest record kept, or End() if
// there is none.
func (j *Journal) Start() Position {
	j.mu.RLock()
	defer j.mu.RUnlock()
	for _, s := range j.segs {
		if s.size > 0 {
			return Position{s.id, 0}
		}
	}
	return j.endLocked()
}

// End returns the position just after the last appended record, where
// ReadFrom returns io.EOF.
func (j *Journal) End() Position {
	j.mu.RLock()
	defer j.mu.RUnlock()
	return j.endLocked()
}

func (j *Journal) endLocked() Position {
	if len(j.segs) == 0 { // closed
		return Position{}
	}
	s := j.segs[len(j.segs)-1]
	return Position{s.id, s.size}
}

// Empty reports whether the journal keeps no bytes at all.
func (j *Journal) Empty() bool { return j.Size() == 0 }

// Size returns the bytes kept in segment files.
func (j *Journal) Size() int64 {
	j.mu.RLock()
	defer j.mu.RUnlock()
	return j.total
}
