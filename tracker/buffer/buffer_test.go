package buffer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/xpromo/xpromo/lib/ids"
	"github.com/xpromo/xpromo/lib/metrics"
	"github.com/xpromo/xpromo/testkit/testenv"
	"github.com/xpromo/xpromo/tracker/hit"
	"github.com/xpromo/xpromo/tracker/journal"
)

func testHit(i int) *hit.Hit {
	return &hit.Hit{ID: ids.New(time.Now()), Time: time.Now().UTC(), Kind: hit.KindClick,
		Link: fmt.Sprintf("l%d", i), Country: "DE"}
}

func open(t *testing.T, rdb redis.UniversalClient, cfg Config) *Buffer {
	t.Helper()
	b, err := Open(context.Background(), rdb, cfg, testenv.Logger(t), metrics.Discard())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { b.Close(context.Background()) })
	return b
}

func commitClient(url string) *redis.Client {
	opts, _ := redis.ParseURL(url)
	opts.ContextTimeoutEnabled = true
	opts.MaxRetries = -1
	opts.DialTimeout = time.Second
	return redis.NewClient(opts)
}

// streamHits returns every hit id in the buffer's streams, failing on
// duplicates.
func streamHits(t *testing.T, rdb *redis.Client, b *Buffer) map[string]bool {
	t.Helper()
	out := allHits(t, rdb, b.Streams()...)
	for id := range out {
		out[id] = true // present, re-sent or not
	}
	return out
}

func submitAll(t *testing.T, b *Buffer, hs []*hit.Hit) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(hs))
	for _, h := range hs {
		wg.Go(func() { errs <- b.Submit(h) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Submit: %v", err)
		}
	}
}

func makeHits(n, from int) []*hit.Hit {
	out := make([]*hit.Hit, n)
	for i := range out {
		out[i] = testHit(from + i)
	}
	return out
}

func TestGroupCommitToRedis(t *testing.T) {
	r := testenv.NewRedis(t)
	b := open(t, commitClient(r.URL), Config{Dir: t.TempDir(), KeyPrefix: r.Prefix, Timeout: time.Second})
	hs := makeHits(2000, 0)
	submitAll(t, b, hs)
	got := streamHits(t, r.Client, b)
	if len(got) != len(hs) {
		t.Fatalf("stream has %d hits, want %d", len(got), len(hs))
	}
	for _, h := range hs {
		if !got[h.ID] {
			t.Fatalf("hit %s missing", h.ID)
		}
	}
	if b.Spilling() {
		t.Error("spilling although Redis is up")
	}
	for _, stream := range b.Streams() {
		member, err := r.Client.SIsMember(context.Background(), RegistryKey(r.Prefix), stream).Result()
		if err != nil || !member {
			t.Errorf("stream %s not registered for the ingester: %v %v", stream, member, err)
		}
	}
}

func TestRedisDownSpillsThenReplaysInOrder(t *testing.T) {
	srv := testenv.StartRedis(t)
	rdb := srv.Client()
	defer rdb.Close()
	b := open(t, commitClient(srv.URL), Config{Dir: t.TempDir(), KeyPrefix: "xp:"})

	first := makeHits(100, 0)
	submitAll(t, b, first)
	srv.Kill()
	down := makeHits(300, 100)
	start := time.Now()
	submitAll(t, b, down)
	t.Logf("300 hits while Redis was down answered in %v", time.Since(start))
	if !b.Spilling() || b.JournalBytes() == 0 {
		t.Fatalf("not spilling with Redis down (spilling=%v, journal=%d bytes)", b.Spilling(), b.JournalBytes())
	}
	srv.Start()
	testenv.WaitFor(t, 20*time.Second, "journal replayed", func() bool { return !b.Spilling() })
	after := makeHits(50, 400)
	submitAll(t, b, after)
	// A pooled connection from before the restart may fail once and send a
	// group through the journal again; it is replayed shortly.
	testenv.WaitFor(t, 20*time.Second, "journal replayed", func() bool { return !b.Spilling() })

	got := streamHits(t, rdb, b)
	for i, h := range append(append(first, down...), after...) {
		if !got[h.ID] {
			t.Errorf("hit %d (%s) lost", i, h.ID)
		}
	}
	if len(got) != 450 {
		t.Fatalf("stream has %d hits, want 450", len(got))
	}
	if b.JournalBytes() != 0 {
		t.Errorf("journal not cleared: %d bytes", b.JournalBytes())
	}
}

