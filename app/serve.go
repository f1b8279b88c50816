package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/http/api"
	"github.com/xpromo/xpromo/http/auth"
	"github.com/xpromo/xpromo/http/postback"
	"github.com/xpromo/xpromo/http/web"
	"github.com/xpromo/xpromo/lib/chdb"
	"github.com/xpromo/xpromo/lib/metrics"
	"github.com/xpromo/xpromo/lib/notify"
	"github.com/xpromo/xpromo/lib/pgdb"
	"github.com/xpromo/xpromo/lib/secrets"
	"github.com/xpromo/xpromo/reports"
	"github.com/xpromo/xpromo/tracker/agent"
	"github.com/xpromo/xpromo/tracker/buffer"
	"github.com/xpromo/xpromo/tracker/capture"
	"github.com/xpromo/xpromo/tracker/conversion"
	"github.com/xpromo/xpromo/tracker/geo"
	"github.com/xpromo/xpromo/tracker/ingest"
)

// Serve runs the server c describes until ctx ends, then shuts it down:
// HTTP first (answers in flight complete), then the buffer's flush, then
// the ingester, then the background tasks. c must have passed Validate.
func Serve(ctx context.Context, c *Config, log *slog.Logger) error {
	clock := c.Clock
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
	pg, err := pgdb.Connect(c.PostgresURL)
	if err != nil {
		return err
	}
	defer pg.Close()

	geo.Country(netip.MustParseAddr("2001:4860:4860::8888")) // load the IPv6 table before the first request

	cat := catalog.NewCache(catalog.NewStore(pg).WithClock(clock), filepath.Join(c.DataDir, "catalog.json"), c.CatalogRefresh, log)
	if err := cat.Start(ctx); err != nil {
		return err
	}
	tokens := auth.NewStore(pg).WithClock(clock)
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
		ing, err := ingest.New(rdb, ch, c.Batching.config(c.KeyPrefix), log, m)
		if err != nil {
			return err
		}
		waitIngest = startTasks(ingestCtx, log, []task{{name: "ingest", run: ing.Run}})
	}
	catN, tokN := catalogNotifier(rdb, c.KeyPrefix, log), tokensNotifier(rdb, c.KeyPrefix, log)
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	waitBG := startTasks(bg, log, serveTasks(c, ch, pg, cat, verifier, salts, catN, tokN, log))

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
	apiStore := catalog.NewStore(pg).WithClock(clock)
	apiStore.OnChange(func(ctx context.Context) {
		cat.Trigger() // this tracker at once, even if Redis is down
		publish(ctx, catN, log)
	})
	apiSrv := api.New(apiStore, ch, tokens, verifier, log)
	apiSrv.TrackingBase = c.PublicURL
	apiSrv.Now = clock
	apiSrv.Snapshot = cat.Get
	apiSrv.TokensChanged = func(ctx context.Context) { publish(ctx, tokN, log) }
	apiSrv.Conversions = recorder
	// Read once now, so that reports go on in the countries' zones if
	// PostgreSQL goes down before the first report is asked for.
	if _, err := apiSrv.Zones.Load(ctx); err != nil {
		log.Warn("reports: cannot read the countries' time zones yet; reports wait for PostgreSQL", "err", err)
	}
	apiSrv.Register(v1)
	if err := registerWeb(e, c, apiStore, ch, cat, apiSrv.Zones, tokens, verifier, rdb, clientIP, apiSrv.TokensChanged, log); err != nil {
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
	postback.New(postback.NewStore(pg, key, log).WithClock(clock), cat.Get, recorder, rdb, c.KeyPrefix, log).WithClock(clock).Register(e)
	registerOps(e, reg, rdb, ch, pg)

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
	if c.Ready != nil {
		c.Ready <- ln.Addr().String()
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

// registerOps mounts /healthz, /readyz and /metrics. /readyz is 503 when
// Redis or ClickHouse does not answer; PostgreSQL's state is reported but
// leaves it 200: captures run from the catalog's copy in memory, and only
// the API's catalog reads and writes (which answer 503 themselves) need it.
func registerOps(e *echo.Echo, reg *prometheus.Registry, rdb *redis.Client, ch driver.Conn, pg *pgxpool.Pool) {
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
		var redisStatus, chStatus, pgStatus string
		var wg sync.WaitGroup
		wg.Go(func() { redisStatus = ping(func(ctx context.Context) error { return rdb.Ping(ctx).Err() }) })
		wg.Go(func() { chStatus = ping(ch.Ping) })
		wg.Go(func() { pgStatus = ping(pg.Ping) })
		wg.Wait()
		code := http.StatusOK
		if redisStatus != "ok" || chStatus != "ok" {
			code = http.StatusServiceUnavailable
		}
		b, _ := json.Marshal(map[string]string{"redis": redisStatus, "clickhouse": chStatus, "postgres": pgStatus})
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

// catalogNotifier is the Redis channel announcing catalog changes.
func catalogNotifier(rdb *redis.Client, prefix string, log *slog.Logger) *notify.Notifier {
	return notify.New(rdb, prefix+"catalog:changed", log)
}

// tokensNotifier is the Redis channel announcing token changes.
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

// registerWeb mounts the dashboard (/app) on e with what serve already
// has: the API's catalog store (its writes announce changes), the events
// in ClickHouse, the tracker's catalog cache and the zones for reports, the tokens and their verifier,
// Redis for sessions, and the trusted-proxy logic for the sign-in limit.
func registerWeb(e *echo.Echo, c *Config, store *catalog.Store, events driver.Conn, cache *catalog.Cache, zones *reports.Zones, tokens *auth.Store,
	v *auth.Verifier, rdb *redis.Client, clientIP *capture.ClientIP, tokensChanged func(context.Context), log *slog.Logger) error {
	srv, err := web.New(web.Config{
		Catalog: store, Events: events, Snapshot: cache.Get, Zones: zones, Tokens: tokens, Verifier: v, TokensChanged: tokensChanged,
		Redis: rdb, KeyPrefix: c.KeyPrefix, PublicURL: c.PublicURL, ReportingCurrency: c.ReportingCur,
		ClientIP: func(r *http.Request) string { return clientIP.Addr(r).String() },
		Log:      log,
		Now:      c.Clock,
	})
	if err != nil {
		return err
	}
	srv.Register(e)
	return nil
}
