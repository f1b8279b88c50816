package conversion

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/xpromo/xpromo/testkit/testenv"
)

// TestSaltLifetime: against the real Redis, every day's salt carries an
// expiry, at its day's end plus SaltGrace (never more than SaltTTL from
// when it is made); tomorrow's is made only in the last SaltAhead of the
// day; a salt left without an expiry (an older tracker) gets one; and the
// salt never reaches the log.
func TestSaltLifetime(t *testing.T) {
	day := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		now      time.Time
		tomorrow bool
	}{
		{"midnight", day, false},
		{"midday", day.Add(12 * time.Hour), false},
		{"before ahead", day.Add(24*time.Hour - SaltAhead - time.Minute), false},
		{"within ahead", day.Add(24*time.Hour - SaltAhead), true},
		{"last second", day.Add(24*time.Hour - time.Second), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := testenv.NewRedis(t)
			ctx := context.Background()
			var logs bytes.Buffer
			s := NewSalts(r.Client, r.Prefix, slog.New(slog.NewTextHandler(&logs, nil)))
			if err := s.Load(ctx, tc.now); err != nil {
				t.Fatal(err)
			}
			want := map[string]time.Time{ // key -> expiry
				"2026-11-25": day.Add(24*time.Hour + SaltGrace - 24*time.Hour),
				"2026-11-26": day.Add(24*time.Hour + SaltGrace),
			}
			if tc.tomorrow {
				want["2026-11-27"] = day.Add(48*time.Hour + SaltGrace)
			}
			keys, err := r.Client.Keys(ctx, r.Prefix+"salt:*").Result()
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != len(want) {
				t.Fatalf("salt keys %v, want days %v", keys, want)
			}
			for d, exp := range want {
				key := r.Prefix + "salt:" + d
				ttl, err := r.Client.PTTL(ctx, key).Result()
				if err != nil {
					t.Fatal(err)
				}
				if ttl <= 0 || ttl > SaltTTL {
					t.Errorf("%s: TTL %v, want within (0, %v]", d, ttl, SaltTTL)
				}
				// Relative to the Load's clock: the key expires at exp.
				if got := tc.now.Add(ttl); got.Sub(exp).Abs() > 2*time.Second {
					t.Errorf("%s: expires at %v, want %v", d, got, exp)
				}
				v, _ := r.Client.Get(ctx, key).Result()
				if len(v) < 32 || strings.Contains(logs.String(), v) {
					t.Errorf("%s: salt %q (in the log: %v)", d, v, strings.Contains(logs.String(), v))
				}
			}
			if f := s.Fingerprint("8.8.8.8", "UA", tc.now); f == "" {
				t.Error("no fingerprint for today")
			}
			if f := s.Fingerprint("8.8.8.8", "UA", day.AddDate(0, 0, 1)); (f != "") != tc.tomorrow {
				t.Errorf("tomorrow's fingerprint %q, want one: %v", f, tc.tomorrow)
			}
		})
	}

	t.Run("legacy key without expiry", func(t *testing.T) {
		r := testenv.NewRedis(t)
		ctx := context.Background()
		key := r.Prefix + "salt:2026-11-26"
		if err := r.Client.Set(ctx, key, strings.Repeat("ab", 32), 0).Err(); err != nil {
			t.Fatal(err)
		}
		now := day.Add(6 * time.Hour)
		if err := NewSalts(r.Client, r.Prefix, nil).Load(ctx, now); err != nil {
			t.Fatal(err)
		}
		ttl, err := r.Client.PTTL(ctx, key).Result()
		if err != nil || ttl <= 0 || now.Add(ttl).Sub(day.Add(24*time.Hour+SaltGrace)).Abs() > 2*time.Second {
			t.Fatalf("legacy salt TTL %v (%v): want it cut to the day's end plus %v", ttl, err, SaltGrace)
		}
	})

	t.Run("past its grace", func(t *testing.T) {
		r := testenv.NewRedis(t)
		ctx := context.Background()
		// Two days on, the 26th's salt is neither made nor read.
		s := NewSalts(r.Client, r.Prefix, nil)
		if err := s.Load(ctx, day.AddDate(0, 0, 2)); err != nil {
			t.Fatal(err)
		}
		if n, _ := r.Client.Exists(ctx, r.Prefix+"salt:2026-11-26").Result(); n != 0 {
			t.Fatal("a salt past its grace was made")
		}
		if f := s.Fingerprint("8.8.8.8", "UA", day.Add(time.Hour)); f != "" {
			t.Fatalf("fingerprint %q for a day past its grace", f)
		}
	})
}
