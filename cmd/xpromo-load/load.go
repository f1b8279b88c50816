package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// loadConfig says what to send and how fast.
type loadConfig struct {
	URL      string
	Rate     float64       // requests per second (open loop); ignored with Max
	Duration time.Duration // stop after this long
	Requests int64         // stop after this many requests (0: no limit)
	Workers  int           // concurrent requests at most (= connections)
	Max      bool          // closed loop: Workers connections as fast as they go
	Timeout  time.Duration // per request
	XFF      bool          // random X-Forwarded-For from a few countries
	Client   string        // "raw" (default, plain http only) or "net/http"
	// Tick is the pacer's shortest sleep: requests due within it go out
	// together (0: sleep until each request's own slot).
	Tick time.Duration
	// Progress, if set, is called every ProgressEvery with the number of
	// successful (2xx/3xx) answers so far; used by the end-to-end mode.
	Progress      func(at time.Time, ok int64)
	ProgressEvery time.Duration
}

// loadResult is what one run measured.
type loadResult struct {
	Mode        string    `json:"mode"`
	Client      string    `json:"client"`
	URL         string    `json:"url"`
	Workers     int       `json:"workers"`
	TargetRate  float64   `json:"target_rate,omitempty"`
	Seconds     float64   `json:"seconds"`
	Requests    int64     `json:"requests"`    // answered or failed
	OK          int64     `json:"ok"`          // 2xx and 3xx answers
	Rate        float64   `json:"rate"`        // requests per second achieved
	OKRate      float64   `json:"ok_rate"`     // 2xx/3xx per second
	Status      [6]int64  `json:"-"`           // by class: index 2 = 2xx ...
	Status2xx   int64     `json:"status_2xx"`  //
	Status3xx   int64     `json:"status_3xx"`  //
	Status4xx   int64     `json:"status_4xx"`  //
	Status5xx   int64     `json:"status_5xx"`  //
	NotOK       int64     `json:"not_2xx_3xx"` // answers that are not 2xx/3xx
	Errors      int64     `json:"errors"`      // transport errors and timeouts
	FirstError  string    `json:"first_error,omitempty"`
	Late        int64     `json:"late"`          // requests released >1 ms (+ --tick) after their slot
	Latency     latencyMs `json:"latency_ms"`    // of all requests, errors included
	Started     time.Time `json:"started"`       //
	E2E         *e2eStats `json:"e2e,omitempty"` // end-to-end visibility, when asked for
	latencyHist *hist
}

type latencyMs struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

type checkpoint struct {
	At time.Time
	OK int64
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func newClient(workers int, timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        workers,
		MaxIdleConnsPerHost: workers,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		// Never follow: the 302 is the answer being measured.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type worker struct {
	h          hist
	status     [6]int64
	errors     int64
	firstEr    error
	rng        *rand.Rand
	raw        *rawConn // nil: net/http
	hostHeader string
	xff        []byte
}

// do sends one request and records it; it reports whether the answer was 2xx/3xx.
func (w *worker) do(ctx context.Context, c *http.Client, cfg *loadConfig, from time.Time) bool {
	ua := userAgents[w.rng.IntN(len(userAgents))]
	var xff []byte
	if cfg.XFF {
		a, _ := randomAddr(w.rng)
		xff = a.AppendTo(w.xff[:0])
		w.xff = xff
	}
	var code int
	var err error
	if w.raw != nil {
		code, err = w.raw.do(w.hostHeader, ua, xff)
	} else {
		code, err = w.doHTTP(ctx, c, cfg.URL, ua, xff)
		if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return false // cut off by the caller: neither a success nor an error
		}
	}
	w.h.record(time.Since(from))
	if err != nil {
		w.fail(err)
		return false
	}
	class := code / 100
	if class < 0 || class > 5 {
		class = 0
	}
	w.status[class]++
	return class == 2 || class == 3
}

