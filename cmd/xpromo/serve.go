package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"golang.org/x/text/currency"

	"github.com/xpromo/xpromo/http/api"
	"github.com/xpromo/xpromo/http/auth"
	"github.com/xpromo/xpromo/lib/chdb"

	"github.com/xpromo/xpromo/domain/attribution"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/http/postback"
	"github.com/xpromo/xpromo/lib/metrics"
	"github.com/xpromo/xpromo/lib/notify"
	"github.com/xpromo/xpromo/lib/secrets"
	"github.com/xpromo/xpromo/ops/privacy"
	"github.com/xpromo/xpromo/tracker/agent"
	"github.com/xpromo/xpromo/tracker/buffer"
	"github.com/xpromo/xpromo/tracker/capture"
	"github.com/xpromo/xpromo/tracker/conversion"
	"github.com/xpromo/xpromo/tracker/geo"
	"github.com/xpromo/xpromo/tracker/ingest"
)

type serveConfig struct {
	common
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
	ingestFlags
	httpLimits
	trusted []netip.Prefix
}

// httpLimits bound what one client may hold of the server: a slow header
// (slowloris) or body, a stalled reader, an idle keep-alive, huge headers.
type httpLimits struct {
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
}

// Defaults of httpLimits, also the flags' defaults.
const (
	defReadHeaderTimeout = 5 * time.Second
	defReadTimeout       = 10 * time.Second
	defWriteTimeout      = 10 * time.Second
	defIdleTimeout       = 60 * time.Second
	defMaxHeaderBytes    = 16 << 10
)

// Defaults of the API's rate limits (per token, per address), each also
// the burst. A sequential client here reaches about 650 requests/s on the
// cheapest real endpoints (170/s on catalog reads), so one doing real work
// never meets the token limit, even on a machine three times faster; a
// tight loop on instant refusals (401/404/405, ~15k/s) does. The address
// limit leaves room for a few such clients behind one address. See
// docs/API.md.
const (
	defAPIRate   = 2000
	defAPIIPRate = 4000
)

func (l *httpLimits) register(f *flags) {
	f.Duration(&l.ReadHeaderTimeout, "read-header-timeout", defReadHeaderTimeout, "a client must send its request headers within this (slow clients are cut)")
	f.Duration(&l.ReadTimeout, "read-timeout", defReadTimeout, "a client must send its whole request, body included, within this")
	f.Duration(&l.WriteTimeout, "write-timeout", defWriteTimeout, "an answer must be written within this")
	f.Duration(&l.IdleTimeout, "idle-timeout", defIdleTimeout, "an idle keep-alive connection is closed after this")
	f.Int(&l.MaxHeaderBytes, "max-header-bytes", defMaxHeaderBytes, "request headers larger than this are refused with 431")
}

// validate fills zero values with the defaults (a config built in code)
// and refuses negative ones: none of these may be switched off.
func (l *httpLimits) validate() error {
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"read-header-timeout", &l.ReadHeaderTimeout, defReadHeaderTimeout},
		{"read-timeout", &l.ReadTimeout, defReadTimeout},
		{"write-timeout", &l.WriteTimeout, defWriteTimeout},
		{"idle-timeout", &l.IdleTimeout, defIdleTimeout},
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
		l.MaxHeaderBytes = defMaxHeaderBytes
	}
	return nil
}

type ingestFlags struct {
	BatchSize     int
	FlushInterval time.Duration
	ClaimIdle     time.Duration
}

func (c *ingestFlags) register(f *flags) {
	f.Int(&c.BatchSize, "batch-size", 50000, "ingest: rows per ClickHouse insert at most (10k-100k is efficient)")
	f.Duration(&c.FlushInterval, "flush-interval", time.Second, "ingest: write a smaller batch after this long")
	f.Duration(&c.ClaimIdle, "claim-idle", 30*time.Second, "ingest: take over entries another ingester left unacknowledged this long")
}

