package conversion

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/testkit/testenv"
	"github.com/xpromo/xpromo/tracker/hit"
)

func dec(s string) *decimal.Decimal { d := decimal.RequireFromString(s); return &d }

func TestNormalize(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		in    Input
		field string // "" when valid
		check func(Input) bool
	}{
		{"signup", Input{Type: "signup", UserID: "u1"}, "", func(in Input) bool { return in.OccurredAt.Equal(now) && in.Amount == nil }},
		{"signup without user", Input{Type: "signup"}, "user_id", nil},
		{"signup with amount", Input{Type: "signup", UserID: "u", Amount: dec("1")}, "amount", nil},
		{"purchase", Input{Type: "purchase", OrderID: "o", Amount: dec("12.50"), Currency: "eur"}, "", func(in Input) bool { return in.Currency == "EUR" }},
		{"purchase without order", Input{Type: "purchase", Amount: dec("1"), Currency: "EUR"}, "order_id", nil},
		{"purchase without amount", Input{Type: "purchase", OrderID: "o", Currency: "EUR"}, "amount", nil},
		{"purchase without currency", Input{Type: "purchase", OrderID: "o", Amount: dec("1")}, "currency", nil},
		{"bad currency", Input{Type: "purchase", OrderID: "o", Amount: dec("1"), Currency: "EURO"}, "currency", nil},
		{"negative", Input{Type: "purchase", OrderID: "o", Amount: dec("-1"), Currency: "EUR"}, "amount", nil},
		{"five decimals", Input{Type: "purchase", OrderID: "o", Amount: dec("1.00001"), Currency: "EUR"}, "amount", nil},
		{"trailing zeros", Input{Type: "purchase", OrderID: "o", Amount: dec("1.100000"), Currency: "EUR"}, "", nil},
		{"too large", Input{Type: "purchase", OrderID: "o", Amount: dec("100000000000000"), Currency: "EUR"}, "amount", nil},
		{"full refund", Input{Type: "refund", OrderID: "o", Currency: "EUR"}, "", func(in Input) bool { return in.Amount != nil && in.Amount.IsZero() }},
		{"full refund without currency", Input{Type: "refund", OrderID: "o"}, "", func(in Input) bool { return in.Amount != nil && in.Amount.IsZero() && in.Currency == "" }},
		{"partial refund without currency", Input{Type: "refund", OrderID: "o", Amount: dec("2")}, "currency", nil},
		{"unknown type", Input{Type: "cancel"}, "type", nil},
		{"no type", Input{}, "type", nil},
		{"future", Input{Type: "signup", UserID: "u", OccurredAt: now.Add(10 * time.Minute)}, "occurred_at", nil},
		{"skew", Input{Type: "signup", UserID: "u", OccurredAt: now.Add(time.Minute)}, "", nil},
		{"too old", Input{Type: "signup", UserID: "u", OccurredAt: now.AddDate(-2, 0, 0)}, "occurred_at", nil},
		{"long id", Input{Type: "signup", UserID: strings.Repeat("x", 129)}, "user_id", nil},
		{"control char", Input{Type: "signup", UserID: "a\nb"}, "user_id", nil},
		{"bad utf8", Input{Type: "signup", UserID: "\xff"}, "user_id", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			fe := in.Normalize(now)
			switch {
			case tt.field == "" && fe != nil:
				t.Fatalf("refused: %v", fe)
			case tt.field != "" && (fe == nil || fe.Field != tt.field):
				t.Fatalf("got %v, want an error on %s", fe, tt.field)
			case tt.check != nil && !tt.check(in):
				t.Fatalf("normalized to %+v", in)
			}
		})
	}
}

type recorder struct {
	mu   sync.Mutex
	hits []hit.Hit
	fail error
}

func (r *recorder) Submit(h *hit.Hit) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.hits = append(r.hits, *h)
	return nil
}

