package ingest

import (
	"errors"
	"fmt"
	"slices"

	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/tracker/hit"
)

// entriesHolding returns the entries that hold a hit whose id is in ids.
func entriesHolding(entries []entry, ids map[string]bool) []entry {
	var out []entry
	for _, e := range entries {
		hs, _, err := decodeEntry(e)
		if err == nil && slices.ContainsFunc(hs, func(h *hit.Hit) bool { return ids[h.ID] }) {
			out = append(out, e)
		}
	}
	return out
}

// rowSet is one decoded batch.
type rowSet struct {
	hits        []*hit.Hit
	amounts     []decimal.Decimal
	conversions []*hit.Hit
	convAmounts []decimal.Decimal
	rejected    []*hit.Hit
	dead        []entry // undecodable entries
	deadWhy     []string
}

func decode(entries []entry) *rowSet {
	total := 0
	for _, e := range entries {
		total += e.hits
	}
	rs := &rowSet{hits: make([]*hit.Hit, 0, total), amounts: make([]decimal.Decimal, 0, total)}
	d := decoder{left: total}
	seen := make(map[string]bool, total)
	for _, e := range entries {
		hs, amounts, err := d.entry(e.data)
		if err != nil {
			// The whole entry goes to the dead-letter stream, none of its
			// hits to ClickHouse: it can be inspected and replayed as one.
			rs.dead, rs.deadWhy = append(rs.dead, e), append(rs.deadWhy, err.Error())
			continue
		}
		for i, h := range hs {
			if seen[h.ID] {
				continue // the same hit twice in one batch: keep one
			}
			seen[h.ID] = true
			switch h.Kind {
			case hit.KindRejected:
				rs.rejected = append(rs.rejected, h)
				continue
			case hit.KindConversion:
				rs.conversions = append(rs.conversions, h)
				rs.convAmounts = append(rs.convAmounts, amounts[i])
				continue
			}
			rs.hits = append(rs.hits, h)
			rs.amounts = append(rs.amounts, amounts[i])
		}
	}
	return rs
}

// decodeEntry decodes the group of hits in one stream entry.
func decodeEntry(e entry) ([]*hit.Hit, []decimal.Decimal, error) {
	d := decoder{left: e.hits}
	return d.entry(e.data)
}

// decoder decodes the entries of a batch. Hits are allocated in chunks,
// not one by one, and the per-entry slices are reused: at one or two hits
// per entry, small allocations were a large share of the ingester's CPU.
type decoder struct {
	left    int // hits still expected, to size the next chunk
	chunk   []hit.Hit
	hs      []*hit.Hit
	amounts []decimal.Decimal
}

func (d *decoder) newHit() *hit.Hit {
	if len(d.chunk) == cap(d.chunk) {
		d.chunk = make([]hit.Hit, 0, min(max(d.left, 1), 4096))
	}
	d.left--
	d.chunk = d.chunk[:len(d.chunk)+1]
	return &d.chunk[len(d.chunk)-1]
}

// entry decodes one entry's group, whole or not at all. The slices it
// returns are valid until the next call; the hits they point to stay.
func (d *decoder) entry(data []byte) ([]*hit.Hit, []decimal.Decimal, error) {
	d.hs, d.amounts = d.hs[:0], d.amounts[:0]
	err := hit.EachInGroup(data, func(i int, p []byte) error {
		h := d.newHit()
		if err := h.Unmarshal(p); err != nil || h.ID == "" {
			return fmt.Errorf("undecodable hit %d of the entry", i)
		}
		var amount decimal.Decimal
		if h.Amount != "" {
			var err error
			if amount, err = decimal.NewFromString(h.Amount); err != nil {
				return fmt.Errorf("bad amount %q in hit %s", h.Amount, h.ID)
			}
		}
		d.hs, d.amounts = append(d.hs, h), append(d.amounts, amount)
		return nil
	})
	if errors.Is(err, hit.ErrCorrupt) {
		err = fmt.Errorf("undecodable entry: %w", err)
	}
	if err != nil {
		return nil, nil, err
	}
	return d.hs, d.amounts, nil
}
