// Package ingest moves hits from the Redis streams into ClickHouse in
// batches, acknowledging (and deleting) stream entries only after
// ClickHouse has them. Entries left pending by a crashed ingester are
// claimed and written again; since ClickHouse 18.16 cannot deduplicate
// inserts, such redelivered entries are first checked against what is
// already stored, so no hit is ever counted twice.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/redis/go-redis/v9"
	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/lib/metrics"
	"github.com/xpromo/xpromo/tracker/buffer"
	"github.com/xpromo/xpromo/tracker/hit"
)

// Config configures an Ingester.
type Config struct {
	KeyPrefix     string        // Redis key prefix, as the tracker's
	Group         string        // consumer group name
	Consumer      string        // this consumer's name; unique per running ingester
	BatchSize     int           // flush at this many hits...
	FlushInterval time.Duration // ...or when the oldest entry waited this long
	ReadCount     int           // entries (groups of hits) per XREADGROUP
	ClaimIdle     time.Duration // claim entries pending this long in another (dead) consumer
	ClaimEvery    time.Duration // how often to look for such entries
	MaxAttempts   int           // inserts refused by ClickHouse for their data before dead-lettering
	DrainTimeout  time.Duration // bound on the final flush at shutdown

	// AfterInsert, if set, runs after each successful insert and before the
	// entries are acknowledged: fault tests crash the process there.
	AfterInsert func()
}

// Defaults fills in zero fields.
func (c *Config) Defaults() {
	if c.KeyPrefix == "" {
		c.KeyPrefix = "xpromo:"
	}
	if c.Group == "" {
		c.Group = "ingest"
	}
	if c.Consumer == "" {
		host, _ := os.Hostname()
		c.Consumer = fmt.Sprintf("%s-%d-%d", host, os.Getpid(), time.Now().UnixNano()%1e6)
	}
	if c.BatchSize == 0 {
		c.BatchSize = 50000
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = time.Second
	}
	if c.ReadCount == 0 {
		c.ReadCount = 1000
	}
	if c.ClaimIdle == 0 {
		c.ClaimIdle = 30 * time.Second
	}
	if c.ClaimEvery == 0 {
		c.ClaimEvery = c.ClaimIdle / 3
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 5
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 30 * time.Second
	}
}

// Validate checks a Config after Defaults.
func (c *Config) Validate() error {
	switch {
	case c.BatchSize < 1 || c.BatchSize > 1000000:
		return fmt.Errorf("ingest: BatchSize %d out of range 1..1000000", c.BatchSize)
	case c.FlushInterval < 10*time.Millisecond:
		return fmt.Errorf("ingest: FlushInterval %v below 10ms", c.FlushInterval)
	case c.ClaimIdle < 100*time.Millisecond:
		return fmt.Errorf("ingest: ClaimIdle %v below 100ms", c.ClaimIdle)
	case c.ReadCount < 1:
		return fmt.Errorf("ingest: ReadCount %d must be positive", c.ReadCount)
	}
	return nil
}

const maxBlock = 500 * time.Millisecond

// DeadLetterKey is the stream where entries that cannot be stored go.
func DeadLetterKey(prefix string) string { return prefix + "deadletter" }

// Ingester is one consumer of the hit streams.
type Ingester struct {
	cfg Config
	rdb redis.UniversalClient
	ch  driver.Conn
	log *slog.Logger
	m   *metrics.Metrics
	now func() time.Time

	streams     []string
	groupsReady map[string]bool
}

// New returns an Ingester; Run starts it.
func New(rdb redis.UniversalClient, ch driver.Conn, cfg Config, log *slog.Logger, m *metrics.Metrics) (*Ingester, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Ingester{cfg: cfg, rdb: rdb, ch: ch, log: log, m: m, now: time.Now, groupsReady: map[string]bool{}}, nil
}

// entry is one stream entry: a group of hits.
type entry struct {
	stream string
	id     string
	data   []byte
	hits   int  // from the group's header; 1 if it is unreadable
	resent bool // re-sent by a tracker after Redis lost data: may be stored already
}

// anyResent reports whether a batch holds an entry that may be stored
// already, so the whole batch is checked against ClickHouse first.
func anyResent(entries []entry) bool {
	return slices.ContainsFunc(entries, func(e entry) bool { return e.resent })
}

