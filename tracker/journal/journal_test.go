package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/xpromo/xpromo/testkit/testenv"
)

func openT(t testing.TB, dir string, opts Options) *Journal {
	t.Helper()
	j, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

// testRec makes a record whose length varies with i.
func testRec(i int) []byte {
	return fmt.Appendf(nil, "rec-%06d-%s", i, strings.Repeat("x", i%53))
}

func appendN(t testing.TB, j *Journal, from, n int) [][]byte {
	t.Helper()
	var recs [][]byte
	for i := from; i < from+n; i++ {
		r := testRec(i)
		if err := j.Append(r); err != nil {
			t.Fatalf("Append(%d): %v", i, err)
		}
		recs = append(recs, r)
	}
	return recs
}

// readAll reads from p to io.EOF, collecting records and non-EOF errors.
func readAll(t testing.TB, j *Journal, p Position) (recs [][]byte, end Position, errs []error) {
	t.Helper()
	for range 1_000_000 {
		rec, next, err := j.ReadFrom(p)
		if err == io.EOF {
			return recs, next, errs
		}
		if err != nil {
			errs = append(errs, err)
		} else {
			recs = append(recs, rec)
		}
		if next == p {
			t.Fatalf("ReadFrom(%v) made no progress: %v", p, err)
		}
		p = next
	}
	t.Fatal("readAll: no EOF")
	return
}

func segFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	return m
}

func equalRecs(t testing.TB, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("record %d = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestAppendReadAcrossSegments(t *testing.T) {
	tests := []struct {
		name    string
		segSize int64
		n       int
		minSegs int
	}{
		{"one record per segment", 1, 20, 20},
		{"small segments", 200, 100, 10},
		{"default size", 0, 100, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			j := openT(t, dir, Options{SegmentSize: tt.segSize})
			if !j.Empty() || j.Start() != j.End() {
				t.Fatalf("new journal: Empty=%v Start=%v End=%v", j.Empty(), j.Start(), j.End())
			}
			want := appendN(t, j, 0, tt.n)
			got, end, errs := readAll(t, j, Position{})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			equalRecs(t, got, want)
			if end != j.End() {
				t.Errorf("EOF next = %v, End = %v", end, j.End())
			}
			if n := len(segFiles(t, dir)); n < tt.minSegs {
				t.Errorf("%d segments, want >= %d", n, tt.minSegs)
			}
			var size int64
			for _, r := range want {
				size += int64(headerLen + len(r))
			}
			if j.Size() != size {
				t.Errorf("Size = %d, want %d", j.Size(), size)
			}
			if tt.segSize > 1 {
				for _, name := range segFiles(t, dir) {
					fi, _ := os.Stat(filepath.Join(dir, name))
					if fi.Size() > tt.segSize {
						t.Errorf("%s is %d bytes, over SegmentSize %d", name, fi.Size(), tt.segSize)
					}
				}
			}
		})
	}
}

