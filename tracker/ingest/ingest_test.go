package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/lib/chdb"
	"github.com/xpromo/xpromo/lib/ids"
	"github.com/xpromo/xpromo/lib/metrics"
	"github.com/xpromo/xpromo/schema"
	"github.com/xpromo/xpromo/testkit/testenv"
	"github.com/xpromo/xpromo/tracker/buffer"
	"github.com/xpromo/xpromo/tracker/hit"
)

type env struct {
	r      *testenv.Redis
	db     *testenv.DB
	stream string
}

func newEnv(t *testing.T) *env {
	r := testenv.NewRedis(t)
	e := &env{r: r, db: testenv.ClickHouse(t), stream: buffer.StreamKey(r.Prefix, "t1")}
	if err := r.Client.SAdd(context.Background(), buffer.RegistryKey(r.Prefix), e.stream).Err(); err != nil {
		t.Fatal(err)
	}
	return e
}

// add writes hs as stream entries of groups of up to 7 hits, as the
// tracker's group commits do.
func (e *env) add(t *testing.T, hs ...*hit.Hit) {
	t.Helper()
	_, err := e.r.Client.Pipelined(context.Background(), func(p redis.Pipeliner) error {
		for start := 0; start < len(hs); start += 7 {
			var parts [][]byte
			for _, h := range hs[start:min(start+7, len(hs))] {
				parts = append(parts, h.Marshal())
			}
			p.XAdd(context.Background(), &redis.XAddArgs{Stream: e.stream, Values: []any{buffer.Field, hit.AppendGroup(nil, parts)}})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (e *env) count(t *testing.T, q string) uint64 {
	t.Helper()
	var n uint64
	if err := e.db.Conn.QueryRow(context.Background(), q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func clicks(n int) []*hit.Hit {
	out := make([]*hit.Hit, n)
	now := time.Now().UTC()
	for i := range out {
		out[i] = &hit.Hit{ID: ids.New(now), Time: now, Kind: hit.KindClick, Link: "l", Partner: "p",
			Partnership: "ps", Direction: vocab.DirectionInbound, Country: "DE", Visitor: fmt.Sprint("v", i%7)}
	}
	return out
}

func (e *env) run(t *testing.T, cfg Config, m *metrics.Metrics) (stop func()) {
	t.Helper()
	cfg.KeyPrefix = e.r.Prefix
	in, err := New(e.r.Client, e.db.Conn, cfg, testenv.Logger(t), m)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := in.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

func TestIngestWritesEveryKindAndDeletesEntries(t *testing.T) {
	e := newEnv(t)
	hs := clicks(2500)
	now := time.Now().UTC()
	conv := &hit.Hit{ID: ids.New(now), Time: now, Kind: hit.KindConversion, Event: "purchase",
		Amount: "19.99", Currency: "EUR", OrderID: "o1", Country: "FR"}
	rej := &hit.Hit{ID: ids.New(now), Time: now, Kind: hit.KindRejected, Endpoint: "/p.gif",
		Reason: "bad_amount", Query: "v=abc", Country: "ZZ"}
	e.add(t, append(hs, conv, rej)...)
	// An entry that is not a hit goes to the dead-letter stream, not lost.
	if err := e.r.Client.XAdd(context.Background(), &redis.XAddArgs{Stream: e.stream, Values: []any{buffer.Field, "garbage"}}).Err(); err != nil {
		t.Fatal(err)
	}
	m := metrics.Discard()
	e.run(t, Config{BatchSize: 1000, FlushInterval: 50 * time.Millisecond}, m)
	testenv.WaitFor(t, 30*time.Second, "all rows", func() bool {
		return e.count(t, "SELECT count() FROM hits") == 2500 && e.count(t, "SELECT count() FROM conversions") == 1 &&
			e.count(t, "SELECT count() FROM rejected_hits") == 1
	})
	testenv.WaitFor(t, 10*time.Second, "stream emptied", func() bool {
		n, _ := e.r.Client.XLen(context.Background(), e.stream).Result()
		return n == 0
	})
	var amount decimal.Decimal
	var cur, source, typ string
	var ts time.Time
	if err := e.db.Conn.QueryRow(context.Background(), "SELECT amount, currency, source, toString(type), ts FROM conversions").Scan(&amount, &cur, &source, &typ, &ts); err != nil {
		t.Fatal(err)
	}
	// A pixel conversion has no source (ours) and no occurred-at (its time).
	if !amount.Equal(decimal.RequireFromString("19.99")) || cur != "EUR" || source != "ours" || typ != "purchase" || !ts.Equal(now.Truncate(time.Second)) {
		t.Errorf("conversion stored as %s %s %s %s %v", amount, cur, source, typ, ts)
	}
	dl, err := e.r.Client.XLen(context.Background(), DeadLetterKey(e.r.Prefix)).Result()
	if err != nil || dl != 1 {
		t.Errorf("dead-letter stream has %d entries (%v), want 1", dl, err)
	}
	if got := testutil.ToFloat64(m.DeadLettered); got != 1 {
		t.Errorf("dead-lettered metric = %v", got)
	}
	if n := e.count(t, "SELECT uniqExact(id) FROM hits"); n != 2500 {
		t.Errorf("distinct ids = %d", n)
	}
}

// A consumer that inserted a batch and died before acknowledging it leaves
// the entries pending; another ingester claims them and must not store
// them again.
func TestRedeliveredEntriesAreNotStoredTwice(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	hs := clicks(3000)
	e.add(t, hs...)
	cfg := Config{KeyPrefix: e.r.Prefix, BatchSize: 100000, FlushInterval: 50 * time.Millisecond, ClaimIdle: 300 * time.Millisecond}
	cfg.Defaults()
	if err := e.r.Client.XGroupCreateMkStream(ctx, e.stream, cfg.Group, "0").Err(); err != nil {
		t.Fatal(err)
	}
	// The dead consumer read everything and stored the first 2000.
	if _, err := e.r.Client.XReadGroup(ctx, &redis.XReadGroupArgs{Group: cfg.Group, Consumer: "dead",
		Streams: []string{e.stream, ">"}, Count: 10000}).Result(); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	amounts := make([]decimal.Decimal, 2000)
	if err := chdb.InsertColumns(ctx, e.db.Conn, schema.Hits.Insert(), hitColumns(hs[:2000], amounts, now)); err != nil {
		t.Fatal(err)
	}
	m := metrics.Discard()
	e.run(t, cfg, m)
	testenv.WaitFor(t, 30*time.Second, "claimed entries written", func() bool {
		p, err := e.r.Client.XPending(ctx, e.stream, cfg.Group).Result()
		return err == nil && p.Count == 0 && e.count(t, "SELECT count() FROM hits") >= 3000
	})
	if n := e.count(t, "SELECT count() FROM hits"); n != 3000 {
		t.Fatalf("hits = %d, want 3000", n)
	}
	if n := e.count(t, "SELECT uniqExact(id) FROM hits"); n != 3000 {
		t.Fatalf("distinct ids = %d, want 3000", n)
	}
	if got := testutil.ToFloat64(m.Duplicates); got != 2000 {
		t.Errorf("duplicates metric = %v, want 2000", got)
	}
	// The reports' hourly rollup is fed by every insert: the redelivered
	// batch was not inserted again, so it counts every hit once.
	if n := e.count(t, "SELECT countMerge(hits) FROM hits_hourly"); n != 3000 {
		t.Fatalf("hits_hourly counts %d hits, want 3000", n)
	}
}

func TestShutdownWritesTheBatchItHolds(t *testing.T) {
	e := newEnv(t)
	e.add(t, clicks(700)...)
	stop := e.run(t, Config{BatchSize: 100000, FlushInterval: time.Hour}, metrics.Discard())
	testenv.WaitFor(t, 10*time.Second, "entries read", func() bool {
		p, err := e.r.Client.XPending(context.Background(), e.stream, "ingest").Result()
		return err == nil && p.Count == 100 // 700 hits in groups of 7
	})
	if n := e.count(t, "SELECT count() FROM hits"); n != 0 {
		t.Fatalf("written before the flush interval: %d", n)
	}
	stop()
	if n := e.count(t, "SELECT count() FROM hits"); n != 700 {
		t.Fatalf("after shutdown hits = %d, want 700", n)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{}, true},
		{"batch too big", Config{BatchSize: 2000000}, false},
		{"flush too often", Config{FlushInterval: time.Millisecond}, false},
		{"claim idle too small", Config{ClaimIdle: time.Millisecond}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Defaults()
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// The entries dead-lettered when ClickHouse refuses rows are found by the
// ids of the hits inside each entry's group.
func TestEntriesHolding(t *testing.T) {
	hs := clicks(5)
	group := func(hs ...*hit.Hit) []byte {
		var parts [][]byte
		for _, h := range hs {
			parts = append(parts, h.Marshal())
		}
		return hit.AppendGroup(nil, parts)
	}
	entries := []entry{
		newEntry("s", "1-0", group(hs[0], hs[1]), false),
		newEntry("s", "2-0", group(hs[2]), false),
		newEntry("s", "3-0", []byte("garbage"), false),
		newEntry("s", "4-0", group(hs[3], hs[4]), false),
	}
	got := entriesHolding(entries, map[string]bool{hs[1].ID: true, hs[4].ID: true})
	if len(got) != 2 || got[0].id != "1-0" || got[1].id != "4-0" {
		t.Fatalf("entriesHolding = %+v, want entries 1-0 and 4-0", got)
	}
}

// lostAnswer is a ClickHouse connection whose first failN batch sends are
// applied by the server and then reported failed, as when the connection
// breaks after the server took the block but before its answer arrived.
type lostAnswer struct {
	driver.Conn
	mu    sync.Mutex
	failN int
}

func (c *lostAnswer) PrepareBatch(ctx context.Context, query string, opts ...driver.PrepareBatchOption) (driver.Batch, error) {
	b, err := c.Conn.PrepareBatch(ctx, query, opts...)
	if err != nil {
		return nil, err
	}
	return &lostAnswerBatch{Batch: b, c: c}, nil
}

type lostAnswerBatch struct {
	driver.Batch
	c *lostAnswer
}

func (b *lostAnswerBatch) Send() error {
	if err := b.Batch.Send(); err != nil {
		return err
	}
	b.c.mu.Lock()
	defer b.c.mu.Unlock()
	if b.c.failN > 0 {
		b.c.failN--
		return errors.New("read: connection reset by peer")
	}
	return nil
}

// An insert reported failed although ClickHouse applied it is not written
// again by the retry: the retry first drops the rows already stored.
func TestRetriedInsertWhoseAnswerWasLostIsNotStoredTwice(t *testing.T) {
	e := newEnv(t)
	hs := clicks(1500)
	now := time.Now().UTC()
	hs = append(hs, &hit.Hit{ID: ids.New(now), Time: now, Kind: hit.KindConversion, Event: "purchase",
		Amount: "5", Currency: "EUR", OrderID: "o-lost", Country: "FR"})
	e.add(t, hs...)
	m := metrics.Discard()
	cfg := Config{KeyPrefix: e.r.Prefix, BatchSize: 100000, FlushInterval: 50 * time.Millisecond}
	in, err := New(e.r.Client, &lostAnswer{Conn: e.db.Conn, failN: 2}, cfg, testenv.Logger(t), m)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = in.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	testenv.WaitFor(t, 30*time.Second, "stream drained", func() bool {
		n, _ := e.r.Client.XLen(context.Background(), e.stream).Result()
		return n == 0
	})
	if n := e.count(t, "SELECT count() FROM hits"); n != 1500 {
		t.Errorf("hits = %d, want 1500", n)
	}
	if n := e.count(t, "SELECT count() FROM conversions"); n != 1 {
		t.Errorf("conversions = %d, want 1", n)
	}
	if got := testutil.ToFloat64(m.InsertFailures); got != 2 {
		t.Errorf("insert failures = %v, want 2", got)
	}
}

// Entries a tracker re-sent after Redis lost data are checked against
// ClickHouse even on first delivery: those already written are skipped.
func TestResentEntriesAreCheckedFirst(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	hs := clicks(700)
	amounts := make([]decimal.Decimal, 500)
	if err := chdb.InsertColumns(ctx, e.db.Conn, schema.Hits.Insert(), hitColumns(hs[:500], amounts, time.Now().UTC())); err != nil {
		t.Fatal(err)
	}
	var parts [][]byte
	for _, h := range hs {
		parts = append(parts, h.Marshal())
	}
	if err := e.r.Client.XAdd(ctx, &redis.XAddArgs{Stream: e.stream, Values: []any{buffer.Field, hit.AppendGroup(nil, parts), buffer.ResentField, "1"}}).Err(); err != nil {
		t.Fatal(err)
	}
	m := metrics.Discard()
	e.run(t, Config{BatchSize: 100000, FlushInterval: 50 * time.Millisecond}, m)
	testenv.WaitFor(t, 30*time.Second, "stream drained", func() bool {
		n, _ := e.r.Client.XLen(ctx, e.stream).Result()
		return n == 0
	})
	if n := e.count(t, "SELECT count() FROM hits"); n != 700 {
		t.Errorf("hits = %d, want 700", n)
	}
	if got := testutil.ToFloat64(m.Duplicates); got != 500 {
		t.Errorf("duplicates = %v, want 500", got)
	}
}

// Acknowledged entries are trimmed from the stream, but never one the
// group still needs: an entry pending in any consumer, or one not yet
// delivered, and so nothing above the first of those.
func TestAckTrimsOnlyWhatTheGroupNoLongerNeeds(t *testing.T) {
	cases := []struct {
		name      string
		readDead  int // entries another consumer reads and never acknowledges
		readOurs  int // entries read next by ours
		ackOurs   []int
		wantLeft  int // stream length after our acknowledgement
		wantAfter int // after the other consumer's entries are acknowledged too
	}{
		{name: "all read and acknowledged", readOurs: 10, ackOurs: seq(0, 10), wantLeft: 0},
		{name: "the rest not yet delivered", readOurs: 5, ackOurs: seq(0, 5), wantLeft: 5},
		{name: "an older entry pending elsewhere", readDead: 3, readOurs: 7, ackOurs: seq(3, 10), wantLeft: 10, wantAfter: 0},
		{name: "a gap in our own acknowledgements", readOurs: 10, ackOurs: append(seq(0, 4), seq(6, 10)...), wantLeft: 6},
		{name: "pending elsewhere, then undelivered", readDead: 2, readOurs: 4, ackOurs: seq(2, 6), wantLeft: 10, wantAfter: 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := testenv.NewRedis(t)
			ctx := context.Background()
			stream := buffer.StreamKey(r.Prefix, "trim")
			in, err := New(r.Client, nil, Config{KeyPrefix: r.Prefix, Consumer: "ours"}, testenv.Logger(t), metrics.Discard())
			if err != nil {
				t.Fatal(err)
			}
			var all []string
			for i := range 10 {
				id, err := r.Client.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{buffer.Field, fmt.Sprint(i)}}).Result()
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, id)
			}
			if err := r.Client.XGroupCreate(ctx, stream, in.cfg.Group, "0").Err(); err != nil {
				t.Fatal(err)
			}
			read := func(consumer string, n int) {
				if n == 0 {
					return
				}
				if err := r.Client.XReadGroup(ctx, &redis.XReadGroupArgs{Group: in.cfg.Group, Consumer: consumer,
					Streams: []string{stream, ">"}, Count: int64(n)}).Err(); err != nil {
					t.Fatal(err)
				}
			}
			ack := func(idx []int) {
				var es []entry
				for _, i := range idx {
					es = append(es, entry{stream: stream, id: all[i]})
				}
				if err := in.ack(ctx, es); err != nil {
					t.Fatal(err)
				}
			}
			left := func() []string {
				msgs, err := r.Client.XRange(ctx, stream, "-", "+").Result()
				if err != nil {
					t.Fatal(err)
				}
				var out []string
				for _, m := range msgs {
					out = append(out, m.ID)
				}
				return out
			}
			read("dead", tc.readDead)
			read("ours", tc.readOurs)
			ack(tc.ackOurs)
			got := left()
			if len(got) != tc.wantLeft {
				t.Fatalf("stream holds %d entries after our acknowledgement, want %d", len(got), tc.wantLeft)
			}
			// What is left is always the newest entries: a suffix.
			if len(got) > 0 && got[0] != all[10-len(got)] {
				t.Fatalf("stream starts at %s, want %s", got[0], all[10-len(got)])
			}
			if tc.readDead > 0 {
				ack(seq(0, tc.readDead))
				if got := left(); len(got) != tc.wantAfter {
					t.Fatalf("stream holds %d entries after every acknowledgement, want %d", len(got), tc.wantAfter)
				}
			}
		})
	}
}

// After Redis lost its data the flusher may acknowledge entries of a
// stream or group that no longer exists: there is nothing to trim, and it
// must not be an error (the flusher would retry it forever and stop the
// ingester).
func TestAckOfAStreamRedisLost(t *testing.T) {
	r := testenv.NewRedis(t)
	ctx := context.Background()
	in, err := New(r.Client, nil, Config{KeyPrefix: r.Prefix, Consumer: "ours"}, testenv.Logger(t), metrics.Discard())
	if err != nil {
		t.Fatal(err)
	}
	gone := []entry{{stream: buffer.StreamKey(r.Prefix, "gone"), id: "1-0"}}
	if err := in.ack(ctx, gone); err != nil {
		t.Fatalf("ack on a missing stream: %v", err)
	}
	// The stream again (the tracker writes to it), its group not yet.
	if err := r.Client.XAdd(ctx, &redis.XAddArgs{Stream: gone[0].stream, ID: "2-0", Values: []any{buffer.Field, "x"}}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := in.ack(ctx, gone); err != nil {
		t.Fatalf("ack on a stream without the group: %v", err)
	}
	if n, err := r.Client.XLen(ctx, gone[0].stream).Result(); err != nil || n != 1 {
		t.Fatalf("stream holds %d entries (%v), want the new one", n, err)
	}
}

func seq(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}