func (c *ingestFlags) config(prefix string) ingest.Config {
	return ingest.Config{KeyPrefix: prefix, BatchSize: c.BatchSize, FlushInterval: c.FlushInterval, ClaimIdle: c.ClaimIdle}
}

func (c *serveConfig) validate() error {
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
	if err := c.httpLimits.validate(); err != nil {
		return err
	}
	cfg := c.ingestFlags.config(c.KeyPrefix)
	cfg.Defaults()
	return cfg.Validate()
}

func serveCmd() *cobra.Command {
	var c serveConfig
	f := newFlags("serve", "serve [flags]", `
Runs the tracker: GET /r/{code} (click, 302 to the link with xp_click added),
GET /p.gif (view or conversion, 1x1 GIF), /healthz, /readyz and /metrics, and
the management API under /v1 (catalog, tokens, audit, POST /v1/conversions).
Each answer goes out once its hit is durable in Redis, or in the spill journal
under --state-dir when Redis does not answer within --commit-timeout. Unless
--ingest=false it also runs the ingester that writes hits to ClickHouse.
SIGTERM or Ctrl-C: stop accepting, finish answers, flush, drain the ingester.`)
	c.common.register(f, true)
	f.String(&c.HTTPAddr, "http-addr", ":8080", "listen address")
	f.String(&c.TrustedProxies, "trusted-proxies", "127.0.0.0/8,::1/128", "comma-separated CIDRs whose X-Forwarded-For is believed")
	f.String(&c.DataDir, "state-dir", ".data/tracker", "directory of the spill journal and the catalog copy (one running tracker per directory)")
	f.Bool(&c.Ingest, "ingest", true, "also run the ingester in this process")
	f.Duration(&c.CommitTimeout, "commit-timeout", 5*time.Millisecond, "how long a group of hits may wait for Redis before it is journaled")
	f.Int(&c.CommitWorkers, "commit-workers", 1, "group commits in flight at once, one Redis stream each (1 gives the largest groups; more can help when Redis is far away)")
	f.Float(&c.APIRate, "api-rate", defAPIRate, "management API: requests per second per token, also its burst (0: no limit)")
	f.Float(&c.APIIPRate, "api-ip-rate", defAPIIPRate, "management API: requests per second per client address, before authentication, also its burst (0: no limit)")
	f.String(&c.PublicURL, "public-url", "", "public base URL of this tracker for tracking links shown by the API, e.g. https://go.example.com (empty: the API request's scheme and host)")
	f.String(&c.PprofAddr, "pprof-addr", "", "serve Go's /debug/pprof on this address, e.g. 127.0.0.1:6060 (empty: off)")
	f.String(&c.SecretKeyFile, "secret-key-file", secrets.DefaultFile(), "server key that seals partners' postback secrets, used when "+secrets.EnvKey+" is not set (the same key as `xpromo partner secret`); created when missing")
	f.Duration(&c.AttributeEvery, "attribute-every", time.Minute, "how often the attribution of the current and previous month is recomputed (0: never; see `xpromo attribute`)")
	f.String(&c.RetainHits, "retain-hits", "off", retainHitsUsage+" (checked every hour)")
	f.String(&c.ReportingCur, "reporting-currency", attribution.DefaultReportingCurrency, "currency revenue is also stated in (ISO 4217)")
	f.Duration(&c.CatalogRefresh, "catalog-refresh", 2*time.Second, "how often the link catalog is reloaded")
	f.Duration(&c.ShutdownWait, "shutdown-timeout", 15*time.Second, "bound on each shutdown step")
	c.ingestFlags.register(f)
	c.httpLimits.register(f)
	return f.run(func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		if err := c.validate(); err != nil {
			return err
		}
		log, err := c.logger(stderr)
		if err != nil {
			return err
		}
		return serve(ctx, &c, log, nil)
	})
}