func TestConcurrentAppendAndRead(t *testing.T) {
	const writers, perWriter = 4, 40
	j := openT(t, t.TempDir(), Options{SegmentSize: 300})

	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				if err := j.Append(fmt.Appendf(nil, "%d/%d", w, i)); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
			}
		})
	}

	// The reader follows the writers, releasing what it has read.
	next := make([]int, writers)
	var p Position
	for total := 0; total < writers*perWriter; {
		rec, np, err := j.ReadFrom(p)
		if err == io.EOF {
			if t.Failed() {
				break
			}
			continue
		}
		if err != nil {
			t.Fatalf("ReadFrom(%v): %v", p, err)
		}
		var w, i int
		if _, err := fmt.Sscanf(string(rec), "%d/%d", &w, &i); err != nil {
			t.Fatalf("bad record %q", rec)
		}
		if i != next[w] {
			t.Fatalf("writer %d: got record %d, want %d", w, i, next[w])
		}
		next[w]++
		total++
		p = np
		if total%25 == 0 {
			if err := j.Release(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	wg.Wait()
	if _, _, err := j.ReadFrom(p); err != io.EOF {
		t.Fatalf("after all records: %v, want EOF", err)
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, dir, Options{SegmentSize: 256})
	want := appendN(t, j, 0, 30)
	end := j.End()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := j.Append([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}

	j = openT(t, dir, Options{SegmentSize: 256})
	if j.End() != end {
		t.Fatalf("End after reopen = %v, want %v", j.End(), end)
	}
	want = append(want, appendN(t, j, 30, 10)...)
	got, _, errs := readAll(t, j, Position{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	equalRecs(t, got, want)
}

func TestTornTail(t *testing.T) {
	tests := []struct {
		name string
		tear func(t *testing.T, path string, lastLen int)
	}{
		{"cut in header", func(t *testing.T, path string, lastLen int) { truncBy(t, path, int64(lastLen-3)) }},
		{"cut in payload", func(t *testing.T, path string, lastLen int) { truncBy(t, path, 2) }},
		{"garbage appended", func(t *testing.T, path string, _ int) { appendBytes(t, path, []byte("\x05\x00\x00\x00garbage!")) }},
		{"zeros appended", func(t *testing.T, path string, _ int) { appendBytes(t, path, make([]byte, 4096)) }},
		{"huge length", func(t *testing.T, path string, _ int) {
			appendBytes(t, path, []byte{0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4})
		}},
		{"length past end", func(t *testing.T, path string, _ int) { appendBytes(t, path, []byte{100, 0, 0, 0, 1, 2, 3, 4, 'a'}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			j := openT(t, dir, Options{SegmentSize: 256})
			want := appendN(t, j, 0, 20)
			segs := segFiles(t, dir)
			j.Close()

			last := filepath.Join(dir, segs[len(segs)-1])
			lastLen := headerLen + len(want[len(want)-1])
			fi, _ := os.Stat(last)
			if fi.Size() < int64(lastLen) {
				t.Fatal("last record not in last segment")
			}
			tt.tear(t, last, lastLen)
			if strings.HasPrefix(tt.name, "cut") {
				want = want[:len(want)-1] // the torn record is gone
			}
			fi, _ = os.Stat(last)
			torn := fi.Size()

			var logs testenv.LogBuffer
			j = openT(t, dir, Options{SegmentSize: 256, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			fi, _ = os.Stat(last)
			if dropped := torn - fi.Size(); dropped <= 0 || !strings.Contains(logs.String(), fmt.Sprintf("bytes=%d", dropped)) {
				t.Errorf("dropped %d bytes, log %q", dropped, logs.String())
			}
			want = append(want, appendN(t, j, 100, 5)...)
			got, _, errs := readAll(t, j, Position{})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			equalRecs(t, got, want)
		})
	}
}

func truncBy(t *testing.T, path string, n int64) {
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()-n); err != nil {
		t.Fatal(err)
	}
}

func appendBytes(t *testing.T, path string, b []byte) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptMiddleSegment(t *testing.T) {
	tests := []struct {
		name string
		// damage alters the first segment, whose first record starts at 0.
		damage func(t *testing.T, path string)
	}{
		{"payload bit flip", func(t *testing.T, path string) { flipByte(t, path, headerLen+2) }},
		{"checksum bit flip", func(t *testing.T, path string) { flipByte(t, path, 5) }},
		{"length too big", func(t *testing.T, path string) { flipByte(t, path, 3) }},
		{"cut short", func(t *testing.T, path string) { truncBy(t, path, 3) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			j := openT(t, dir, Options{SegmentSize: 200})
			all := appendN(t, j, 0, 30)
			segs := segFiles(t, dir)
			if len(segs) < 3 {
				t.Fatalf("only %d segments", len(segs))
			}
			first, _ := parseSegName(segs[0])
			second, _ := parseSegName(segs[1])
			// Records in the first segment are lost from the damage on.
			var inFirst int
			for off := 0; off < 200 && inFirst < len(all); inFirst++ {
				n := headerLen + len(all[inFirst])
				if off > 0 && off+n > 200 {
					break
				}
				off += n
			}
			j.Close()
			tt.damage(t, filepath.Join(dir, segs[0]))

			j = openT(t, dir, Options{SegmentSize: 200})
			if s := j.Start(); s != (Position{first, 0}) {
				t.Errorf("Start = %v", s)
			}
			_, next, err := j.ReadFrom(Position{})
			if tt.name == "cut short" {
				// Damage at the end: the earlier records read fine.
				got, _, errs := readAll(t, j, Position{})
				if len(errs) != 1 || !errors.Is(errs[0], ErrCorrupt) {
					t.Fatalf("errors %v, want one ErrCorrupt", errs)
				}
				equalRecs(t, got, slices.Concat(all[:inFirst-1], all[inFirst:]))
				return
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("ReadFrom: %v, want ErrCorrupt", err)
			}
			if next != (Position{second, 0}) {
				t.Fatalf("next = %v, want start of segment %d", next, second)
			}
			got, _, errs := readAll(t, j, next)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			equalRecs(t, got, all[inFirst:])
		})
	}
}

func flipByte(t *testing.T, path string, off int64) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := []byte{0}
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x80
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, dir, Options{})
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	j.Close()
	j2, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	j2.Close()
}

func TestReleaseAndReset(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	if err := os.WriteFile(state, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	j := openT(t, dir, Options{SegmentSize: 200})
	all := appendN(t, j, 0, 40)
	nseg := len(segFiles(t, dir))
	start, end := j.Start(), j.End()

	// Read half, release what was read.
	p := Position{}
	for range 20 {
		_, np, err := j.ReadFrom(p)
		if err != nil {
			t.Fatal(err)
		}
		p = np
	}
	size := j.Size()
	if err := j.Release(p); err != nil {
		t.Fatal(err)
	}
	if n := len(segFiles(t, dir)); n >= nseg || n == 0 {
		t.Fatalf("Release: %d segments left of %d", n, nseg)
	}
	if j.Size() >= size || j.Start().Compare(start) <= 0 || j.End() != end {
		t.Fatalf("after Release: Size %d (was %d), Start %v (was %v), End %v (was %v)",
			j.Size(), size, j.Start(), start, j.End(), end)
	}
	for _, name := range segFiles(t, dir) {
		if id, _ := parseSegName(name); id < p.Segment {
			t.Fatalf("Release(%v) kept %s", p, name)
		}
	}
	// Reading on from p still works, and from the zero Position starts at
	// the oldest record kept.
	got, _, errs := readAll(t, j, p)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	equalRecs(t, got, all[20:])
	if rec, _, err := j.ReadFrom(Position{}); err != nil || !slices.ContainsFunc(all, func(r []byte) bool { return bytes.Equal(r, rec) }) {
		t.Fatalf("ReadFrom(zero) after Release: %q, %v", rec, err)
	}

	// Releasing everything keeps the active segment.
	if err := j.Release(Position{Segment: ^uint64(0)}); err != nil {
		t.Fatal(err)
	}
	if n := len(segFiles(t, dir)); n != 1 || j.End() != end {
		t.Fatalf("Release(max): %d segments, End %v", n, j.End())
	}

	if err := j.Reset(); err != nil {
		t.Fatal(err)
	}
	segs := segFiles(t, dir)
	if len(segs) != 1 || !j.Empty() || j.Size() != 0 || j.Start() != j.End() {
		t.Fatalf("after Reset: segments %v, Empty %v, Size %d, Start %v, End %v", segs, j.Empty(), j.Size(), j.Start(), j.End())
	}
	if id, _ := parseSegName(segs[0]); id <= end.Segment {
		t.Fatalf("segment after Reset is %d, not above %d", id, end.Segment)
	}
	if _, err := os.Stat(state); err != nil {
		t.Fatalf("state file: %v", err)
	}
	// Reset of an empty journal changes nothing.
	e := j.End()
	if err := j.Reset(); err != nil || j.End() != e {
		t.Fatalf("second Reset: %v, End %v -> %v", err, e, j.End())
	}

	// An old position finds the new records.
	want := appendN(t, j, 100, 3)
	got, _, errs = readAll(t, j, end)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	equalRecs(t, got, want)

	j.Close()
	j = openT(t, dir, Options{SegmentSize: 200})
	got, _, _ = readAll(t, j, Position{})
	equalRecs(t, got, want)
}

func TestResetIfEnd(t *testing.T) {
	j := openT(t, t.TempDir(), Options{SegmentSize: 100})
	appendN(t, j, 0, 10)
	_, p, _ := readAll(t, j, Position{})
	appendN(t, j, 10, 1) // arrives after the replayer saw EOF
	if ok, err := j.ResetIfEnd(p); ok || err != nil {
		t.Fatalf("ResetIfEnd with a record pending = %v, %v", ok, err)
	}
	got, p, _ := readAll(t, j, p)
	equalRecs(t, got, [][]byte{testRec(10)})
	if ok, err := j.ResetIfEnd(p); !ok || err != nil || !j.Empty() {
		t.Fatalf("ResetIfEnd at end = %v, %v, Empty %v", ok, err, j.Empty())
	}
}

func TestReadFromPositions(t *testing.T) {
	j := openT(t, t.TempDir(), Options{SegmentSize: 100})
	all := appendN(t, j, 0, 12)
	first := j.Start()
	_, second, _ := j.ReadFrom(first)
	tests := []struct {
		name string
		p    Position
		want []byte // nil: io.EOF
	}{
		{"zero", Position{}, all[0]},
		{"start", first, all[0]},
		{"second record", second, all[1]},
		{"negative offset", Position{first.Segment, -5}, all[0]},
		{"past segment end", Position{first.Segment, 1 << 40}, nil}, // checked below
		{"end", j.End(), nil},
		{"past end", Position{j.End().Segment, j.End().Offset + 1}, nil},
		{"unknown later segment", Position{j.End().Segment + 5, 0}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, next, err := j.ReadFrom(tt.p)
			switch {
			case tt.name == "past segment end":
				if err != nil || next.Segment <= first.Segment {
					t.Fatalf("got %q next %v err %v, want the next segment's first record", rec, next, err)
				}
			case tt.want == nil:
				if err != io.EOF || next != j.End() {
					t.Fatalf("got %q next %v err %v, want EOF at %v", rec, next, err, j.End())
				}
			default:
				if err != nil || !bytes.Equal(rec, tt.want) {
					t.Fatalf("got %q err %v, want %q", rec, err, tt.want)
				}
			}
		})
	}
}

func TestAppendRejects(t *testing.T) {
	j := openT(t, t.TempDir(), Options{})
	if err := j.Append(nil); !errors.Is(err, ErrEmptyRecord) {
		t.Errorf("Append(nil) = %v", err)
	}
	if err := j.Append(make([]byte, MaxRecord+1)); err == nil {
		t.Error("Append of an oversized record succeeded")
	}
	if !j.Empty() {
		t.Error("rejected records were kept")
	}
}

func TestFailedAppend(t *testing.T) {
	errNoSpace := syscall.ENOSPC
	tests := []struct {
		name       string
		writeAt    func(f *os.File, b []byte, off int64) (int, error)
		sync       func(f *os.File) error
		truncate   func(f *os.File, size int64) error
		wantCause  error
		newSegment bool
	}{
		{
			name: "write fails halfway",
			writeAt: func(f *os.File, b []byte, off int64) (int, error) {
				n, _ := f.WriteAt(b[:len(b)/2], off)
				return n, &os.PathError{Op: "write", Path: f.Name(), Err: errNoSpace}
			},
			wantCause: errNoSpace,
		},
		{
			name:      "fsync fails",
			sync:      func(*os.File) error { return syscall.EIO },
			wantCause: syscall.EIO,
		},
		{
			name: "write and cut-off fail",
			writeAt: func(f *os.File, b []byte, off int64) (int, error) {
				n, _ := f.WriteAt(b[:len(b)-1], off)
				return n, errNoSpace
			},
			truncate:   func(*os.File, int64) error { return syscall.EIO },
			wantCause:  errNoSpace,
			newSegment: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			j := openT(t, dir, Options{})
			want := appendN(t, j, 0, 3)
			end, size := j.End(), j.Size()

			saveW, saveS, saveT := j.writeAt, j.sync, j.truncate
			if tt.writeAt != nil {
				j.writeAt = tt.writeAt
			}
			if tt.sync != nil {
				j.sync = tt.sync
			}
			if tt.truncate != nil {
				j.truncate = tt.truncate
			}
			err := j.Append([]byte("doomed record"))
			j.writeAt, j.sync, j.truncate = saveW, saveS, saveT
			if !errors.Is(err, tt.wantCause) {
				t.Fatalf("Append = %v, want %v", err, tt.wantCause)
			}
			if j.End() != end || j.Size() != size {
				t.Fatalf("failed Append moved End %v -> %v, Size %d -> %d", end, j.End(), size, j.Size())
			}
			if !tt.newSegment {
				fi, _ := os.Stat(filepath.Join(dir, segName(end.Segment)))
				if fi.Size() != end.Offset {
					t.Fatalf("segment is %d bytes, want %d", fi.Size(), end.Offset)
				}
			}

			want = append(want, appendN(t, j, 3, 2)...)
			if got := j.End().Segment != end.Segment; got != tt.newSegment {
				t.Errorf("moved to a new segment = %v, want %v", got, tt.newSegment)
			}
			got, _, errs := readAll(t, j, Position{})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			equalRecs(t, got, want)

			// After a restart the junk left by a failed cut-off is skipped
			// as corruption at the end of an older segment; no record is lost.
			j.Close()
			var logs testenv.LogBuffer
			j = openT(t, dir, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			got, _, errs = readAll(t, j, Position{})
			if tt.newSegment != (len(errs) == 1) {
				t.Errorf("errors after reopen: %v", errs)
			}
			equalRecs(t, got, want)
			if logs.String() != "" {
				t.Errorf("unexpected log at reopen: %s", logs.String())
			}
		})
	}
}

// parseRef is an independent parser of the record format: the records of
// the longest valid prefix of b.
func parseRef(b []byte) (recs [][]byte, n int) {
	for len(b)-n >= headerLen {
		l := int(binary.LittleEndian.Uint32(b[n:]))
		sum := binary.LittleEndian.Uint32(b[n+4:])
		if l == 0 || l > MaxRecord || len(b)-n-headerLen < l {
			break
		}
		p := b[n+headerLen : n+headerLen+l]
		if crc32.Checksum(p, crc32.MakeTable(crc32.Castagnoli)) != sum {
			break
		}
		recs = append(recs, p)
		n += headerLen + l
	}
	return recs, n
}

func FuzzReadSegment(f *testing.F) {
	valid := encodeRecord(encodeRecord(nil, []byte("hello")), []byte("world!"))
	f.Add([]byte{})
	f.Add(valid)
	f.Add(append(slices.Clone(valid), 1, 0, 0, 0))
	f.Add(append(slices.Clone(valid), make([]byte, 16)...))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Add(valid[:len(valid)-1])
	f.Fuzz(func(t *testing.T, data []byte) {
		want, validLen := parseRef(data)
		tail := []byte("tail record")

		// As the only (last) segment: the invalid tail is cut off at Open.
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segName(1)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		j, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if j.Size() != int64(validLen) {
			t.Fatalf("Size = %d, want %d", j.Size(), validLen)
		}
		if err := j.Append(tail); err != nil {
			t.Fatal(err)
		}
		got, _, errs := readAll(t, j, Position{})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		equalRecs(t, got, append(slices.Clone(want), tail))
		j.Close()

		// As a middle segment: read what is valid, then skip to segment 2.
		dir = t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segName(1)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, segName(2)), encodeRecord(nil, tail), 0o644); err != nil {
			t.Fatal(err)
		}
		j, err = Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		got, _, errs = readAll(t, j, Position{})
		for _, err := range errs {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
		}
		if (validLen < len(data)) != (len(errs) == 1) || len(errs) > 1 {
			t.Fatalf("valid prefix %d of %d bytes, errors %v", validLen, len(data), errs)
		}
		equalRecs(t, got, append(slices.Clone(want), tail))
	})
}

func benchmarkAppend(b *testing.B, sync bool) {
	j := openT(b, b.TempDir(), Options{})
	if !sync {
		j.sync = func(*os.File) error { return nil }
	}
	rec := bytes.Repeat([]byte{'h'}, 1024)
	b.SetBytes(int64(len(rec)))
	for b.Loop() {
		if err := j.Append(rec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppend(b *testing.B)       { benchmarkAppend(b, true) }
func BenchmarkAppendNoSync(b *testing.B) { benchmarkAppend(b, false) }