// TestRecorder checks the repeat detection against a real Redis; the
// buffer is a recorder here (it is tested on its own, with Redis).
func TestRecorder(t *testing.T) {
	r := testenv.NewRedis(t)
	ctx := context.Background()
	buf := &recorder{}
	salts := NewSalts(r.Client, r.Prefix, testenv.Logger(t))
	if err := salts.Load(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	rec := NewRecorder(r.Client, r.Prefix, buf, salts)
	now := time.Now().UTC()
	steps := []struct {
		source string
		in     Input
		dup    bool
	}{
		{vocab.SourceOurs, Input{Type: "signup", UserID: "u1", IP: "8.8.8.8", UserAgent: "UA"}, false},
		{vocab.SourceOurs, Input{Type: "signup", UserID: "u1"}, true},
		{"partner:acme", Input{Type: "signup", UserID: "u1"}, false}, // another source's user 1
		{vocab.SourceOurs, Input{Type: "purchase", OrderID: "o1", Amount: dec("5"), Currency: "EUR"}, false},
		{vocab.SourceOurs, Input{Type: "purchase", OrderID: "o1", Amount: dec("5"), Currency: "EUR"}, true},
		{vocab.SourceOurs, Input{Type: "refund", OrderID: "o1", Currency: "EUR"}, false}, // a refund of o1 is not a repeat of its purchase
	}
	for i, s := range steps {
		in := s.in
		if fe := in.Normalize(now); fe != nil {
			t.Fatal(fe)
		}
		got, err := rec.Record(ctx, s.source, in, &hit.Hit{Country: "DE"})
		if err != nil || got.Duplicate != s.dup || got.ID == "" {
			t.Fatalf("step %d: %+v %v, want duplicate %v", i, got, err, s.dup)
		}
	}
	if len(buf.hits) != len(steps) {
		t.Fatalf("submitted %d, want %d (repeats are stored, marked)", len(buf.hits), len(steps))
	}
	first := buf.hits[0]
	if first.Kind != hit.KindConversion || first.Event != "signup" || first.Source != vocab.SourceOurs || first.Country != "DE" ||
		len(first.Fingerprint) != 32 || first.Duplicate || !buf.hits[1].Duplicate {
		t.Fatalf("first hit %+v", first)
	}
	if buf.hits[3].Amount != "5" || buf.hits[3].Currency != "EUR" || buf.hits[5].Amount != "0" {
		t.Fatalf("amounts: %q %q", buf.hits[3].Amount, buf.hits[5].Amount)
	}

	// A conversion the buffer could not keep is forgotten, so its retry
	// is not answered as a repeat.
	buf.fail = errors.New("journal full")
	in := Input{Type: "purchase", OrderID: "o9", Amount: dec("1"), Currency: "EUR"}
	if fe := in.Normalize(now); fe != nil {
		t.Fatal(fe)
	}
	if _, err := rec.Record(ctx, vocab.SourceOurs, in, nil); err == nil {
		t.Fatal("Record with a failing buffer succeeded")
	}
	buf.fail = nil
	if got, err := rec.Record(ctx, vocab.SourceOurs, in, nil); err != nil || got.Duplicate {
		t.Fatalf("retry after a failed submit: %+v %v", got, err)
	}

	// Redis down: nothing recorded, ErrUnavailable.
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer down.Close()
	n := len(buf.hits)
	if _, err := NewRecorder(down, r.Prefix, buf, nil).Record(ctx, vocab.SourceOurs, in, nil); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Redis down: %v, want ErrUnavailable", err)
	}
	if len(buf.hits) != n {
		t.Fatal("a conversion was submitted without its repeat check")
	}
}

func TestSalts(t *testing.T) {
	r := testenv.NewRedis(t)
	ctx := context.Background()
	a := NewSalts(r.Client, r.Prefix, nil)
	b := NewSalts(r.Client, r.Prefix, nil) // another tracker
	now := time.Date(2026, 11, 26, 23, 59, 0, 0, time.UTC)
	for _, s := range []*Salts{a, b} {
		if err := s.Load(ctx, now); err != nil {
			t.Fatal(err)
		}
	}
	fa, fb := a.Fingerprint("8.8.8.8", "UA", now), b.Fingerprint("::ffff:8.8.8.8", "UA", now)
	if fa == "" || fa != fb {
		t.Fatalf("two trackers, one day: %q vs %q", fa, fb)
	}
	tomorrow := now.Add(2 * time.Minute)
	if f := a.Fingerprint("8.8.8.8", "UA", tomorrow); f == "" || f == fa {
		t.Fatalf("the next day's fingerprint %q (today %q): want a different, known salt", f, fa)
	}
	for _, other := range []string{a.Fingerprint("8.8.4.4", "UA", now), a.Fingerprint("8.8.8.8", "UA2", now)} {
		if other == fa {
			t.Fatal("different address or agent, same fingerprint")
		}
	}
	if f := a.Fingerprint("8.8.8.8", "UA", now.AddDate(0, 0, 5)); f != "" {
		t.Fatalf("a day whose salt is not loaded gave %q", f)
	}
	if f := a.Fingerprint("not-an-ip", "UA", now); f != "" {
		t.Fatalf("a bad address gave %q", f)
	}
	ttl, err := r.Client.TTL(ctx, r.Prefix+"salt:2026-11-26").Result()
	if err != nil || ttl <= 0 || ttl > SaltTTL {
		t.Fatalf("salt TTL %v (%v): want it to expire within %v", ttl, err, SaltTTL)
	}
}

