package main

import (
	"context"
	"testing"

	"github.com/xpromo/xpromo/testkit/testenv"
	"github.com/xpromo/xpromo/tracker/buffer"
	"github.com/xpromo/xpromo/tracker/hit"
)

// The filled stream is what the ingester reads: registered, and entries
// holding groups of decodable clicks.
func TestFillStream(t *testing.T) {
	r := testenv.NewRedis(t)
	ctx := context.Background()
	res, err := fillStream(ctx, fillConfig{
		RedisURL: r.URL, Prefix: r.Prefix, Instance: "fill", N: 1005, Group: 10, Chunk: 7, Parallel: 3,
		Link: "demo", Partner: "acme", Partnership: "acme-de", Campaign: "launch",
	})
	if err != nil {
		t.Fatal(err)
	}
	stream := buffer.StreamKey(r.Prefix, "fill")
	if res.Stream != stream || res.XLen != 101 { // 100 groups of 10 and one of 5
		t.Fatalf("stream %q, %d entries", res.Stream, res.XLen)
	}
	if ok, _ := r.Client.SIsMember(ctx, buffer.RegistryKey(r.Prefix), stream).Result(); !ok {
		t.Fatal("stream not registered")
	}
	msgs, err := r.Client.XRange(ctx, stream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	hits, ids := 0, map[string]bool{}
	for _, m := range msgs {
		parts, err := hit.SplitGroup([]byte(m.Values[buffer.Field].(string)))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			var h hit.Hit
			if err := h.Unmarshal(p); err != nil {
				t.Fatal(err)
			}
			if h.Kind != hit.KindClick || h.Link != "demo" || h.Partnership != "acme-de" || len(h.Country) != 2 || h.Bot || ids[h.ID] {
				t.Fatalf("hit %+v", h)
			}
			ids[h.ID] = true
			hits++
		}
	}
	if hits != 1005 {
		t.Fatalf("%d hits in the stream", hits)
	}
	if n, err := backlog(ctx, r.Client, r.Prefix); err != nil || n != 101 {
		t.Fatalf("backlog %d %v", n, err)
	}
}