// serve runs until ctx ends. ready, if not nil, receives the bound address.
func serve(ctx context.Context, c *serveConfig, log *slog.Logger, ready chan<- string) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)

	ropts, _ := redis.ParseURL(c.RedisURL)
	// The committer's client fails fast: its deadline is a few milliseconds
	// and a failed group goes to the journal, so no retries here.
	commitOpts := *ropts
	commitOpts.ContextTimeoutEnabled = true
	commitOpts.MaxRetries = -1
	commitOpts.DialTimeout = time.Second
	commitRDB := redis.NewClient(&commitOpts)
	defer commitRDB.Close()
	rdb := redis.NewClient(ropts)
	defer rdb.Close()
	// The repeat check of conversions fails fast as well: a frozen Redis
	// gets a 503 the client may retry within a second, not a request held
	// for go-redis's 3 s read timeout and its retries (a retried SET NX
	// that Redis did apply would also answer a first conversion as a repeat).
	convOpts := *ropts
	convOpts.MaxRetries = -1
	convOpts.DialTimeout, convOpts.ReadTimeout, convOpts.WriteTimeout = time.Second, 500*time.Millisecond, 500*time.Millisecond
	convRDB := redis.NewClient(&convOpts)
	defer convRDB.Close()

	ch, err := chdb.Connect(c.ClickHouseURL)
	if err != nil {
		return err
	}
	defer ch.Close()

	geo.Country(netip.MustParseAddr("2001:4860:4860::8888")) // load the IPv6 table before the first request

	cat := catalog.NewCache(catalog.NewStore(ch).WithClock(clock), filepath.Join(c.DataDir, "catalog.json"), c.CatalogRefresh, log)
	if err := cat.Start(ctx); err != nil {
		return err
	}
	tokens := auth.NewStore(ch).WithClock(clock)
	verifier := auth.NewVerifier(tokens, auth.DefaultRefresh, log)
	if err := verifier.Start(ctx); err != nil {
		log.Warn("api: no tokens loaded yet; the API refuses every request until they load", "err", err)
	}
	// Daily fingerprint salts, shared through Redis; the capture path reads
	// them from memory. Without Redis at start, fingerprints stay empty
	// until the first successful reload.
	salts := conversion.NewSalts(rdb, c.KeyPrefix, log).WithClock(clock)
	if err := salts.Load(ctx, clock()); err != nil {
		log.Warn("salts: not loaded yet; clicks carry no fingerprint until Redis answers", "err", err)
	}
	buf, err := buffer.Open(ctx, commitRDB, buffer.Config{Dir: c.DataDir, KeyPrefix: c.KeyPrefix, Timeout: c.CommitTimeout, Workers: c.CommitWorkers}, log, m)
	if err != nil {
		return err
	}

	// The ingester is started apart from the other tasks because shutdown
	// (below) stops it in a step of its own: after the committer's flush,
	// whose hits it must still write, and before the other tasks.
	ingestCtx, stopIngest := context.WithCancel(context.WithoutCancel(ctx))
	defer stopIngest()
	waitIngest := func() {}
	if c.Ingest {
		ing, err := ingest.New(rdb, ch, c.ingestFlags.config(c.KeyPrefix), log, m)
		if err != nil {
			return err
		}
		waitIngest = startTasks(ingestCtx, log, []task{{name: "ingest", run: ing.Run}})
	}
	catN, tokN := catalogNotifier(rdb, c.KeyPrefix, log), tokensNotifier(rdb, c.KeyPrefix, log)
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	waitBG := startTasks(bg, log, serveTasks(c, ch, cat, verifier, salts, catN, tokN, log))

	e := newEcho(log)
	e.Use(timeAnswers(e, m.AnswerSeconds))
	clientIP := capture.NewClientIP(c.trusted)
	recorder := conversion.NewRecorder(convRDB, c.KeyPrefix, buf, salts).WithClock(clock).WithLogger(log)
	capture.New(cat, buf, agent.New(0), clientIP, log, m).WithClock(clock).WithFingerprints(salts).WithRepeatMarks(recorder).Register(e)
	// The API: a per-address limit first (it also slows token guessing),
	// then authentication, then a per-token limit. Capture stays unlimited.
	// The API's description needs no token; the route outranks the
	// group's catch-all, so the group's middleware does not run for it.
	api.MountOpenAPI(e, "/v1/openapi.json")
	v1 := e.Group("/v1",
		auth.RateLimit(auth.RateLimitConfig{Rate: c.APIIPRate, ClientIP: func(r *http.Request) string { return clientIP.Addr(r).String() }}),
		auth.Middleware(verifier),
		auth.RateLimit(auth.RateLimitConfig{Rate: c.APIRate}))
	apiStore := catalog.NewStore(ch).WithClock(clock)
	apiStore.OnChange(func(ctx context.Context) {
		cat.Trigger() // this tracker at once, even if Redis is down
		publish(ctx, catN, log)
	})
	apiSrv := api.New(apiStore, tokens, verifier, log)
	apiSrv.TrackingBase = c.PublicURL
	apiSrv.Now = clock
	apiSrv.Snapshot = cat.Get
	apiSrv.TokensChanged = func(ctx context.Context) { publish(ctx, tokN, log) }
	apiSrv.Conversions = recorder
	apiSrv.Register(v1)
	if err := registerWeb(e, c, apiStore, cat, tokens, verifier, rdb, clientIP, apiSrv.TokensChanged, log); err != nil {
		buf.Close(context.Background())
		return err
	}
	// Partners' postbacks are authenticated by their signature, not a
	// token: mounted outside the /v1 group's token middleware (the route
	// outranks the group's catch-all) and, like capture, not rate-limited.
	key, source, err := secrets.Load(c.SecretKeyFile)
	if err != nil {
		buf.Close(context.Background())
		return fmt.Errorf("postback secrets: %w", err)
	}
	log.Info("postback secrets key", "source", string(source), "key", key.String())
	postback.New(postback.NewStore(ch, key, log).WithClock(clock), cat.Get, recorder, rdb, c.KeyPrefix, log).WithClock(clock).Register(e)
	registerOps(e, reg, rdb, ch)

	if c.PprofAddr != "" {
		stopPprof, err := servePprof(c.PprofAddr)
		if err != nil {
			buf.Close(context.Background())
			return err
		}
		defer stopPprof()
	}
	srv := &http.Server{
		Addr:              c.HTTPAddr,
		Handler:           e,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		ReadTimeout:       c.ReadTimeout,
		WriteTimeout:      c.WriteTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    c.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", c.HTTPAddr)
	if err != nil {
		buf.Close(context.Background())
		return fmt.Errorf("listen %s: %w", c.HTTPAddr, err)
	}
	log.Info("xpromo serving", "addr", ln.Addr().String(), "instance", buf.Instance(), "streams", buf.Streams(), "ingest", c.Ingest)
	if ready != nil {
		ready <- ln.Addr().String()
	}
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(ln) }()

	select {
	case <-ctx.Done():
	case err := <-srvErr:
		log.Error("http server failed", "err", err)
	}
	// Shutdown order: stop HTTP (answers in flight still complete, each
	// after its hit is durable), then flush the committer, then let the
	// ingester write what it holds, then close clients (deferred).
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownWait)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Error("http shutdown", "err", err)
	}
	bctx, cancel2 := context.WithTimeout(context.Background(), c.ShutdownWait)
	defer cancel2()
	if err := buf.Close(bctx); err != nil {
		log.Error("buffer close", "err", err)
	}
	stopIngest()
	waitIngest()
	stopBG()
	waitBG()
	log.Info("stopped")
	return nil
}

