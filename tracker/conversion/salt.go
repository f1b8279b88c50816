package conversion

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Salts holds the daily salts of the IP+User-Agent fingerprint. A day's
// salt is made once in Redis (SET NX, shared by every tracker) and expires
// two days later, after which no one can link that day's fingerprints to
// an address again. Fingerprint reads an in-memory copy and never waits on
// Redis; Run keeps today's and tomorrow's salts loaded ahead of need.
type Salts struct {
	rdb    *redis.Client
	prefix string
	log    *slog.Logger
	days   atomic.Pointer[map[string][]byte] // "2026-11-26" -> salt
	cached atomic.Pointer[daySalt]           // the day last asked for
}

// SaltTTL is how long a day's salt lives after it is made.
const SaltTTL = 49 * time.Hour

// NewSalts returns Salts; call Load once, then Run.
func NewSalts(rdb *redis.Client, keyPrefix string, log *slog.Logger) *Salts {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Salts{rdb: rdb, prefix: keyPrefix, log: log}
	s.days.Store(&map[string][]byte{})
	return s
}

// Load makes sure the salts of yesterday (for conversions reported late),
// today and tomorrow are in memory.
func (s *Salts) Load(ctx context.Context, now time.Time) error {
	next := map[string][]byte{}
	for _, d := range []time.Time{now.AddDate(0, 0, -1), now, now.AddDate(0, 0, 1)} {
		day := d.UTC().Format(time.DateOnly)
		key := s.prefix + "salt:" + day
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		// Whoever comes first makes the day's salt; the rest read it.
		if err := s.rdb.SetNX(ctx, key, hex.EncodeToString(b), SaltTTL).Err(); err != nil {
			return err
		}
		v, err := s.rdb.Get(ctx, key).Result()
		if err == redis.Nil {
			continue // yesterday's has expired: its fingerprints stay empty
		}
		if err != nil {
			return err
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

// Run reloads every minute until ctx ends.
func (s *Salts) Run(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.Load(ctx, time.Now()); err != nil && ctx.Err() == nil {
			s.log.Warn("salts: reload failed; fingerprints use the salts in memory", "err", err)
		}
	}
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
