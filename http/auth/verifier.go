package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/lib/refresh"
)

// Verification errors. They wrap the token id (public) at most, never the
// secret. ErrUnknown and ErrBadSecret are told apart in logs only; clients
// get "invalid token" for both.
var (
	ErrUnknown   = errors.New("unknown token")
	ErrBadSecret = errors.New("wrong secret")
	ErrExpired   = errors.New("token expired")
	ErrRevoked   = errors.New("token revoked")
)

// DefaultRefresh is how often a Verifier reloads tokens by default: a
// revocation reaches every server within about this long.
const DefaultRefresh = time.Second

// Verifier checks tokens against an in-memory snapshot of the tokens
// table, so a request never waits on PostgreSQL, and the last tokens
// loaded go on serving while it is down. Run reloads it in the
// background; Invalidate asks for a reload now.
type Verifier struct {
	store    *Store
	interval time.Duration
	log      *slog.Logger
	tokens   atomic.Pointer[map[string]Token]
	loading  sync.Mutex // one load at a time, so an older one never lands last
	wake     chan struct{}
	loads    atomic.Int64
}

// NewVerifier returns a Verifier; call Start once, then Run.
func NewVerifier(store *Store, interval time.Duration, log *slog.Logger) *Verifier {
	if interval <= 0 {
		interval = DefaultRefresh
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Verifier{store: store, interval: interval, log: log, wake: make(chan struct{}, 1)}
}

// Start loads the tokens. If that fails every token is refused until a
// reload succeeds (Run keeps trying); the error is returned so the caller
// may decide whether to go on.
func (v *Verifier) Start(ctx context.Context) error {
	err := v.Refresh(ctx)
	if err != nil {
		v.tokens.CompareAndSwap(nil, &map[string]Token{})
		v.log.Error("auth: no tokens loaded; every API request is refused until PostgreSQL is reachable", "err", err)
	}
	return err
}

// Refresh reloads the tokens now and waits for it.
func (v *Verifier) Refresh(ctx context.Context) error {
	v.loading.Lock()
	defer v.loading.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m, err := v.store.Load(ctx)
	if err != nil {
		return fmt.Errorf("auth refresh: %w", err)
	}
	v.tokens.Store(&m)
	v.loads.Add(1)
	return nil
}

// Invalidate makes Run reload now instead of at its next tick, e.g. after
// a revocation through this server. It does not wait; use Refresh for that.
func (v *Verifier) Invalidate() {
	select {
	case v.wake <- struct{}{}:
	default: // a reload is already pending
	}
}

// Trigger is Invalidate, under the name the other snapshots use, so a
// Redis notification can be wired as notify.Watch(ctx, v.Trigger).
func (v *Verifier) Trigger() { v.Invalidate() }

// Loads counts successful reloads.
func (v *Verifier) Loads() int64 { return v.loads.Load() }

// Run reloads every interval, or at once after Invalidate, until ctx ends.
func (v *Verifier) Run(ctx context.Context) {
	refresh.Loop(ctx, v.interval, v.wake, v.log, "auth: tokens", v.Refresh)
}

// now is the clock of token expiry: the store's.
func (v *Verifier) now() time.Time {
	if v.store != nil {
		return v.store.now()
	}
	return time.Now()
}

// Verify checks a token string at now and returns who it acts as. The
// secret's hash is compared in constant time, against a dummy hash when
// the id is unknown, and expiry and revocation are only reported to a
// caller who holds the right secret.
func (v *Verifier) Verify(token string, now time.Time) (access.Principal, error) {
	id, secret, err := Parse(token)
	if err != nil {
		return access.Principal{}, err
	}
	return v.VerifyHash(id, sha256.Sum256(secret), now)
}

// VerifyHash is Verify for a token known by its id and the SHA-256 of its
// secret (what a dashboard session keeps instead of the secret itself).
func (v *Verifier) VerifyHash(id string, got [sha256.Size]byte, now time.Time) (access.Principal, error) {
	var tokens map[string]Token
	if p := v.tokens.Load(); p != nil {
		tokens = *p
	}
	t, known := tokens[id]
	want := dummyHash
	if known {
		want = t.hash
	}
	match := hashEqual(got, want)
	switch {
	case !known:
		return access.Principal{}, fmt.Errorf("token %s: %w", id, ErrUnknown)
	case !match:
		return access.Principal{}, fmt.Errorf("token %s: %w", id, ErrBadSecret)
	case t.Revoked():
		return access.Principal{}, fmt.Errorf("token %s: %w", id, ErrRevoked)
	case t.Expired(now):
		return access.Principal{}, fmt.Errorf("token %s: %w", id, ErrExpired)
	case !t.Role.Valid():
		return access.Principal{}, fmt.Errorf("token %s: role %q: %w", id, t.Role, ErrUnknown)
	}
	return t.Principal(), nil
}