// Run consumes until ctx is done, then writes what it holds with a fresh
// context bounded by DrainTimeout and returns.
func (in *Ingester) Run(ctx context.Context) error {
	var (
		pending   []entry
		hits      int // in pending
		oldest    time.Time
		lastClaim time.Time
		lastList  time.Time
		lastStats time.Time
	)
	// A flusher goroutine writes one batch while this loop reads the next,
	// so Redis reads and decoding overlap the ClickHouse insert. At most one
	// batch waits, which bounds memory to about two batches.
	flushCtx, cancelFlush := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelFlush()
	work := make(chan func(context.Context), 1)
	flusherDone := make(chan struct{})
	go func() {
		defer close(flusherDone)
		for job := range work {
			job(flushCtx)
		}
	}()
	flush := func() {
		if len(pending) == 0 {
			return
		}
		batch := pending
		work <- func(fctx context.Context) {
			if err := in.flush(fctx, batch, anyResent(batch)); err != nil {
				in.log.Error("ingest: batch not written; its entries stay pending and will be redelivered", "err", err, "entries", len(batch))
			}
		}
		pending, hits = nil, 0
	}
	// barrier waits until the flusher has written everything handed to it.
	barrier := func() {
		done := make(chan struct{})
		work <- func(context.Context) { close(done) }
		<-done
	}
	defer func() {
		// Shutdown: hand over what we hold and let the flusher finish,
		// bounded by DrainTimeout (then its retries are cut short and the
		// entries stay pending for redelivery).
		flush()
		close(work)
		t := time.NewTimer(in.cfg.DrainTimeout)
		defer t.Stop()
		select {
		case <-flusherDone:
		case <-t.C:
			cancelFlush()
			<-flusherDone
		}
	}()
	failing := false
	for ctx.Err() == nil {
		now := in.now()
		if now.Sub(lastList) > 2*time.Second {
			if err := in.refreshStreams(ctx); err != nil {
				if !failing && ctx.Err() == nil {
					in.log.Warn("ingest: Redis unavailable; retrying", "err", err)
				}
				failing = true
				sleep(ctx, time.Second)
				continue
			}
			if failing {
				in.log.Info("ingest: Redis reachable again")
				failing = false
			}
			lastList = now
		}
		if now.Sub(lastClaim) > in.cfg.ClaimEvery {
			// Our own batches go first so that claimed entries are not
			// mixed with entries read for the first time.
			flush()
			barrier()
			if err := in.recover(ctx); err != nil && ctx.Err() == nil {
				in.log.Warn("ingest: claiming pending entries failed", "err", err)
			}
			lastClaim = in.now()
		}
		if now.Sub(lastStats) > 5*time.Second {
			in.stats(ctx)
			lastStats = now
		}
		if len(in.streams) == 0 {
			sleep(ctx, 200*time.Millisecond)
			continue
		}
		// go-redis does not interrupt a blocked read when ctx ends, so the
		// block is kept short for a prompt shutdown.
		block := min(in.cfg.FlushInterval, maxBlock)
		if len(pending) > 0 {
			block = max(time.Millisecond, min(maxBlock, in.cfg.FlushInterval-in.now().Sub(oldest)))
		}
		got, err := in.read(ctx, in.cfg.ReadCount, block)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if strings.Contains(err.Error(), "NOGROUP") {
				in.groupsReady = map[string]bool{}
				lastList = time.Time{}
			}
			in.log.Warn("ingest: read failed", "err", err)
			sleep(ctx, 500*time.Millisecond)
			continue
		}
		if len(pending) == 0 && len(got) > 0 {
			oldest = in.now()
		}
		pending = append(pending, got...)
		for _, e := range got {
			hits += e.hits
		}
		if hits >= in.cfg.BatchSize || (len(pending) > 0 && in.now().Sub(oldest) >= in.cfg.FlushInterval) {
			flush()
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (in *Ingester) refreshStreams(ctx context.Context) error {
	list, err := in.rdb.SMembers(ctx, buffer.RegistryKey(in.cfg.KeyPrefix)).Result()
	if err != nil {
		return fmt.Errorf("list streams: %w", err)
	}
	sort.Strings(list)
	for _, s := range list {
		if in.groupsReady[s] {
			continue
		}
		// Id 0: a new group reads the stream from its beginning.
		err := in.rdb.XGroupCreateMkStream(ctx, s, in.cfg.Group, "0").Err()
		if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
			return fmt.Errorf("create group on %s: %w", s, err)
		}
		in.groupsReady[s] = true
	}
	in.streams = list
	return nil
}

func (in *Ingester) read(ctx context.Context, count int, block time.Duration) ([]entry, error) {
	args := make([]string, 0, 2*len(in.streams))
	args = append(args, in.streams...)
	for range in.streams {
		args = append(args, ">")
	}
	res, err := in.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: in.cfg.Group, Consumer: in.cfg.Consumer, Streams: args, Count: int64(count), Block: block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("xreadgroup: %w", err)
	}
	var out []entry
	for _, s := range res {
		for _, msg := range s.Messages {
			out = append(out, toEntry(s.Stream, msg))
		}
	}
	return out, nil
}

