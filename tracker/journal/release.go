package journal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// Release deletes the segments that lie entirely before upTo, typically
// the replayer's position, to free disk during a long replay. The active
// segment is never deleted. Replayed data that was not deleted (or whose
// deletion a crash undid) is simply replayed again.
func (j *Journal) Release(upTo Position) error {
	j.gcMu.Lock()
	defer j.gcMu.Unlock()
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return ErrClosed
	}
	k := 0
	for k < len(j.segs)-1 {
		s := j.segs[k]
		if s.id > upTo.Segment || (s.id == upTo.Segment && upTo.Offset < s.size) {
			break
		}
		k++
	}
	drop := j.dropLocked(k)
	j.mu.Unlock()
	return j.remove(drop)
}

// Reset deletes every record. Later segments keep higher numbers, so a
// position saved before Reset never points into data appended after it.
//
// Records appended concurrently with Reset are deleted too; a replayer
// should use ResetIfEnd instead.
func (j *Journal) Reset() error {
	_, err := j.reset(nil)
	return err
}

// ResetIfEnd is Reset, done only if no record lies at or after p (the
// replayer's position, e.g. the next returned with io.EOF). It reports
// whether it reset, so a record appended since the replayer's last read
// is never lost.
func (j *Journal) ResetIfEnd(p Position) (bool, error) {
	return j.reset(&p)
}

func (j *Journal) reset(ifEnd *Position) (bool, error) {
	j.gcMu.Lock()
	defer j.gcMu.Unlock()
	j.wmu.Lock()
	if j.w == nil {
		j.wmu.Unlock()
		return false, ErrClosed
	}
	if ifEnd != nil && !j.atEnd(*ifEnd) {
		j.wmu.Unlock()
		return false, nil
	}
	// Start the new segment before deleting the old ones: a crash in
	// between then leaves old data to replay again, and never a
	// directory whose numbering restarts.
	if j.wOff > 0 || j.mustRotate {
		if err := j.rotate(); err != nil {
			j.wmu.Unlock()
			return false, fmt.Errorf("journal: reset: new segment: %w", err)
		}
	}
	j.mu.Lock()
	drop := j.dropLocked(len(j.segs) - 1)
	j.mu.Unlock()
	j.wmu.Unlock()
	return true, j.remove(drop)
}

// atEnd reports whether no record lies at or after p.
func (j *Journal) atEnd(p Position) bool {
	j.mu.RLock()
	defer j.mu.RUnlock()
	for _, s := range j.segs {
		if s.id > p.Segment && s.size > 0 || s.id == p.Segment && p.Offset < s.size {
			return false
		}
	}
	return true
}

// dropLocked removes the first k segments from the list and returns them.
func (j *Journal) dropLocked(k int) []segment {
	if k <= 0 {
		return nil
	}
	drop := slices.Clone(j.segs[:k])
	j.segs = slices.Delete(j.segs, 0, k)
	j.rmu.Lock()
	for _, s := range drop {
		j.total -= s.size
		if j.rf != nil && j.rid == s.id {
			j.rf.Close()
			j.rf = nil
		}
	}
	j.rmu.Unlock()
	return drop
}

// remove deletes dropped segment files, oldest first. Called with gcMu
// held, so Close cannot release the lock meanwhile.
func (j *Journal) remove(drop []segment) error {
	if len(drop) == 0 {
		return nil
	}
	var errs []error
	for _, s := range drop {
		err := os.Remove(filepath.Join(j.dir, segName(s.id)))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			j.log.Error("journal: delete segment", "segment", segName(s.id), "err", err)
			errs = append(errs, err)
		}
	}
	if err := syncDir(j.dir); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("journal: delete segments: %w", err)
	}
	return nil
}
