// Command xpromo-load is the load generator of `make bench`.
//
// HTTP load (the default mode):
//
//	xpromo-load --url URL --rate N --duration D [--workers W]   open loop at N req/s
//	xpromo-load --url URL --max --duration D [--workers W]      closed loop, W connections
//
// Redirects are never followed. Each request carries a browser User-Agent and
// a random X-Forwarded-For from a few countries, so the tracker counts it as
// a person. Latency runs from the moment the pacer releases a request, so
// time spent waiting for a free connection counts. With --clickhouse-url it
// also measures how long answered hits take to become visible in ClickHouse
// (--e2e-table, default hits).
//
// Stream helpers for the ingest benchmark:
//
//	xpromo-load --fill-stream N [--group G] --redis-url U --prefix P   XADD N encoded clicks, G per entry
//	xpromo-load --wait-ingest N --redis-url U --prefix P --clickhouse-url C [--since-ms T]
//	    wait until the table holds N rows and every stream is empty
//
// Output: one line on stderr and, with --json, a JSON object on stdout.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if err == flag.ErrHelp {
			return
		}
		fmt.Fprintln(os.Stderr, "xpromo-load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("xpromo-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage:
  xpromo-load --url URL --rate N [--duration D] [--workers W] [--clickhouse-url C]   open loop at N req/s
  xpromo-load --url URL --max [--duration D] [--workers W]                         closed loop, W connections
  xpromo-load --fill-stream N [--group G] --redis-url U --prefix P                 XADD N clicks, G per entry
  xpromo-load --wait-ingest N --redis-url U --prefix P --clickhouse-url C           wait for N rows, empty streams

Redirects are never followed; requests carry a browser User-Agent and a random
X-Forwarded-For. One line on stderr; with --json also a JSON object on stdout.

Flags:
`)
		fs.PrintDefaults()
	}
	var (
		lc      loadConfig
		asJSON  bool
		chURL   string
		table   string
		e2ePoll time.Duration
		e2eWait time.Duration

		fill     int
		waitN    uint64
		redisURL string
		prefix   string
		instance string
		sinceMs  int64
		waitMax  time.Duration
		fc       fillConfig
	)
	fs.StringVar(&lc.URL, "url", "", "URL to request (GET)")
	fs.Float64Var(&lc.Rate, "rate", 0, "requests per second (open loop)")
	fs.DurationVar(&lc.Duration, "duration", 10*time.Second, "how long to send")
	fs.Int64Var(&lc.Requests, "requests", 0, "stop after this many requests (0: only --duration)")
	fs.IntVar(&lc.Workers, "workers", 0, "concurrent requests and connections at most (default 256 at a fixed rate, 64 with --max)")
	fs.BoolVar(&lc.Max, "max", false, "closed loop: --workers connections send as fast as answers come")
	fs.DurationVar(&lc.Timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.StringVar(&lc.Client, "client", "", "HTTP client: raw (a minimal HTTP/1.1 keep-alive client, the default for http://) or net/http")
	fs.DurationVar(&lc.Tick, "tick", 0, "pacer granularity: requests due within it are released together (0: each at its own time)")
	fs.BoolVar(&lc.XFF, "xff", true, "send a random X-Forwarded-For address from DE, FR, US, GB, ES, IT")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON on stdout")
	fs.StringVar(&chURL, "clickhouse-url", "", "ClickHouse URL: with HTTP load, also measure when answered hits are visible there; required by --wait-ingest")
	fs.StringVar(&table, "e2e-table", "hits", "table the hits land in")
	fs.DurationVar(&e2ePoll, "e2e-poll", 100*time.Millisecond, "how often to sample the answered count and the table's rows")
	fs.DurationVar(&e2eWait, "e2e-wait", 2*time.Minute, "how long to wait after the load for the last hits to become visible")

	fs.IntVar(&fill, "fill-stream", 0, "instead of HTTP load: XADD this many encoded clicks to a stream")
	fs.Uint64Var(&waitN, "wait-ingest", 0, "instead of HTTP load: wait until --e2e-table holds this many rows and all streams are empty")
	fs.StringVar(&redisURL, "redis-url", "redis://127.0.0.1:16379/0", "Redis URL (stream modes)")
	fs.StringVar(&prefix, "prefix", "xpromo:", "Redis key prefix, as the tracker's --redis-prefix")
	fs.StringVar(&instance, "instance", "bench-fill", "--fill-stream: stream instance name")
	fs.IntVar(&fc.Group, "group", 32, "--fill-stream: hits per stream entry (the tracker writes one entry per group commit)")
	fs.StringVar(&fc.Link, "link", "demo", "--fill-stream: link code of the clicks")
	fs.StringVar(&fc.Partner, "partner", "acme", "--fill-stream: partner of the clicks")
	fs.StringVar(&fc.Partnership, "partnership", "acme-de", "--fill-stream: partnership of the clicks")
	fs.StringVar(&fc.Campaign, "campaign", "launch", "--fill-stream: campaign of the clicks")
	fs.Int64Var(&sinceMs, "since-ms", 0, "--wait-ingest: Unix milliseconds the clock starts at (when the ingester was started); default now")
	fs.DurationVar(&waitMax, "wait-timeout", 10*time.Minute, "--wait-ingest: give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	emit := func(v any, line string) error {
		fmt.Fprintln(stderr, line)
		if asJSON {
			enc := json.NewEncoder(stdout)
			return enc.Encode(v)
		}
		return nil
	}

	switch {
	case fill > 0 && waitN > 0:
		return fmt.Errorf("--fill-stream and --wait-ingest are separate runs")
	case fill > 0:
		fc.RedisURL, fc.Prefix, fc.Instance, fc.N = redisURL, prefix, instance, fill
		fc.Chunk, fc.Parallel = 500, 2
		r, err := fillStream(ctx, fc)
		if err != nil {
			return err
		}
		return emit(r, fmt.Sprintf("filled %s with %d hits, %d per entry, in %.2fs (%.0f/s), XLEN %d", r.Stream, r.Hits, r.Group, r.Seconds, r.Rate, r.XLen))
	case waitN > 0:
		if chURL == "" {
			return fmt.Errorf("--wait-ingest needs --clickhouse-url")
		}
		wc := waitConfig{RedisURL: redisURL, Prefix: prefix, ClickHouseURL: chURL, Table: table, Target: waitN, Timeout: waitMax, Poll: 20 * time.Millisecond}
		if sinceMs > 0 {
			wc.Since = time.UnixMilli(sinceMs)
		}
		r, err := waitIngest(ctx, wc)
		if err != nil {
			return err
		}
		line := fmt.Sprintf("ingest: %d rows (target %d) after %.2fs = %.0f hits/s (first rows after %.2fs, %.0f hits/s after that), backlog %d",
			r.Rows, r.Target, r.Seconds, r.Rate, r.FirstRowsS, r.RateSteady, r.Backlog)
		if r.TimedOut {
			line += " TIMED OUT"
		}
		if err := emit(r, line); err != nil {
			return err
		}
		if r.TimedOut {
			return fmt.Errorf("wait-ingest timed out after %s", waitMax)
		}
		return nil
	}

	var tr *e2eTracker
	stopPoll := make(chan struct{})
	pollDone := make(chan struct{})
	if chURL != "" {
		rc, err := newRowCounter(ctx, chURL, table)
		if err != nil {
			return err
		}
		defer rc.Close()
		base, err := rc.count(ctx)
		if err != nil {
			return err
		}
		tr = &e2eTracker{rc: rc, every: e2ePoll, baseline: base}
		lc.Progress, lc.ProgressEvery = tr.checkpoint, e2ePoll
		go func() { defer close(pollDone); tr.pollLoop(ctx, stopPoll) }()
	} else {
		close(pollDone)
	}
	res, err := runLoad(ctx, lc)
	close(stopPoll)
	<-pollDone
	if err != nil {
		return err
	}
	if tr != nil {
		waited := tr.drain(ctx, res.OK, e2eWait)
		total, err := tr.rc.count(ctx)
		if err != nil {
			return err
		}
		stored := uint64(0)
		if total > tr.baseline {
			stored = total - tr.baseline
		}
		res.E2E = tr.stats(res.OK, stored, waited)
		res.E2E.Table = table
		if tr.err != nil {
			fmt.Fprintln(stderr, "xpromo-load: some ClickHouse polls failed:", tr.err)
		}
	}
	return emit(res, res.line())
}