func (w *worker) doHTTP(ctx context.Context, c *http.Client, url, ua string, xff []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("User-Agent", ua)
	req.Header.Set("Accept", "text/html,application/xhtml+xml,image/avif,image/webp,*/*;q=0.8")
	req.Header.Set("Accept-Language", "de-DE,de;q=0.9,en;q=0.8")
	if xff != nil {
		req.Header.Set("X-Forwarded-For", string(xff))
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, err
}

func (w *worker) fail(err error) {
	w.errors++
	if w.firstEr == nil {
		w.firstEr = err
	}
}

// runLoad runs one measurement.
func runLoad(ctx context.Context, cfg loadConfig) (*loadResult, error) {
	if cfg.URL == "" {
		return nil, errors.New("--url is required")
	}
	if !cfg.Max && cfg.Rate <= 0 {
		return nil, errors.New("--rate must be positive (or use --max)")
	}
	if cfg.Duration <= 0 && cfg.Requests <= 0 {
		return nil, errors.New("give --duration or --requests")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 64
		if !cfg.Max {
			cfg.Workers = 256
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("--url %q: not an absolute URL", cfg.URL)
	}
	switch cfg.Client {
	case "":
		cfg.Client = "raw"
		if u.Scheme != "http" {
			cfg.Client = "net/http"
		}
	case "raw", "net/http":
	default:
		return nil, fmt.Errorf("--client %q: want raw or net/http", cfg.Client)
	}
	client := newClient(cfg.Workers, cfg.Timeout)
	defer client.CloseIdleConnections()

	runCtx := ctx
	var cancel context.CancelFunc = func() {}
	if cfg.Duration > 0 {
		// Requests still in flight at the end get Timeout to finish.
		runCtx, cancel = context.WithTimeout(ctx, cfg.Duration+cfg.Timeout)
	}
	defer cancel()

	var (
		issued    atomic.Int64 // requests claimed (max mode)
		okCount   atomic.Int64
		lateTotal int64
		wg        sync.WaitGroup
		workers   = make([]*worker, cfg.Workers)
	)
	start := time.Now()
	deadline := time.Time{}
	if cfg.Duration > 0 {
		deadline = start.Add(cfg.Duration)
	}
	seed := uint64(start.UnixNano())
	for i := range workers {
		w := &worker{rng: rand.New(rand.NewPCG(seed, uint64(i))), hostHeader: u.Host}
		if cfg.Client == "raw" {
			if w.raw, err = newRawConn(u, cfg.Timeout); err != nil {
				return nil, err
			}
			defer w.raw.close()
		}
		workers[i] = w
	}

	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		if cfg.Progress == nil {
			return
		}
		every := cfg.ProgressEvery
		if every <= 0 {
			every = time.Second
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case now := <-t.C:
				cfg.Progress(now, okCount.Load())
			}
		}
	}()

	if cfg.Max {
		for _, w := range workers {
			wg.Go(func() {
				for runCtx.Err() == nil {
					if cfg.Requests > 0 && issued.Add(1) > cfg.Requests {
						return
					}
					now := time.Now()
					if !deadline.IsZero() && !now.Before(deadline) {
						return
					}
					if w.do(runCtx, client, &cfg, now) {
						okCount.Add(1)
					}
				}
			})
		}
		wg.Wait()
	} else {
		// Open loop: the pacer hands out send times; a request waiting for
		// a free worker counts that wait in its latency (no coordinated
		// omission), the pacer's own timer slack does not.
		queue := make(chan time.Time, 1<<14)
		for _, w := range workers {
			wg.Go(func() {
				for at := range queue {
					if w.do(runCtx, client, &cfg, at) {
						okCount.Add(1)
					}
				}
			})
		}
		interval := float64(time.Second) / cfg.Rate
		var sent int64
		late := int64(0)
	pace:
		for {
			now := time.Now()
			if !deadline.IsZero() && !now.Before(deadline) {
				break
			}
			due := int64(float64(now.Sub(start))/interval) + 1
			if cfg.Requests > 0 {
				due = min(due, cfg.Requests)
			}
			for ; sent < due; sent++ {
				slot := start.Add(time.Duration(float64(sent) * interval))
				if now.Sub(slot) > cfg.Tick+time.Millisecond {
					late++
				}
				select {
				case queue <- now:
				case <-runCtx.Done():
					break pace
				}
			}
			if cfg.Requests > 0 && sent >= cfg.Requests {
				break
			}
			next := start.Add(time.Duration(float64(sent) * interval))
			if d := time.Until(next); d > 0 {
				time.Sleep(max(d, cfg.Tick))
			}
		}
		close(queue)
		wg.Wait()
		lateTotal = late
	}
	elapsed := time.Since(start)
	close(stopProgress)
	<-progressDone
	if cfg.Progress != nil {
		cfg.Progress(time.Now(), okCount.Load())
	}

	res := &loadResult{
		Mode: "rate", Client: cfg.Client, URL: cfg.URL, Workers: cfg.Workers, TargetRate: cfg.Rate,
		Seconds: elapsed.Seconds(), Started: start, latencyHist: &hist{},
	}
	if cfg.Max {
		res.Mode, res.TargetRate = "max", 0
	}
	for _, w := range workers {
		res.latencyHist.merge(&w.h)
		for i, c := range w.status {
			res.Status[i] += c
		}
		res.Errors += w.errors
		if w.firstEr != nil && res.FirstError == "" {
			res.FirstError = w.firstEr.Error()
		}
	}
	res.Late = lateTotal
	res.Status2xx, res.Status3xx, res.Status4xx, res.Status5xx = res.Status[2], res.Status[3], res.Status[4], res.Status[5]
	res.OK = res.Status2xx + res.Status3xx
	res.NotOK = res.Status[0] + res.Status[1] + res.Status4xx + res.Status5xx
	res.Requests = res.OK + res.NotOK + res.Errors
	if s := elapsed.Seconds(); s > 0 {
		res.Rate = float64(res.Requests) / s
		res.OKRate = float64(res.OK) / s
	}
	h := res.latencyHist
	res.Latency = latencyMs{
		P50: ms(h.quantile(0.50)), P90: ms(h.quantile(0.90)), P99: ms(h.quantile(0.99)),
		P999: ms(h.quantile(0.999)), Max: ms(h.quantile(1)), Mean: ms(h.mean()),
	}
	return res, nil
}

// line is the one-line human summary of a run.
func (r *loadResult) line() string {
	s := fmt.Sprintf("%s %s: %d requests in %.1fs = %.0f req/s (ok %d, not 2xx/3xx %d, errors %d) latency ms p50 %.3f p90 %.3f p99 %.3f max %.3f",
		r.Mode, r.URL, r.Requests, r.Seconds, r.Rate, r.OK, r.NotOK, r.Errors,
		r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max)
	if r.Mode == "rate" {
		s += fmt.Sprintf(" (target %.0f req/s, %d released >1ms late)", r.TargetRate, r.Late)
	}
	if r.FirstError != "" {
		s += " first error: " + r.FirstError
	}
	if e := r.E2E; e != nil {
		s += fmt.Sprintf("; e2e: %d stored of %d answered, lag s p50 %.2f p99 %.2f max %.2f", e.Stored, e.Answered, e.LagP50, e.LagP99, e.LagMax)
		if e.Missing > 0 {
			s += fmt.Sprintf(" (%d not visible after %s)", e.Missing, e.Waited)
		}
	}
	return s
}