// The ambiguous case: a group timed out but Redis applied it, and the same
// group was also journaled. The replay must not add it again.
func TestReplayOfAppliedGroupAddsNothing(t *testing.T) {
	r := testenv.NewRedis(t)
	b := open(t, commitClient(r.URL), Config{Dir: t.TempDir(), KeyPrefix: r.Prefix, Timeout: time.Second})
	w := b.workers[0]
	var parts [][]byte
	for _, h := range makeHits(10, 0) {
		parts = append(parts, h.Marshal())
	}
	rec := &record{stream: w.stream, ids: []entryID{w.nextID()}, payload: [][]byte{hit.AppendGroup(nil, parts)}}
	if err := b.xadd(context.Background(), rec.stream, rec.ids[0], rec.payload[0]); err != nil {
		t.Fatalf("xadd: %v", err)
	}
	// Journal it as if the direct write had timed out, then let the replayer run.
	b.mu.Lock()
	b.spilling = true
	if err := b.j.Append(rec.marshal()); err != nil {
		t.Fatal(err)
	}
	b.mu.Unlock()
	b.wake <- struct{}{}
	testenv.WaitFor(t, 10*time.Second, "replay", func() bool { return !b.Spilling() })
	if n := len(streamHits(t, r.Client, b)); n != 10 {
		t.Fatalf("stream has %d hits after replaying an applied group, want 10", n)
	}
	// And a replay straight after, for good measure.
	if err := b.replay(context.Background(), []*record{rec}); err != nil {
		t.Fatalf("replay: %v", err)
	}
	if n := len(streamHits(t, r.Client, b)); n != 10 {
		t.Fatalf("stream has %d hits, want 10", n)
	}
}