func toEntry(stream string, msg redis.XMessage) entry {
	s, _ := msg.Values[buffer.Field].(string)
	_, resent := msg.Values[buffer.ResentField]
	return newEntry(stream, msg.ID, []byte(s), resent)
}

// newEntry keeps the entry's data as it came: decoding waits for the
// flush, since a batch of decoded hits is full of pointers the garbage
// collector would scan again and again while the batch fills.
func newEntry(stream, id string, data []byte, resent bool) entry {
	n, err := hit.GroupLen(data)
	if err != nil || n == 0 {
		n = 1
	}
	return entry{stream: stream, id: id, data: data, hits: n, resent: resent}
}

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

// recover claims entries that another consumer read but never acknowledged
// for ClaimIdle (it died, or lost Redis) and writes them, skipping rows
// that are already stored.
func (in *Ingester) recover(ctx context.Context) error {
	for _, s := range in.streams {
		start := "0-0"
		for {
			msgs, next, err := in.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
				Stream: s, Group: in.cfg.Group, Consumer: in.cfg.Consumer,
				MinIdle: in.cfg.ClaimIdle, Start: start, Count: int64(in.cfg.ReadCount),
			}).Result()
			if err != nil {
				return fmt.Errorf("xautoclaim %s: %w", s, err)
			}
			if len(msgs) > 0 {
				batch := make([]entry, 0, len(msgs))
				for _, msg := range msgs {
					batch = append(batch, toEntry(s, msg))
				}
				in.log.Info("ingest: claimed pending entries", "stream", s, "entries", len(batch))
				if err := in.flush(ctx, batch, true); err != nil {
					return err
				}
			}
			if next == "0-0" || next == "" {
				break
			}
			start = next
		}
		in.forgetConsumers(ctx, s)
	}
	return nil
}

// consumerTTL: consumers idle this long with nothing pending are removed
// from the group (each ingester start joins under a new name).
const consumerTTL = time.Hour

func (in *Ingester) forgetConsumers(ctx context.Context, stream string) {
	consumers, err := in.rdb.XInfoConsumers(ctx, stream, in.cfg.Group).Result()
	if err != nil {
		return
	}
	for _, c := range consumers {
		if c.Name != in.cfg.Consumer && c.Pending == 0 && c.Idle > consumerTTL {
			if err := in.rdb.XGroupDelConsumer(ctx, stream, in.cfg.Group, c.Name).Err(); err == nil {
				in.log.Debug("ingest: removed idle consumer", "stream", stream, "consumer", c.Name)
			}
		}
	}
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
	return func(ctx context.Context) error {
		have, err := storedHits(ctx, in.ch, selectStoredHits, rs.hits)
		if err != nil {
			return err
		}
		rs.hits, rs.amounts = unstored(rs.hits, rs.amounts, have)
		in.m.Duplicates.Add(float64(len(have)))
		return nil
	}
}

