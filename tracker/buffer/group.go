package buffer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// entryID is a Redis stream entry id, ms-seq.
type entryID struct{ ms, seq uint64 }

func (e entryID) String() string {
	return strconv.FormatUint(e.ms, 10) + "-" + strconv.FormatUint(e.seq, 10)
}

func (e entryID) less(o entryID) bool { return e.ms < o.ms || (e.ms == o.ms && e.seq < o.seq) }

func parseEntryID(s string) (entryID, error) {
	a, b, ok := strings.Cut(s, "-")
	ms, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return entryID{}, fmt.Errorf("bad stream entry id %q", s)
	}
	return entryID{ms, seq}, nil
}

// record is a group as the journal keeps it: the stream it belongs to and
// each entry with the explicit id it was (or will be) added under.
type record struct {
	stream  string
	ids     []entryID
	payload [][]byte
}

func (r *record) marshal() []byte {
	n := 16 + len(r.stream)
	for _, p := range r.payload {
		n += 24 + len(p)
	}
	b := make([]byte, 0, n)
	b = binary.AppendUvarint(b, uint64(len(r.stream)))
	b = append(b, r.stream...)
	b = binary.AppendUvarint(b, uint64(len(r.ids)))
	for i, id := range r.ids {
		b = binary.AppendUvarint(b, id.ms)
		b = binary.AppendUvarint(b, id.seq)
		b = binary.AppendUvarint(b, uint64(len(r.payload[i])))
		b = append(b, r.payload[i]...)
	}
	return b
}

var errBadRecord = errors.New("buffer: malformed journal record")

func (r *record) unmarshal(b []byte) error {
	next := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	bytesN := func(l uint64) ([]byte, bool) {
		if l > uint64(len(b)) {
			return nil, false
		}
		out := b[:l:l]
		b = b[l:]
		return out, true
	}
	l, ok := next()
	if !ok {
		return errBadRecord
	}
	s, ok := bytesN(l)
	if !ok {
		return errBadRecord
	}
	r.stream = string(s)
	count, ok := next()
	if !ok || count > uint64(len(b)) {
		return errBadRecord
	}
	r.ids = make([]entryID, 0, count)
	r.payload = make([][]byte, 0, count)
	for range count {
		ms, ok1 := next()
		seq, ok2 := next()
		pl, ok3 := next()
		if !ok1 || !ok2 || !ok3 {
			return errBadRecord
		}
		p, ok := bytesN(pl)
		if !ok {
			return errBadRecord
		}
		r.ids = append(r.ids, entryID{ms, seq})
		r.payload = append(r.payload, p)
	}
	if len(b) != 0 {
		return errBadRecord
	}
	return nil
}