func newEcho(log *slog.Logger) *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	// Errors that no API handler wrote (unknown route, wrong method, a
	// recovered panic) get the API's JSON shape under /v1 too.
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		if !strings.HasPrefix(c.Request().URL.Path, "/v1/") {
			e.DefaultHTTPErrorHandler(err, c)
			return
		}
		code, reason := http.StatusInternalServerError, "internal error"
		var he *echo.HTTPError
		if errors.As(err, &he) {
			code, reason = he.Code, fmt.Sprint(he.Message)
		}
		if code >= 500 {
			log.Error("api error", "err", err, "path", c.Request().URL.Path)
		}
		_ = c.JSON(code, map[string]string{"error": strings.ToLower(strings.ReplaceAll(http.StatusText(code), " ", "_")), "reason": reason})
	}
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			log.Error("panic in handler", "err", err, "path", c.Path(), "stack", string(stack))
			return err
		},
	}))
	return e
}

// timeAnswers observes how long each handler took to answer, labelled by
// its route pattern; a request that matched no route counts as
// "unmatched", so no client can grow the label set.
func timeAnswers(e *echo.Echo, h *prometheus.HistogramVec) echo.MiddlewareFunc {
	var once sync.Once
	routes := map[string]prometheus.Observer{} // resolved once: no label hashing per request
	var unmatched prometheus.Observer
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			once.Do(func() { // every route is registered before the first request
				for _, r := range e.Routes() {
					routes[r.Path] = h.WithLabelValues(r.Path)
				}
				unmatched = h.WithLabelValues("unmatched")
			})
			o, ok := routes[c.Path()]
			if !ok {
				o = unmatched
			}
			o.Observe(time.Since(start).Seconds())
			return err
		}
	}
}

