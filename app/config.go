// Package app is xpromo's composition root: from a configuration it
// builds what `xpromo serve` runs (the HTTP server with the tracker, the
// management API, the dashboard and the partners' postbacks; the buffer
// that makes hits durable; the ingester) and the standalone ingester of
// `xpromo ingest`, runs their background tasks (tasks.go, one table) and
// shuts them down in order. cmd/xpromo only binds flags to Config and
// IngestConfig and calls Serve or Ingest; its other commands share the
// connection and logging Settings (settings.go) and call package
// app/admin.
package app

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/text/currency"

	"github.com/xpromo/xpromo/domain/attribution"
	"github.com/xpromo/xpromo/lib/chdb"
	"github.com/xpromo/xpromo/lib/pgdb"
	"github.com/xpromo/xpromo/lib/secrets"
	"github.com/xpromo/xpromo/ops/privacy"
	"github.com/xpromo/xpromo/tracker/capture"
	"github.com/xpromo/xpromo/tracker/ingest"
)

// Config is the configuration of Serve: one field per flag of `xpromo
// serve`. Validate fills defaults and refuses what cannot work.
type Config struct {
	RedisURL       string
	ClickHouseURL  string
	PostgresURL    string
	KeyPrefix      string // of every Redis key
	HTTPAddr       string
	TrustedProxies string
	DataDir        string
	Ingest         bool
	CommitTimeout  time.Duration
	CommitWorkers  int
	PprofAddr      string
	PublicURL      string // base of tracking URLs shown by the API
	AttributeEvery time.Duration
	RetainHits     string
	SecretKeyFile  string
	ReportingCur   string
	APIRate        float64
	APIIPRate      float64
	CatalogRefresh time.Duration
	ShutdownWait   time.Duration
	Batching
	HTTPLimits
	// Clock is the time every business rule reads (nil: time.Now).
	Clock func() time.Time
	// Ready, if not nil, receives the bound address once the server
	// listens.
	Ready   chan<- string
	trusted []netip.Prefix
}

// HTTPLimits bound what one client may hold of the server: a slow header
// (slowloris) or body, a stalled reader, an idle keep-alive, huge headers.
type HTTPLimits struct {
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
}

// Defaults of HTTPLimits, also the flags' defaults.
const (
	DefReadHeaderTimeout = 5 * time.Second
	DefReadTimeout       = 10 * time.Second
	DefWriteTimeout      = 10 * time.Second
	DefIdleTimeout       = 60 * time.Second
	DefMaxHeaderBytes    = 16 << 10
)

// Defaults of the API's rate limits (per token, per address), each also
// the burst. A sequential client here reaches about 650 requests/s on the
// cheapest real endpoints (170/s on catalog reads), so one doing real work
// never meets the token limit, even on a machine three times faster; a
// tight loop on instant refusals (401/404/405, ~15k/s) does. The address
// limit leaves room for a few such clients behind one address. See
// docs/API.md.
const (
	DefAPIRate   = 2000
	DefAPIIPRate = 4000
)

// validate fills zero values with the defaults (a config built in code)
// and refuses negative ones: none of these may be switched off.
func (l *HTTPLimits) validate() error {
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"read-header-timeout", &l.ReadHeaderTimeout, DefReadHeaderTimeout},
		{"read-timeout", &l.ReadTimeout, DefReadTimeout},
		{"write-timeout", &l.WriteTimeout, DefWriteTimeout},
		{"idle-timeout", &l.IdleTimeout, DefIdleTimeout},
	} {
		if *d.v < 0 {
			return fmt.Errorf("%s must be positive", d.name)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if l.MaxHeaderBytes < 0 {
		return errors.New("max-header-bytes must be positive")
	}
	if l.MaxHeaderBytes == 0 {
		l.MaxHeaderBytes = DefMaxHeaderBytes
	}
	return nil
}

// Batching is how the ingester writes to ClickHouse.
type Batching struct {
	BatchSize     int
	FlushInterval time.Duration
	ClaimIdle     time.Duration
}

func (b Batching) config(prefix string) ingest.Config {
	return ingest.Config{KeyPrefix: prefix, BatchSize: b.BatchSize, FlushInterval: b.FlushInterval, ClaimIdle: b.ClaimIdle}
}

// Validate fills the defaults of what is left zero (a Config built in
// code) and refuses a configuration that cannot work, naming the flag.
func (c *Config) Validate() error {
	if c.Clock == nil {
		c.Clock = time.Now
	}
	var err error
	if c.trusted, err = capture.ParseCIDRs(c.TrustedProxies); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		return fmt.Errorf("http-addr %q: %w", c.HTTPAddr, err)
	}
	if c.SecretKeyFile == "" {
		c.SecretKeyFile = secrets.DefaultFile()
	}
	if c.ReportingCur == "" {
		c.ReportingCur = attribution.DefaultReportingCurrency
	}
	c.ReportingCur = strings.ToUpper(c.ReportingCur)
	if _, err := currency.ParseISO(c.ReportingCur); err != nil || len(c.ReportingCur) != 3 {
		return fmt.Errorf("reporting-currency %q: want an ISO 4217 code", c.ReportingCur)
	}
	if _, err := privacy.ParsePeriod(c.RetainHits); err != nil {
		return err
	}
	if c.AttributeEvery < 0 {
		return errors.New("attribute-every must not be negative (0 turns it off)")
	}
	if c.APIRate < 0 || c.APIIPRate < 0 {
		return errors.New("api-rate and api-ip-rate must not be negative (0 turns a limit off)")
	}
	if c.DataDir == "" {
		return errors.New("state-dir is required (the spill journal lives there)")
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return fmt.Errorf("public-url %q: want http(s)://host[:port] with no path or query", c.PublicURL)
		}
	}
	if _, err := redis.ParseURL(c.RedisURL); err != nil {
		return fmt.Errorf("redis-url: %w", err)
	}
	if _, err := chdb.Options(c.ClickHouseURL); err != nil {
		return err
	}
	if _, err := pgdb.Config(c.PostgresURL); err != nil {
		return err
	}
	if err := c.HTTPLimits.validate(); err != nil {
		return err
	}
	cfg := c.Batching.config(c.KeyPrefix)
	cfg.Defaults()
	return cfg.Validate()
}
