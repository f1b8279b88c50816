package ids

import (
	"sort"
	"strings"
	"testing"
	"time"
)

func TestNewParseRoundTrip(t *testing.T) {
	tests := []time.Time{
		time.UnixMilli(0).UTC(),
		time.Date(2026, 11, 25, 12, 30, 1, 123e6, time.UTC),
		time.UnixMilli(1<<48 - 1).UTC(),
	}
	for _, at := range tests {
		id := New(at)
		if len(id) != Len {
			t.Fatalf("len(%q) = %d", id, len(id))
		}
		got, err := Parse(id)
		if err != nil {
			t.Fatalf("Parse(%q): %v", id, err)
		}
		if !got.Equal(at) {
			t.Errorf("Parse(New(%v)) = %v", at, got)
		}
		if _, err := Parse(strings.ToLower(id)); err != nil {
			t.Errorf("lower case %q rejected: %v", id, err)
		}
		if Canonical(strings.ToLower(id)) != id {
			t.Errorf("Canonical(lower) != %q", id)
		}
	}
}

func TestOrderedByTime(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var list []string
	for i := 0; i < 100; i++ {
		list = append(list, New(base.Add(time.Duration(i)*time.Millisecond)))
	}
	if !sort.StringsAreSorted(list) {
		t.Fatal("ids of increasing times do not sort as strings")
	}
}

func TestParseRejects(t *testing.T) {
	for _, s := range []string{
		"", "short", strings.Repeat("0", 25), strings.Repeat("0", 27),
		"8ZZZZZZZZZZZZZZZZZZZZZZZZZ", // overflows 128 bits
		"01ARZ3NDEKTSV4RRFFQ69G5FAU", // U is not in the alphabet
		"01ARZ3NDEKTSV4RRFFQ69G5FA\x00",
		"01ARZ3NDEKTSV4RRFFQ69G5FA\xff",
	} {
		if Valid(s) {
			t.Errorf("Valid(%q) = true", s)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(New(time.Now()))
	f.Add("01ARZ3NDEKTSV4RRFFQ69G5FAV")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		at, err := Parse(s)
		if err != nil {
			return
		}
		// Whatever parses re-encodes to the same time prefix.
		if got, _ := Parse(New(at)); !got.Equal(at) {
			t.Fatalf("time %v does not survive New/Parse", at)
		}
	})
}

func BenchmarkNew(b *testing.B) {
	now := time.Now()
	for b.Loop() {
		_ = New(now)
	}
}
