package hit

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/xpromo/xpromo/domain/vocab"
)

func sample() Hit {
	return Hit{
		ID: "01JDQ3Z6X8W9P2A1B3C4D5E6F7", Time: time.UnixMilli(1764000000123).UTC(),
		Kind: KindClick, Link: "demo", Partner: "acme", Partnership: "acme-de",
		Direction: vocab.DirectionInbound, Campaign: "xmas", Country: "DE", Visitor: "v1",
		RefHost: "news.example", Device: DeviceMobile, Bot: true,
	}
}

func TestRoundTrip(t *testing.T) {
	conv := Hit{ID: "X", Time: time.UnixMilli(5).UTC(), Kind: KindConversion, Event: "purchase",
		ClickRef: "C", OrderID: "o-1", Amount: "12.50", Currency: "EUR", Country: "ZZ"}
	rej := Hit{ID: "Y", Time: time.UnixMilli(-5).UTC(), Kind: KindRejected, Endpoint: "/p.gif",
		Reason: "bad_amount", Query: "v=" + strings.Repeat("9", 1000)}
	fb := sample()
	fb.Bot, fb.Fallback = false, true
	api := Hit{ID: "Z", Time: time.UnixMilli(1764000000123).UTC(), Kind: KindConversion, Event: "refund",
		OrderID: "o-9", Amount: "-3.5", Currency: "USD", UserID: "u-1", Source: "partner:acme",
		Fingerprint: "f00d", OccurredAt: time.UnixMilli(1763000000000).UTC(), Existing: true, Duplicate: true, Country: "DE"}
	sub := sample()
	sub.SubID = "newsletter-7"
	for _, h := range []Hit{sample(), conv, rej, fb, api, sub} {
		var got Hit
		if err := got.Unmarshal(h.Marshal()); err != nil {
			t.Fatalf("Unmarshal: %v", err)
		}
		if !reflect.DeepEqual(got, h) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, h)
		}
	}
}

// Version 1 encodings (streams and journals written before the conversion
// fields existed) still decode.
func TestUnmarshalVersion1(t *testing.T) {
	h := sample()
	b := h.Marshal()
	// Version 2 appends a zero occurred-at varint and three empty strings,
	// version 3 one more empty string.
	v1 := append([]byte{1}, b[1:len(b)-5]...)
	var got Hit
	if err := got.Unmarshal(v1); err != nil {
		t.Fatalf("Unmarshal v1: %v", err)
	}
	if !reflect.DeepEqual(got, h) {
		t.Fatalf("v1:\n got %+v\nwant %+v", got, h)
	}
	v2 := append([]byte{2}, b[1:len(b)-1]...)
	if err := got.Unmarshal(v2); err != nil || !reflect.DeepEqual(got, h) {
		t.Fatalf("v2: %v\n got %+v\nwant %+v", err, got, h)
	}
	if err := got.Unmarshal(append([]byte{4}, b[1:]...)); err == nil {
		t.Fatal("version 4 decoded")
	}
}

func TestUnmarshalRejectsCorrupt(t *testing.T) {
	h := sample()
	b := h.Marshal()
	tests := map[string][]byte{
		"empty":     nil,
		"version":   append([]byte{9}, b[1:]...),
		"kind":      append([]byte{1, 0}, b[2:]...),
		"truncated": b[:len(b)-1],
		"trailing":  append(append([]byte{}, b...), 0),
	}
	for name, in := range tests {
		var got Hit
		if err := got.Unmarshal(in); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func FuzzUnmarshal(f *testing.F) {
	h := sample()
	f.Add(h.Marshal())
	f.Add([]byte{1, 1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var got Hit
		if err := got.Unmarshal(b); err != nil {
			return
		}
		// Anything accepted must re-encode to an equal hit.
		var again Hit
		if err := again.Unmarshal(got.Marshal()); err != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("re-encode mismatch: %v", err)
		}
	})
}

func BenchmarkMarshal(b *testing.B) {
	h := sample()
	buf := make([]byte, 0, 256)
	for b.Loop() {
		buf = h.Append(buf[:0])
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	h := sample()
	enc := h.Marshal()
	var got Hit
	for b.Loop() {
		if err := got.Unmarshal(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func TestGroupRoundTrip(t *testing.T) {
	a, b := sample(), sample()
	b.ID = "other"
	g := AppendGroup(nil, [][]byte{a.Marshal(), b.Marshal(), {}})
	if n, err := GroupLen(g); err != nil || n != 3 {
		t.Fatalf("GroupLen = %d, %v", n, err)
	}
	parts, err := SplitGroup(g)
	if err != nil || len(parts) != 3 || len(parts[2]) != 0 {
		t.Fatalf("SplitGroup: %d parts, %v", len(parts), err)
	}
	var got Hit
	if err := got.Unmarshal(parts[1]); err != nil || got.ID != "other" {
		t.Fatalf("second hit: %+v %v", got, err)
	}
	for _, bad := range [][]byte{nil, {5}, g[:len(g)-1], append(append([]byte{}, g...), 1)} {
		if _, err := SplitGroup(bad); err == nil {
			t.Errorf("SplitGroup(%x) accepted", bad)
		}
	}
}

func FuzzSplitGroup(f *testing.F) {
	h := sample()
	f.Add(AppendGroup(nil, [][]byte{h.Marshal()}))
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, g []byte) {
		parts, err := SplitGroup(g)
		if err != nil {
			return
		}
		again, err := SplitGroup(AppendGroup(nil, parts))
		if err != nil || !reflect.DeepEqual(again, parts) {
			t.Fatalf("re-encode differs: %v", err)
		}
	})
}
