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

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/redis/go-redis/v9"

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