func (rs *rowSet) dropStoredConversions(in *Ingester) func(context.Context) error {
	return func(ctx context.Context) error {
		have, err := storedHits(ctx, in.ch, selectStoredConversions, rs.conversions)
		if err != nil {
			return err
		}
		rs.conversions, rs.convAmounts = unstored(rs.conversions, rs.convAmounts, have)
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

// isDataError tells a refusal of the data (retrying cannot help) from an
// unavailable server (retry until it is back).
func isDataError(err error) bool {
	var ex *clickhouse.Exception
	return errors.As(err, &ex)
}

// flush writes one batch and acknowledges it. Insert failures are retried
// with backoff for as long as ctx allows; a batch ClickHouse keeps refusing
// for its content goes to the dead-letter stream. If ctx ends first the
// entries stay pending and are redelivered later.
func (in *Ingester) flush(ctx context.Context, entries []entry, redelivered bool) error {
	start := in.now()
	rs := decode(entries)
	if redelivered {
		if err := retry(ctx, in, "check stored ids", func() error { return in.dropStored(ctx, rs) }); err != nil {
			return err
		}
	}
	now := in.now().UTC().Truncate(time.Second)
	var dead []entry
	var deadWhy []string
	// write inserts prepared columns, retrying. A failed insert may have
	// been applied all the same (the connection broke after ClickHouse
	// took the block, before its answer came back), so before each retry
	// the rows already stored are dropped; the columns are rebuilt only then.
	write := func(table, query string, n func() int, cols func() []any, dropStored func(context.Context) error) error {
		if n() == 0 {
			return nil
		}
		prepared := cols()
		attempts := 0
		for {
			err := insertColumns(ctx, in.ch, query, prepared)
			if err == nil {
				in.m.Ingested.WithLabelValues(table).Add(float64(n()))
				return nil
			}
			in.m.InsertFailures.Inc()
			attempts++
			if isDataError(err) && attempts >= in.cfg.MaxAttempts {
				in.log.Error("ingest: ClickHouse keeps refusing a batch; dead-lettering it", "table", table, "rows", n(), "err", err)
				return errDeadLetter{err}
			}
			in.log.Warn("ingest: insert failed; retrying", "table", table, "rows", n(), "attempt", attempts, "err", err)
			in.heartbeat(ctx, entries)
			if !backoffSleep(ctx, attempts) {
				return fmt.Errorf("insert %s: %w", table, err)
			}
			if err := retry(ctx, in, "check stored ids before retrying "+table, func() error { return dropStored(ctx) }); err != nil {
				return err
			}
			if n() == 0 {
				return nil // the failed attempt had in fact stored every row
			}
			prepared = cols()
		}
	}
	idsOf := func(hs []*hit.Hit) map[string]bool {
		m := make(map[string]bool, len(hs))
		for _, h := range hs {
			m[h.ID] = true
		}
		return m
	}
	err := write("hits", insertHits, func() int { return len(rs.hits) },
		func() []any { return hitColumns(rs.hits, rs.amounts, now) }, rs.dropStoredHits(in))
	// deadLetter collects the entries of rows ClickHouse refused.
	var dl errDeadLetter
	deadLetterRows := func(hs []*hit.Hit) {
		for _, e := range entriesHolding(entries, idsOf(hs)) {
			if !slices.ContainsFunc(dead, func(d entry) bool { return d.stream == e.stream && d.id == e.id }) {
				dead, deadWhy = append(dead, e), append(deadWhy, dl.Error())
			}
		}
	}
	if errors.As(err, &dl) {
		deadLetterRows(rs.hits)
	} else if err != nil {
		return err
	}
	err = write("conversions", insertConversions, func() int { return len(rs.conversions) },
		func() []any { return conversionColumns(rs.conversions, rs.convAmounts, now) }, rs.dropStoredConversions(in))
	if errors.As(err, &dl) {
		deadLetterRows(rs.conversions)
	} else if err != nil {
		// The hits are stored; if we stop here they are redelivered and
		// found stored, so nothing is counted twice.
		return err
	}
	err = write("rejected_hits", insertRejected, func() int { return len(rs.rejected) },
		func() []any { return rejectedColumns(rs.rejected, now) }, rs.dropStoredRejected(in))
	if errors.As(err, &dl) {
		deadLetterRows(rs.rejected)
	} else if err != nil {
		return err
	}
	if in.cfg.AfterInsert != nil {
		in.cfg.AfterInsert()
	}
	dead, deadWhy = append(dead, rs.dead...), append(deadWhy, rs.deadWhy...)
	if len(dead) > 0 {
		if err := retry(ctx, in, "dead-letter", func() error { return in.deadLetter(ctx, dead, deadWhy) }); err != nil {
			return err
		}
	}
	if err := retry(ctx, in, "acknowledge", func() error { return in.ack(ctx, entries) }); err != nil {
		return err
	}
	in.m.BatchSize.Observe(float64(len(rs.hits) + len(rs.conversions) + len(rs.rejected)))
	in.m.BatchSeconds.Observe(in.now().Sub(start).Seconds())
	return nil
}

type errDeadLetter struct{ err error }

func (e errDeadLetter) Error() string { return "refused by ClickHouse: " + e.err.Error() }

func retry(ctx context.Context, in *Ingester, op string, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil {
			return nil
		}
		in.log.Warn("ingest: "+op+" failed; retrying", "attempt", attempt, "err", err)
		if !backoffSleep(ctx, attempt) {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
}

func backoffSleep(ctx context.Context, attempt int) bool {
	// Up to 3.2 s: cheap while ClickHouse is away, and the backlog starts
	// draining within seconds of its return.
	d := 100 * time.Millisecond << min(attempt-1, 5)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// heartbeat resets the idle time of entries we are still working on, so no
// other ingester claims them while we retry.
func (in *Ingester) heartbeat(ctx context.Context, entries []entry) {
	byStream := map[string][]string{}
	for _, e := range entries {
		byStream[e.stream] = append(byStream[e.stream], e.id)
	}
	for s, ids := range byStream {
		if err := in.rdb.XClaimJustID(ctx, &redis.XClaimArgs{
			Stream: s, Group: in.cfg.Group, Consumer: in.cfg.Consumer, MinIdle: 0, Messages: ids,
		}).Err(); err != nil && ctx.Err() == nil {
			in.log.Debug("ingest: heartbeat failed", "err", err)
		}
	}
}

// ack acknowledges the entries, then trims each stream below the oldest
// entry the group still needs, so the stream holds about only what is not
// yet in ClickHouse.
//
// Trimming by MINID rather than XDEL of each id: on Redis 7.0 XDEL cost
// about 1.4 µs per entry, a third of Redis's whole per-entry cost in
// ingest, while a trim frees whole listpack nodes at once. MAXLEN is never
// used: it drops entries still pending.
func (in *Ingester) ack(ctx context.Context, entries []entry) error {
	byStream := map[string][]string{}
	for _, e := range entries {
		byStream[e.stream] = append(byStream[e.stream], e.id)
	}
	_, err := in.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for s, ids := range byStream {
			for start := 0; start < len(ids); start += 10000 {
				p.XAck(ctx, s, in.cfg.Group, ids[start:min(start+10000, len(ids))]...)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("xack: %w", err)
	}
	for s := range byStream {
		if err := trimScript.Run(ctx, in.rdb, []string{s}, in.cfg.Group).Err(); err != nil {
			return fmt.Errorf("trim %s: %w", s, err)
		}
	}
	return nil
}

// trimScript trims a stream below the oldest entry its group (ARGV[1])
// still needs: the first pending entry or, with none pending, the first
// not yet delivered. Every entry below that one has been acknowledged, so
// it is in ClickHouse. One script, so no read or acknowledgement slips in
// between the look and the trim. Entries of other groups on the same
// stream are not waited for (as with XDEL): the stream belongs to ingest.
//
// A stream or group that is gone (Redis lost its data) has nothing to
// trim: that is not an error, or the flusher would retry it forever.
var trimScript = redis.NewScript(`
local floor
local p = redis.pcall('XPENDING', KEYS[1], ARGV[1])
if p.err then return 0 end
if p[1] > 0 then
  floor = p[2]
else
  local last
  local groups = redis.pcall('XINFO', 'GROUPS', KEYS[1])
  if groups.err then return 0 end
  for _, g in ipairs(groups) do
    local name, ld
    for i = 1, #g, 2 do
      if g[i] == 'name' then name = g[i+1] elseif g[i] == 'last-delivered-id' then ld = g[i+1] end
    end
    if name == ARGV[1] then last = ld end
  end
  if not last then return 0 end
  local ms, seq = string.match(last, '^(%d+)-(%d+)$')
  if not ms then return 0 end
  -- The id after the last delivered one; a sequence too long for Lua's
  -- numbers keeps that one entry instead.
  if #seq <= 12 then floor = ms .. '-' .. string.format('%d', tonumber(seq) + 1) else floor = last end
end
return redis.call('XTRIM', KEYS[1], 'MINID', floor)
`)

func (in *Ingester) deadLetter(ctx context.Context, dead []entry, why []string) error {
	_, err := in.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, e := range dead {
			p.XAdd(ctx, &redis.XAddArgs{Stream: DeadLetterKey(in.cfg.KeyPrefix), Values: []any{
				"stream", e.stream, "id", e.id, "reason", why[i], buffer.Field, e.data,
			}})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("dead-letter: %w", err)
	}
	in.m.DeadLettered.Add(float64(len(dead)))
	in.log.Error("ingest: entries moved to the dead-letter stream", "stream", DeadLetterKey(in.cfg.KeyPrefix), "entries", len(dead), "first_reason", why[0])
	return nil
}

// stats updates the backlog and lag gauges.
func (in *Ingester) stats(ctx context.Context) {
	var backlog int64
	var oldest time.Time
	for _, s := range in.streams {
		info, err := in.rdb.XInfoStream(ctx, s).Result()
		if err != nil {
			return
		}
		backlog += info.Length
		if info.Length > 0 {
			ms, _, _ := strings.Cut(info.FirstEntry.ID, "-")
			if v, err := strconv.ParseInt(ms, 10, 64); err == nil {
				if t := time.UnixMilli(v); oldest.IsZero() || t.Before(oldest) {
					oldest = t
				}
			}
		}
	}
	in.m.StreamBacklog.Set(float64(backlog))
	if oldest.IsZero() {
		in.m.StreamLag.Set(0)
	} else {
		in.m.StreamLag.Set(in.now().Sub(oldest).Seconds())
	}
}
