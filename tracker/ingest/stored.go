package ingest

import (
	"context"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/tracker/hit"
)

// storedHits returns which of hs are already in the table query reads.
func storedHits(ctx context.Context, ch driver.Conn, query string, hs []*hit.Hit) (map[string]bool, error) {
	if len(hs) == 0 {
		return nil, nil
	}
	from, to := timeRange(hs)
	ids := make([]string, len(hs))
	for i, h := range hs {
		ids[i] = h.ID
	}
	return stored(ctx, ch, query, from, to, ids)
}

func timeRange(hs []*hit.Hit) (time.Time, time.Time) {
	from, to := hs[0].Time, hs[0].Time
	for _, h := range hs[1:] {
		if h.Time.Before(from) {
			from = h.Time
		}
		if h.Time.After(to) {
			to = h.Time
		}
	}
	return from.Truncate(time.Second), to.Truncate(time.Second).Add(time.Second)
}

// dropStored removes rows whose ids are already in ClickHouse.
func (in *Ingester) dropStored(ctx context.Context, rs *rowSet) error {
	for _, drop := range []func(context.Context) error{rs.dropStoredHits(in), rs.dropStoredRejected(in), rs.dropStoredConversions(in)} {
		if err := drop(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (rs *rowSet) dropStoredHits(in *Ingester) func(context.Context) error {
	return in.dropStoredWithAmounts(selectStoredHits, &rs.hits, &rs.amounts)
}

func (rs *rowSet) dropStoredConversions(in *Ingester) func(context.Context) error {
	return in.dropStoredWithAmounts(selectStoredConversions, &rs.conversions, &rs.convAmounts)
}

// dropStoredWithAmounts drops the rows of *hs that query finds stored,
// with their amounts.
func (in *Ingester) dropStoredWithAmounts(query string, hs *[]*hit.Hit, amounts *[]decimal.Decimal) func(context.Context) error {
	return func(ctx context.Context) error {
		have, err := storedHits(ctx, in.ch, query, *hs)
		if err != nil {
			return err
		}
		*hs, *amounts = unstored(*hs, *amounts, have)
		in.m.Duplicates.Add(float64(len(have)))
		return nil
	}
}

func (rs *rowSet) dropStoredRejected(in *Ingester) func(context.Context) error {
	return func(ctx context.Context) error {
		have, err := storedHits(ctx, in.ch, selectStoredRejected, rs.rejected)
		if err != nil {
			return err
		}
		rs.rejected = slices.DeleteFunc(rs.rejected, func(h *hit.Hit) bool { return have[h.ID] })
		in.m.Duplicates.Add(float64(len(have)))
		return nil
	}
}

// unstored keeps the hits (and their amounts) whose ids are not in have,
// in place: index i is read before anything at or after it is written.
func unstored(hs []*hit.Hit, amounts []decimal.Decimal, have map[string]bool) ([]*hit.Hit, []decimal.Decimal) {
	keptH, keptA := hs[:0], amounts[:0]
	for i, h := range hs {
		if !have[h.ID] {
			keptH, keptA = append(keptH, h), append(keptA, amounts[i])
		}
	}
	return keptH, keptA
}
