package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/tracker/hit"
)

const (
	// A redelivered batch may already be stored (a crash between insert and
	// acknowledgement). The ts range lets ClickHouse skip other partitions;
	// the ids come as one bound array (a slice binds as an array literal).
	selectStoredHits     = `SELECT id FROM hits WHERE ts >= ? AND ts <= ? AND id IN (SELECT arrayJoin(?))`
	selectStoredRejected = `SELECT id FROM rejected_hits WHERE ts >= ? AND ts <= ? AND id IN (SELECT arrayJoin(?))`
	// Conversions are partitioned by when they happened; the range is on
	// when they were received, which the hit's time is.
	selectStoredConversions = `SELECT id FROM conversions WHERE received_at >= ? AND received_at <= ? AND id IN (SELECT arrayJoin(?))`
)

// dedupChunk keeps each IN list far below max_query_size (256 KiB).
const dedupChunk = 2000

func boolU8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func country(c string) string {
	if len(c) != 2 {
		return "ZZ"
	}
	return c
}

func directionName(d vocab.Direction) string {
	if d == vocab.DirectionNone {
		return "none"
	}
	return d.String()
}

// rejectedColumns turns rejected hits into the columns of schema.RejectedHits.
func rejectedColumns(hs []*hit.Hit, now time.Time) []any {
	n := len(hs)
	var (
		id, endpoint, reason, query = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		link, partner, partnership  = make([]string, n), make([]string, n), make([]string, n)
		cc                          = make([]string, n)
		ts, ingested                = make([]time.Time, n), make([]time.Time, n)
		bot                         = make([]uint8, n)
	)
	for i, h := range hs {
		id[i], ts[i], endpoint[i], reason[i], query[i] = h.ID, h.Time, h.Endpoint, h.Reason, h.Query
		link[i], partner[i], partnership[i], cc[i], bot[i], ingested[i] = h.Link, h.Partner, h.Partnership, country(h.Country), boolU8(h.Bot), now
	}
	return []any{id, ts, endpoint, reason, query, link, partner, partnership, cc, bot, ingested}
}

// hitColumns turns rows into the columns of schema.Hits, in order. Appending
// whole columns avoids clickhouse-go's per-row reflection on the hot path.
func hitColumns(hs []*hit.Hit, amounts []decimal.Decimal, now time.Time) []any {
	n := len(hs)
	var (
		id, kind, link, partner, partnership = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		dir, campaign, cc, visitor, ref      = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		device, event, click, order, cur     = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		ts, ingested                         = make([]time.Time, n), make([]time.Time, n)
		bot, fallback                        = make([]uint8, n), make([]uint8, n)
		fingerprint, sub                     = make([]string, n), make([]string, n)
	)
	for i, h := range hs {
		id[i], ts[i], kind[i], link[i], partner[i], partnership[i] = h.ID, h.Time, h.Kind.String(), h.Link, h.Partner, h.Partnership
		dir[i], campaign[i], cc[i], visitor[i], ref[i] = directionName(h.Direction), h.Campaign, country(h.Country), h.Visitor, h.RefHost
		device[i], bot[i], event[i], click[i], order[i], cur[i] = h.Device.String(), boolU8(h.Bot), h.Event, h.ClickRef, h.OrderID, h.Currency
		ingested[i], fallback[i], fingerprint[i], sub[i] = now, boolU8(h.Fallback), h.Fingerprint, h.SubID
	}
	return []any{id, ts, kind, link, partner, partnership, dir, campaign, cc, visitor, ref, device, bot, event, click, order, amounts, cur, ingested, fallback, fingerprint, sub}
}

// conversionColumns turns conversion hits into the columns of
// schema.Conversions. A conversion without a source came from the pixel:
// our product.
func conversionColumns(hs []*hit.Hit, amounts []decimal.Decimal, now time.Time) []any {
	n := len(hs)
	var (
		id, typ, source, user, order = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		click, visitor, fp, cur      = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		link, partner, partnership   = make([]string, n), make([]string, n), make([]string, n)
		cc                           = make([]string, n)
		ts, received, ingested       = make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
		existing, duplicate          = make([]uint8, n), make([]uint8, n)
	)
	for i, h := range hs {
		id[i], typ[i], source[i], user[i], order[i] = h.ID, h.Event, h.Source, h.UserID, h.OrderID
		if source[i] == "" {
			source[i] = vocab.SourceOurs
		}
		ts[i], received[i], ingested[i] = h.OccurredAt, h.Time, now
		if ts[i].IsZero() {
			ts[i] = h.Time
		}
		click[i], visitor[i], fp[i], cur[i] = h.ClickRef, h.Visitor, h.Fingerprint, h.Currency
		link[i], partner[i], partnership[i], cc[i] = h.Link, h.Partner, h.Partnership, country(h.Country)
		existing[i], duplicate[i] = boolU8(h.Existing), boolU8(h.Duplicate)
	}
	return []any{id, ts, received, typ, source, user, order, click, visitor, fp, existing, duplicate, amounts, cur, link, partner, partnership, cc, ingested}
}

// stored returns which of ids (all with times in [from, to]) are in the
// table that query reads.
func stored(ctx context.Context, conn driver.Conn, query string, from, to time.Time, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	for start := 0; start < len(ids); start += dedupChunk {
		chunk := ids[start:min(start+dedupChunk, len(ids))]
		rows, err := conn.Query(ctx, query, from, to, chunk)
		if err != nil {
			return nil, fmt.Errorf("check stored ids: %w", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("check stored ids: %w", err)
			}
			out[id] = true
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("check stored ids: %w", err)
		}
	}
	return out, nil
}