// FuzzNormalize: any JSON a client sends either normalizes into a
// conversion that satisfies the rules or is refused with a field; it never
// panics.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		`{"type":"signup","user_id":"u1"}`,
		`{"type":"purchase","order_id":"o","amount":"12.50","currency":"eur"}`,
		`{"type":"refund","order_id":"o","currency":"JPY"}`,
		`{"type":"purchase","order_id":"o","amount":1e30,"currency":"EUR"}`,
		`{"type":"signup","user_id":"\u0000"}`,
		`{"type":"purchase","order_id":"o","amount":"-0.00001","currency":"USD"}`,
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, b []byte) {
		var in Input
		if json.Unmarshal(b, &in) != nil {
			return
		}
		if fe := in.Normalize(now); fe != nil {
			if fe.Field == "" || fe.Reason == "" {
				t.Fatalf("refusal without a field or reason: %+v", fe)
			}
			return
		}
		switch in.Type {
		case vocab.TypeSignup:
			if in.UserID == "" || in.Amount != nil {
				t.Fatalf("accepted signup %+v", in)
			}
		case vocab.TypePurchase, vocab.TypeRefund:
			if in.OrderID == "" || in.Amount == nil || in.Amount.IsNegative() || len(in.Currency) != 3 {
				t.Fatalf("accepted %s %+v", in.Type, in)
			}
		default:
			t.Fatalf("accepted type %q", in.Type)
		}
		if in.OccurredAt.After(now.Add(MaxFuture)) || in.OccurredAt.Before(now.Add(-MaxAge)) {
			t.Fatalf("accepted occurred_at %v", in.OccurredAt)
		}
	})
}

// TestUnansweredRequestLeavesNoMark: Redis applies a request's SET NX
// but answers too late (a proxy holds the replies back past the client's
// read timeout). The request is answered ErrUnavailable, and its retry is
// then a first conversion, not a repeat of one never stored; a mark that
// another request set for an order of the same batch stays.
func TestUnansweredRequestLeavesNoMark(t *testing.T) {
	r := testenv.NewRedis(t)
	ctx := context.Background()
	proxy := testenv.NewProxy(t, r.Client.Options().Addr)
	// The tracker's repeat-check client: no retries, short timeouts.
	slow := redis.NewClient(&redis.Options{Addr: proxy.Addr(), DB: r.Client.Options().DB, MaxRetries: -1,
		DialTimeout: time.Second, ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond})
	defer slow.Close()
	buf := &recorder{}
	rec := NewRecorder(slow, r.Prefix, buf, nil).WithLogger(testenv.Logger(t))
	now := testenv.Now().UTC()
	in := func(order string) Input {
		in := Input{Type: "purchase", OrderID: order, Amount: dec("9.90"), Currency: "EUR"}
		if fe := in.Normalize(now); fe != nil {
			t.Fatal(fe)
		}
		return in
	}
	mine, theirs := DedupKey(r.Prefix, vocab.SourceOurs, vocab.TypePurchase, "", "o-late"), DedupKey(r.Prefix, vocab.SourceOurs, vocab.TypePurchase, "", "o-theirs")
	// A concurrent first request holds o-theirs.
	if err := r.Client.Set(ctx, theirs, "their-token", DedupTTL).Err(); err != nil {
		t.Fatal(err)
	}

	if err := slow.Ping(ctx).Err(); err != nil { // connect before Redis turns slow
		t.Fatal(err)
	}
	proxy.SetDelay(800 * time.Millisecond)
	sawMark := make(chan bool, 1)
	go func() {
		// The mark is set at once (only the reply is late); keep Redis
		// slow a while longer so the first clean-up attempts time out too.
		deadline := time.Now().Add(5 * time.Second)
		for r.Client.Exists(ctx, mine).Val() == 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		sawMark <- r.Client.Exists(ctx, mine).Val() == 1
		time.Sleep(700 * time.Millisecond)
		proxy.SetDelay(0)
	}()
	_, err := rec.RecordMany(ctx, vocab.SourceOurs, []Input{in("o-late"), in("o-theirs")}, nil)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("late Redis: %v, want ErrUnavailable", err)
	}
	if !<-sawMark {
		t.Fatal("the SET NX never reached Redis: the test proves nothing")
	}
	if n := r.Client.Exists(ctx, mine).Val(); n != 0 {
		t.Errorf("the unanswered request's own mark is still there")
	}
	if v := r.Client.Get(ctx, theirs).Val(); v != "their-token" {
		t.Errorf("the other request's mark is %q, want it kept", v)
	}
	if len(buf.hits) != 0 {
		t.Fatalf("%d hits submitted by a request answered unavailable", len(buf.hits))
	}
	// The client's retry is a first conversion, stored unmarked.
	got, err := rec.Record(ctx, vocab.SourceOurs, in("o-late"), nil)
	if err != nil || got.Duplicate {
		t.Fatalf("retry: %+v %v, want a first conversion", got, err)
	}
	if len(buf.hits) != 1 || buf.hits[0].Duplicate {
		t.Fatalf("retry stored as %+v", buf.hits)
	}
}