// A replay that meets an error other than "already there" stops, so no
// later entry lands before the failed one (which would make the failed one
// look applied at the next try).
func TestReplayStopsAtFirstError(t *testing.T) {
	r := testenv.NewRedis(t)
	b := open(t, commitClient(r.URL), Config{Dir: t.TempDir(), KeyPrefix: r.Prefix, Timeout: time.Second})
	ctx := context.Background()
	bad := r.Prefix + "not-a-stream"
	if err := r.Client.Set(ctx, bad, "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	w := b.workers[0]
	group := hit.AppendGroup(nil, [][]byte{testHit(1).Marshal()})
	recs := []*record{
		{stream: w.stream, ids: []entryID{w.nextID()}, payload: [][]byte{group}},
		{stream: bad, ids: []entryID{{1, 0}}, payload: [][]byte{group}},
		{stream: w.stream, ids: []entryID{w.nextID()}, payload: [][]byte{group}},
	}
	err := b.replay(ctx, recs)
	if err == nil || !strings.Contains(err.Error(), "stopped after 1 of 3") {
		t.Fatalf("replay = %v, want a stop after the first entry", err)
	}
	if n, _ := r.Client.XLen(ctx, w.stream).Result(); n != 1 {
		t.Fatalf("stream has %d entries, want only the one before the error", n)
	}
	// Once the obstacle is gone, the same replay completes; the first entry
	// is recognised as already there.
	r.Client.Del(ctx, bad)
	if err := b.replay(ctx, recs); err != nil {
		t.Fatalf("second replay: %v", err)
	}
	if n, _ := r.Client.XLen(ctx, w.stream).Result(); n != 2 {
		t.Fatalf("stream has %d entries, want 2", n)
	}
}

func TestJournalSurvivesRestart(t *testing.T) {
	srv := testenv.StartRedis(t)
	rdb := srv.Client()
	defer rdb.Close()
	dir := t.TempDir()
	cfg := Config{Dir: dir, KeyPrefix: "xp:"}
	b, err := Open(context.Background(), commitClient(srv.URL), cfg, testenv.Logger(t), metrics.Discard())
	if err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	hs := makeHits(120, 0)
	submitAll(t, b, hs)
	streams := b.Streams()
	if err := b.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	srv.Start()
	b2 := open(t, commitClient(srv.URL), cfg)
	if fmt.Sprint(b2.Streams()) != fmt.Sprint(streams) {
		t.Fatalf("streams changed across restart: %v != %v", b2.Streams(), streams)
	}
	testenv.WaitFor(t, 20*time.Second, "journal replayed after restart", func() bool { return !b2.Spilling() })
	more := makeHits(30, 120)
	submitAll(t, b2, more)
	testenv.WaitFor(t, 20*time.Second, "journal replayed", func() bool { return !b2.Spilling() })
	got := streamHits(t, rdb, b2)
	if len(got) != 150 {
		t.Fatalf("stream has %d hits, want 150", len(got))
	}
}

// A clock that steps back between runs must not make ids go backwards.
func TestIDsIncreaseAcrossRestartWithClockStepBack(t *testing.T) {
	r := testenv.NewRedis(t)
	dir := t.TempDir()
	now := time.Now()
	cfg := Config{Dir: dir, KeyPrefix: r.Prefix, Timeout: time.Second, clock: func() time.Time { return now }}
	b, err := Open(context.Background(), commitClient(r.URL), cfg, testenv.Logger(t), metrics.Discard())
	if err != nil {
		t.Fatal(err)
	}
	submitAll(t, b, makeHits(5, 0))
	b.Close(context.Background())
	cfg.clock = func() time.Time { return now.Add(-time.Hour) }
	b2 := open(t, commitClient(r.URL), cfg)
	submitAll(t, b2, makeHits(5, 5))
	if b2.Spilling() {
		t.Fatal("writes after a clock step back were refused by Redis")
	}
	if n := len(streamHits(t, r.Client, b2)); n != 10 {
		t.Fatalf("stream has %d hits, want 10", n)
	}
}

func TestSubmitAfterClose(t *testing.T) {
	r := testenv.NewRedis(t)
	b := open(t, commitClient(r.URL), Config{Dir: t.TempDir(), KeyPrefix: r.Prefix})
	b.Close(context.Background())
	if err := b.Submit(testHit(0)); err != ErrClosed {
		t.Fatalf("Submit after Close = %v, want ErrClosed", err)
	}
}

func TestSecondBufferOnSameDirRefused(t *testing.T) {
	r := testenv.NewRedis(t)
	dir := t.TempDir()
	open(t, commitClient(r.URL), Config{Dir: dir, KeyPrefix: r.Prefix})
	_, err := Open(context.Background(), commitClient(r.URL), Config{Dir: dir, KeyPrefix: r.Prefix}, testenv.Logger(t), metrics.Discard())
	if err == nil {
		t.Fatal("a second buffer on the same directory was allowed")
	}
	if !errorsIs(err, journal.ErrLocked) {
		t.Fatalf("err = %v, want ErrLocked", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{Dir: "x"}, true},
		{"no dir", Config{}, false},
		{"timeout too small", Config{Dir: "x", Timeout: time.Microsecond}, false},
		{"group too big", Config{Dir: "x", MaxGroup: 1 << 20}, false},
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

func TestRecordRoundTrip(t *testing.T) {
	rec := &record{stream: "xp:hits:a", ids: []entryID{{1, 0}, {1, 1}, {5, 0}},
		payload: [][]byte{[]byte("a"), {}, []byte("ccc")}}
	var got record
	if err := got.unmarshal(rec.marshal()); err != nil {
		t.Fatal(err)
	}
	if got.stream != rec.stream || len(got.ids) != 3 || got.ids[2] != (entryID{5, 0}) || string(got.payload[2]) != "ccc" {
		t.Fatalf("round trip: %+v", got)
	}
}

func FuzzRecordUnmarshal(f *testing.F) {
	f.Add((&record{stream: "s", ids: []entryID{{1, 2}}, payload: [][]byte{[]byte("x")}}).marshal())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r record
		if r.unmarshal(b) != nil {
			return
		}
		var again record
		if err := again.unmarshal(r.marshal()); err != nil || again.stream != r.stream || len(again.ids) != len(r.ids) {
			t.Fatalf("re-encode mismatch: %v", err)
		}
	})
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// allHits returns every hit id in the given streams and whether each came
// in an entry marked as re-sent; a hit found twice fails.
func allHits(t *testing.T, rdb *redis.Client, streams ...string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, stream := range streams {
		msgs, err := rdb.XRange(context.Background(), stream, "-", "+").Result()
		if err != nil {
			t.Fatalf("XRANGE: %v", err)
		}
		for _, m := range msgs {
			_, resent := m.Values[ResentField]
			parts, err := hit.SplitGroup([]byte(m.Values[Field].(string)))
			if err != nil {
				t.Fatalf("entry %s: %v", m.ID, err)
			}
			for _, p := range parts {
				var h hit.Hit
				if err := h.Unmarshal(p); err != nil {
					t.Fatal(err)
				}
				if _, dup := out[h.ID]; dup {
					t.Fatalf("hit %s twice", h.ID)
				}
				out[h.ID] = resent
			}
		}
	}
	return out
}

// Redis restarted without AOF loses every entry: the guard sees the epoch
// gone and re-sends the window's groups to the re-send stream, marked;
// groups added after the restart stay where they are, unmarked.
func TestRedisLostDataIsResentFromTheWindow(t *testing.T) {
	srv := testenv.StartRedis(t)
	srv.Kill()
	srv.AOF = false
	srv.Start()
	rdb := commitClient(srv.URL)
	defer rdb.Close()
	check := srv.Client()
	defer check.Close()
	// At most 50 hits a group: 200 make 4 groups or more, so taking the
	// first leaves some to lose (200 submitted at once could otherwise all
	// share one group, and nothing would be left to re-send).
	b := open(t, rdb, Config{Dir: t.TempDir(), Timeout: 200 * time.Millisecond, GuardEvery: 20 * time.Millisecond, MaxGroup: 50})
	before := makeHits(200, 0)
	submitAll(t, b, before)
	// The ingester took the first group: deleted from the stream, so the
	// guard trims it from the window.
	ctx := context.Background()
	first, err := check.XRangeN(ctx, b.Streams()[0], "-", "+", 1).Result()
	if err != nil || len(first) != 1 {
		t.Fatalf("first entry: %v %v", first, err)
	}
	takenIDs := allHits(t, check, b.Streams()[0])
	check.XDel(ctx, b.Streams()[0], first[0].ID)
	testenv.WaitFor(t, 5*time.Second, "window trimmed", func() bool {
		e, _, _ := b.WindowStats()
		groups, _ := check.XLen(ctx, b.Streams()[0]).Result()
		return e == int(groups)
	})
	rest := allHits(t, check, b.Streams()[0])
	for id := range rest {
		delete(takenIDs, id)
	}
	taken := len(takenIDs)
	if taken == 0 || taken >= len(before) {
		t.Fatalf("the first group held %d of %d hits: want some taken and some left to lose", taken, len(before))
	}
	wasTaken := func(id string) bool { _, ok := takenIDs[id]; return ok }

	srv.Kill()
	srv.Start()
	after := makeHits(50, 1000)
	submitAll(t, b, after)
	resend := ResendStream(b.cfg.KeyPrefix, b.Instance())
	testenv.WaitFor(t, 10*time.Second, "lost groups re-sent", func() bool {
		n, _ := check.XLen(ctx, resend).Result()
		return n > 0 && len(allHits(t, check, b.Streams()[0], resend)) == 250-taken
	})
	got := allHits(t, check, b.Streams()[0], resend)
	for i, h := range before {
		resent, ok := got[h.ID]
		switch {
		case wasTaken(h.ID) && ok:
			t.Errorf("hit %d was ingested before the loss and re-sent anyway", i)
		case !wasTaken(h.ID) && (!ok || !resent):
			t.Errorf("hit %d lost with Redis: found %v, marked re-sent %v", i, ok, resent)
		}
	}
	for _, h := range after {
		if resent, ok := got[h.ID]; !ok || resent {
			t.Errorf("hit after the restart: found %v, marked re-sent %v", ok, resent)
		}
	}
	if n, _ := check.SIsMember(ctx, RegistryKey(b.cfg.KeyPrefix), resend).Result(); !n {
		t.Error("re-send stream not registered for the ingester")
	}
	// Later checks re-send nothing more.
	n1, _ := check.XLen(ctx, resend).Result()
	time.Sleep(200 * time.Millisecond)
	if n2, _ := check.XLen(ctx, resend).Result(); n2 != n1 {
		t.Errorf("re-send stream grew from %d to %d entries without a loss", n1, n2)
	}
}

// A full window evicts its oldest entries and counts their hits; adding
// stays cheap however many entries it holds.
func TestWindowEvictsOldestWhenFull(t *testing.T) {
	payload := hit.AppendGroup(nil, [][]byte{testHit(0).Marshal(), testHit(1).Marshal()})
	w := &window{max: int64(len(payload)) * 1000}
	start := time.Now()
	for i := range 200000 {
		w.add(entryID{ms: uint64(i + 1)}, payload)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("200k adds to a full window took %v", d)
	}
	n, bytes, evicted := w.size()
	if n != 1000 || bytes != int64(len(payload))*1000 || evicted != 2*199000 {
		t.Fatalf("entries %d, bytes %d, evicted hits %d", n, bytes, evicted)
	}
	if first := w.snapshot()[0].id; first != (entryID{ms: 199001}) {
		t.Fatalf("oldest kept %v", first)
	}
	// The stream's first entry passed every evicted id: covered again.
	w.trimBelow(entryID{ms: 199500}, false)
	if n, _, evicted := w.size(); n != 501 || evicted != 0 {
		t.Fatalf("after trim: entries %d, evicted %d", n, evicted)
	}
}

// TestSpillingGaugeFollowsTheJournal: xpromo_spilling and
// xpromo_journal_bytes report the state they describe even when the replay
// ends between a group's journal append and the end of its commit. They
// were set after the buffer's lock was released, so a replay finishing in
// between left xpromo_spilling at 1 with an empty journal (and `make bench`
// waiting its full minute for spilling to end).
func TestSpillingGaugeFollowsTheJournal(t *testing.T) {
	srv := testenv.StartRedis(t)
	m := metrics.Discard()
	spilled, resume := make(chan struct{}), make(chan struct{})
	var once sync.Once
	// Armed once Redis is killed: on a loaded machine a commit before that
	// can miss its timeout and spill too, and holding it would block the
	// submissions below for good.
	var armed atomic.Bool
	cfg := Config{Dir: t.TempDir(), KeyPrefix: "xp:", afterSpill: func() {
		if armed.Load() {
			once.Do(func() { spilled <- struct{}{}; <-resume }) // hold the first spilled commit after the kill
		}
	}}
	b, err := Open(context.Background(), commitClient(srv.URL), cfg, testenv.Logger(t), m)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { b.Close(context.Background()) })
	submitAll(t, b, makeHits(10, 0))

	srv.Kill()
	armed.Store(true)
	h := testHit(10)
	done := make(chan error, 1)
	go func() { done <- b.Submit(h) }()
	select {
	case <-spilled:
	case <-time.After(20 * time.Second):
		t.Fatal("the hit submitted with Redis down did not go to the journal")
	}
	if got := testutil.ToFloat64(m.Spilling); got != 1 {
		t.Errorf("xpromo_spilling = %v right after a group went to the journal, want 1", got)
	}
	// Redis back, and the journal replayed to its end, while the commit
	// that spilled is held between its append and its end.
	srv.Start()
	testenv.WaitFor(t, 20*time.Second, "journal replayed", func() bool { return !b.Spilling() && b.JournalBytes() == 0 })
	close(resume)
	if err := <-done; err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if b.Spilling() || b.JournalBytes() != 0 {
		t.Fatalf("spilling again (%v, %d bytes)", b.Spilling(), b.JournalBytes())
	}
	if got := testutil.ToFloat64(m.Spilling); got != 0 {
		t.Errorf("xpromo_spilling = %v with the journal replayed and empty, want 0", got)
	}
	if got := testutil.ToFloat64(m.JournalBytes); got != 0 {
		t.Errorf("xpromo_journal_bytes = %v with an empty journal, want 0", got)
	}
	if !streamHits(t, srv.Client(), b)[h.ID] {
		t.Errorf("the journaled hit %s is not in Redis after the replay", h.ID)
	}
}