func registerOps(e *echo.Echo, reg *prometheus.Registry, rdb *redis.Client, ch driver.Conn) {
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", func(c echo.Context) error {
		// Each server gets its own second, side by side: with one deadline
		// shared in sequence, an unreachable Redis (go-redis retries until
		// the deadline) used up ClickHouse's time and both were named.
		ping := func(fn func(context.Context) error) string {
			ctx, cancel := context.WithTimeout(c.Request().Context(), time.Second)
			defer cancel()
			if err := fn(ctx); err != nil {
				return err.Error()
			}
			return "ok"
		}
		var redisStatus, chStatus string
		var wg sync.WaitGroup
		wg.Go(func() { redisStatus = ping(func(ctx context.Context) error { return rdb.Ping(ctx).Err() }) })
		wg.Go(func() { chStatus = ping(ch.Ping) })
		wg.Wait()
		code := http.StatusOK
		if redisStatus != "ok" || chStatus != "ok" {
			code = http.StatusServiceUnavailable
		}
		b, _ := json.Marshal(map[string]string{"redis": redisStatus, "clickhouse": chStatus})
		return c.JSONBlob(code, b)
	})
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
}

// servePprof exposes the Go profiler on its own listener, never on the
// public one.
func servePprof(addr string) (func(), error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pprof-addr: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return func() { _ = srv.Close() }, nil
}

// Redis channels announcing catalog and token changes.
func catalogNotifier(rdb *redis.Client, prefix string, log *slog.Logger) *notify.Notifier {
	return notify.New(rdb, prefix+"catalog:changed", log)
}

func tokensNotifier(rdb *redis.Client, prefix string, log *slog.Logger) *notify.Notifier {
	return notify.New(rdb, prefix+"tokens:changed", log)
}

// publish announces a change; a failure only delays other trackers until
// their periodic refresh, so it is logged, not returned.
func publish(ctx context.Context, n *notify.Notifier, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	if err := n.Publish(ctx); err != nil {
		log.Warn("change not announced; other trackers pick it up at their next refresh", "err", err)
	}
}

// attributeOpenPeriods recomputes the attribution of the open periods
// (this month and the previous one); serve runs it every
// --attribute-every, so late clicks, late conversions and corrected terms
// are reflected within a minute.
func attributeOpenPeriods(ctx context.Context, job *attribution.Job, every time.Duration, log *slog.Logger) error {
	now := clock().UTC()
	from := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -1, 0)
	ctx, cancel := context.WithTimeout(ctx, every*5)
	defer cancel()
	sum, err := job.Run(ctx, from, now.Add(time.Second))
	if err != nil {
		return err
	}
	log.Debug("attribution run", "conversions", sum.Conversions, "clicks", sum.Clicks, "unconverted", sum.Unconverted)
	return nil
}
