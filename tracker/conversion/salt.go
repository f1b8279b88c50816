package conversion

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/xpromo/xpromo/lib/refresh"
)

// Salts holds the daily salts of the IP+User-Agent fingerprint. A day's
// salt is made once in Redis (SET NX, shared by every tracker) and expires
// SaltGrace after its day ends, after which no one can link that day's
// fingerprints to an address again. It lives only in Redis and in memory:
// never in ClickHouse, a log line or a file. Fingerprint reads an
// in-memory copy and never waits on Redis; Run keeps the salts loaded
// ahead of need.
type Salts struct {
	rdb    *redis.Client
	prefix string
	log    *slog.Logger
	days   atomic.Pointer[map[string][]byte] // "2026-11-26" -> salt
	cached atomic.Pointer[daySalt]           // the day last asked for
	now    func() time.Time
}

// Salt lifetimes. A day's salt expires SaltGrace after the day ends (late
// conversions of yesterday still get a fingerprint), and is made at most
// SaltAhead before the day starts (so the capture path has it at
// midnight): no salt lives longer than SaltTTL.
const (
	SaltGrace = 24 * time.Hour
	SaltAhead = 10 * time.Minute
	SaltTTL   = SaltAhead + 24*time.Hour + SaltGrace
)

// NewSalts returns Salts; call Load once, then Run.
func NewSalts(rdb *redis.Client, keyPrefix string, log *slog.Logger) *Salts {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Salts{rdb: rdb, prefix: keyPrefix, log: log, now: time.Now}
	s.days.Store(&map[string][]byte{})
	return s
}

// Load makes sure the salts of yesterday (for conversions reported late),
// today and, in the last SaltAhead of the day, tomorrow are in memory.
// Each key's expiry is its day's end plus SaltGrace, counted from now; a
// key found with a longer or no expiry (an older tracker) is cut to it.
func (s *Salts) Load(ctx context.Context, now time.Time) error {
	now = now.UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	days := []time.Time{today.AddDate(0, 0, -1), today}
	if tomorrow := today.AddDate(0, 0, 1); tomorrow.Sub(now) <= SaltAhead {
		days = append(days, tomorrow)
	}
	next := map[string][]byte{}
	for _, d := range days {
		ttl := saltExpiry(d).Sub(now)
		if ttl <= 0 {
			continue // past its grace: that day's fingerprints stay empty
		}
		day := d.Format(time.DateOnly)
		key := s.prefix + "salt:" + day
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		// Whoever comes first makes the day's salt; the rest read it.
		var get *redis.StringCmd
		if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.SetNX(ctx, key, hex.EncodeToString(b), ttl)
			p.ExpireLT(ctx, key, ttl)
			get = p.Get(ctx, key)
			return nil
		}); err != nil && err != redis.Nil {
			return fmt.Errorf("load salts: %w", err)
		}
		v, err := get.Result()
		if err == redis.Nil {
			continue // expired between the calls
		}
		if err != nil {
			return fmt.Errorf("load salts: %w", err)
		}
		salt, err := hex.DecodeString(v)
		if err != nil || len(salt) < 16 {
			continue
		}
		next[day] = salt
	}
	s.days.Store(&next)
	s.cached.Store(nil) // a reload may have found a salt a cached day lacked
	return nil
}

// saltExpiry is when the salt of the UTC day starting at day expires.
func saltExpiry(day time.Time) time.Time { return day.AddDate(0, 0, 1).Add(SaltGrace) }

// Run reloads every minute until ctx ends.
func (s *Salts) Run(ctx context.Context) {
	refresh.Every(ctx, time.Minute, func(ctx context.Context) {
		if err := s.Load(ctx, s.now()); err != nil && ctx.Err() == nil {
			s.log.Warn("salts: reload failed; fingerprints use the salts in memory", "err", err)
		}
	})
}

// Fingerprint returns the hex SHA-256 of the salt of at's UTC day, the
// address and the User-Agent, or "" when that day's salt is not loaded or
// the address does not parse.
func (s *Salts) Fingerprint(ip, ua string, at time.Time) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	return s.FingerprintAddr(addr, ua, at)
}

// FingerprintAddr is Fingerprint for a parsed address (the capture path):
// no formatting, one hash, one small allocation for the result.
func (s *Salts) FingerprintAddr(addr netip.Addr, ua string, at time.Time) string {
	salt := s.saltOf(at)
	if salt == nil || !addr.IsValid() {
		return ""
	}
	h := sha256.New()
	h.Write(salt)
	a := addr.Unmap().As16()
	h.Write(a[:])
	h.Write([]byte(ua))
	var sum [32]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// daySalt caches the salt of one day, keyed by the day's number since the
// epoch, so the redirect path neither formats a date nor looks up a map.
type daySalt struct {
	day  int64
	salt []byte
}

func (s *Salts) saltOf(at time.Time) []byte {
	day := at.Unix() / 86400
	if at.Unix() < 0 {
		day = (at.Unix() - 86399) / 86400
	}
	if c := s.cached.Load(); c != nil && c.day == day {
		return c.salt
	}
	salt := (*s.days.Load())[at.UTC().Format(time.DateOnly)]
	if salt != nil {
		s.cached.Store(&daySalt{day: day, salt: salt})
	}
	return salt
}

// WithClock makes Run pick the days' salts by now instead of the wall
// clock (tests move it); it returns s.
func (s *Salts) WithClock(now func() time.Time) *Salts {
	s.now = now
	return s
}
