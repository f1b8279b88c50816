package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
	"strings"
)

// MaxRecord is the largest record Append accepts; a larger length read
// from disk is corruption.
const MaxRecord = 64 << 20

const (
	headerLen = 8 // uint32 LE payload length + uint32 LE CRC-32C of the payload

	segPrefix = "seg-"
	segSuffix = ".log"
	segDigits = 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Reasons a record fails to parse; all wrap ErrCorrupt.
var (
	errShort    = fmt.Errorf("%w: record cut short", ErrCorrupt)
	errLength   = fmt.Errorf("%w: bad record length", ErrCorrupt)
	errChecksum = fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
)

func segName(id uint64) string {
	return fmt.Sprintf("%s%0*d%s", segPrefix, segDigits, id, segSuffix)
}

// parseSegName accepts only names segName produces, so other files in the
// directory are left alone.
func parseSegName(name string) (uint64, bool) {
	s, ok := strings.CutPrefix(name, segPrefix)
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, segSuffix)
	if !ok || len(s) != segDigits {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return 0, false
	}
	return id, true
}

// encodeRecord appends the framed record to dst.
func encodeRecord(dst, rec []byte) []byte {
	var h [headerLen]byte
	binary.LittleEndian.PutUint32(h[0:4], uint32(len(rec)))
	binary.LittleEndian.PutUint32(h[4:8], crc32.Checksum(rec, castagnoli))
	dst = append(dst, h[:]...)
	return append(dst, rec...)
}

// readRecord reads the record at off from r, which holds limit valid bytes.
// It returns the payload (in buf if it fits) and the offset just after it.
// Length 0 is rejected: a zero-filled tail (possible after a crash on some
// file systems) would otherwise parse as valid empty records, since the
// CRC-32C of nothing is 0.
func readRecord(r io.ReaderAt, off, limit int64, buf []byte) ([]byte, int64, error) {
	if off < 0 || limit-off < headerLen {
		return nil, off, errShort
	}
	var h [headerLen]byte
	if _, err := r.ReadAt(h[:], off); err != nil {
		return nil, off, ioErr(err)
	}
	n := int64(binary.LittleEndian.Uint32(h[0:4]))
	sum := binary.LittleEndian.Uint32(h[4:8])
	if n == 0 || n > MaxRecord {
		return nil, off, errLength
	}
	if limit-off-headerLen < n {
		return nil, off, errShort
	}
	if int64(cap(buf)) >= n {
		buf = buf[:n]
	} else {
		buf = make([]byte, n)
	}
	if _, err := r.ReadAt(buf, off+headerLen); err != nil {
		return nil, off, ioErr(err)
	}
	if crc32.Checksum(buf, castagnoli) != sum {
		return nil, off, errChecksum
	}
	return buf, off + headerLen + n, nil
}

// ioErr maps EOF from ReadAt (the file is shorter than we thought) to a
// short record, and keeps real I/O errors distinct from corruption.
func ioErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errShort
	}
	return err
}

// validPrefix returns the length of the longest prefix of the size bytes
// of r that holds only whole, valid records. A non-nil error is an I/O
// error, not corruption.
func validPrefix(r io.ReaderAt, size int64) (int64, error) {
	var (
		off int64
		buf []byte
	)
	for off < size {
		rec, next, err := readRecord(r, off, size, buf)
		if err != nil {
			if errors.Is(err, ErrCorrupt) {
				return off, nil
			}
			return off, err
		}
		buf = rec[:0]
		off = next
	}
	return off, nil
}
