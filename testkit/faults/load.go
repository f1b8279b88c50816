package faults

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xpromo/xpromo/lib/ids"
)

// Kind is one kind of request the load sends.
type Kind int

const (
	Click     Kind = iota // GET /r/demo: 302, the click id in Location
	View                  // GET /p.gif?l=demo with a fresh visitor cookie: the visitor identifies it
	PixelConv             // GET /p.gif?e=purchase&oid=...: the order id identifies it
	APIConv               // POST /v1/conversions: the answer's id
	kinds
)

func (k Kind) String() string {
	return [...]string{"click", "view", "pixel-conv", "api-conv"}[k]
}

// mix is the share of each kind out of 100 requests.
var mix = [kinds]int{Click: 70, View: 15, PixelConv: 10, APIConv: 5}

// Class is how an answer is counted.
type Class int

const (
	OK        Class = iota // success: its id must be stored exactly once
	Retryable              // 5xx with Retry-After: nothing promised, the client retries
	NoAnswer               // connection refused or cut: nothing promised
	Bad                    // anything else: a bug
	classes
)

// Answer is one request's outcome.
type Answer struct {
	Kind    Kind
	Class   Class
	ID      string        // for OK: the click id, visitor, order id or conversion id
	At      time.Time     // when it was sent
	Latency time.Duration // send to answer
	Status  int
	Err     string // for Bad and NoAnswer
	// NotKept: a 503 saying the hit could not be kept (the pixel's, or the
	// API's "cannot keep"), which the tracker counts in xpromo_hits_lost_total.
	NotKept bool
	// MarkedDuplicate: an API conversion sent once but answered as a
	// repeat (go-redis retried a SET NX that Redis had applied).
	MarkedDuplicate bool
}

// Load is an open-loop generator: requests start at a fixed rate whatever
// the answers take, each in its own goroutine (up to MaxInFlight; beyond
// that a request is counted as skipped, a sign the system is far behind).
// With Rate 0 it is a closed loop of Workers.
type Load struct {
	Base        string
	Token       string
	Rate        float64 // requests per second; 0 = closed loop
	Workers     int     // closed loop only
	MaxInFlight int

	client *http.Client
	stop   chan struct{}
	done   sync.WaitGroup
	mu     sync.Mutex
	// Answers in chunks of answerChunk: one growing slice would copy
	// millions of answers (hundreds of MiB) under mu each time it grows,
	// stalling every request that finishes meanwhile.
	answers  [][]Answer
	seq      atomic.Uint64
	inflight atomic.Int64
	skipped  atomic.Int64
	run      string
}

// Start begins sending.
func (l *Load) Start() {
	if l.Workers == 0 {
		l.Workers = 32
	}
	if l.MaxInFlight == 0 {
		l.MaxInFlight = 8192
	}
	l.client = &http.Client{
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{MaxIdleConnsPerHost: 256, MaxIdleConns: 256, IdleConnTimeout: 30 * time.Second},
	}
	// The generator keeps every answer (millions in a long fault), so its
	// own garbage collector would mark a large heap every few seconds on
	// the two cores the tracker needs, and its pauses and assists would be
	// measured as the tracker's latency. Collect far less often: memory is
	// plentiful here, CPU is not.
	debug.SetGCPercent(800)
	rb := make([]byte, 4)
	_, _ = rand.Read(rb)
	l.run = fmt.Sprintf("%x", rb)
	l.stop = make(chan struct{})
	record := func(a Answer) {
		l.mu.Lock()
		if n := len(l.answers); n == 0 || len(l.answers[n-1]) == answerChunk {
			l.answers = append(l.answers, make([]Answer, 0, answerChunk))
		}
		last := &l.answers[len(l.answers)-1]
		*last = append(*last, a)
		l.mu.Unlock()
	}
	if l.Rate <= 0 {
		for range l.Workers {
			l.done.Go(func() {
				for {
					select {
					case <-l.stop:
						return
					default:
					}
					record(l.one())
				}
			})
		}
		return
	}
	l.done.Go(func() {
		start := time.Now()
		var issued float64
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case now := <-t.C:
				due := now.Sub(start).Seconds() * l.Rate
				for ; issued < due; issued++ {
					if l.inflight.Load() >= int64(l.MaxInFlight) {
						l.skipped.Add(1)
						continue
					}
					l.inflight.Add(1)
					l.done.Go(func() {
						defer l.inflight.Add(-1)
						record(l.one())
					})
				}
			}
		}
	})
}

// Skipped is how many requests were not sent because MaxInFlight were
// already waiting.
func (l *Load) Skipped() int64 { return l.skipped.Load() }

// Stop stops sending and waits for the requests in flight.
func (l *Load) Stop() {
	close(l.stop)
	l.done.Wait()
}

// Answers returns every answer so far.
func (l *Load) Answers() []Answer {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Concat(l.answers...)
}

const answerChunk = 1 << 16

func (l *Load) kind(n uint64) Kind {
	r := int(n % 100)
	for k := range kinds {
		if r < mix[k] {
			return k
		}
		r -= mix[k]
	}
	return Click
}

const browserUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"

func (l *Load) one() Answer {
	n := l.seq.Add(1)
	// Spread the kinds evenly rather than in runs of 70 clicks.
	k := l.kind(n * 37)
	a := Answer{Kind: k}
	var req *http.Request
	var key string
	switch k {
	case Click:
		req, _ = http.NewRequest("GET", l.Base+"/r/demo", nil)
	case View:
		vb := make([]byte, 16)
		_, _ = rand.Read(vb)
		key = base64.RawURLEncoding.EncodeToString(vb)
		req, _ = http.NewRequest("GET", l.Base+"/p.gif?l=demo", nil)
		req.AddCookie(&http.Cookie{Name: "xp_vid", Value: key})
	case PixelConv:
		key = fmt.Sprintf("px-%s-%d", l.run, n)
		req, _ = http.NewRequest("GET", l.Base+"/p.gif?l=demo&e=purchase&v=12.50&cur=EUR&oid="+url.QueryEscape(key), nil)
	case APIConv:
		key = fmt.Sprintf("api-%s-%d", l.run, n)
		body, _ := json.Marshal(map[string]any{"type": "purchase", "order_id": key, "amount": "9.90", "currency": "EUR"})
		req, _ = http.NewRequest("POST", l.Base+"/v1/conversions", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+l.Token)
	}
	req.Header.Set("User-Agent", browserUA)
	req.Header.Set("X-Forwarded-For", "8.8.8.8")
	a.At = time.Now()
	resp, err := l.client.Do(req)
	if err != nil {
		a.Latency = time.Since(a.At)
		a.Class, a.Err = NoAnswer, err.Error()
		return a
	}
	body, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	a.Latency = time.Since(a.At)
	a.Status = resp.StatusCode
	if rerr != nil {
		a.Class, a.Err = NoAnswer, rerr.Error()
		return a
	}
	if resp.StatusCode >= 500 {
		if resp.Header.Get("Retry-After") != "" {
			a.Class = Retryable
			a.NotKept = resp.StatusCode == http.StatusServiceUnavailable &&
				(k == View || k == PixelConv || bytes.Contains(body, []byte("cannot keep")))
		} else {
			a.Class, a.Err = Bad, fmt.Sprintf("%d without Retry-After: %.200s", resp.StatusCode, body)
		}
		return a
	}
	var id string
	var perr error
	switch k {
	case Click:
		id, perr = clickID(resp)
	case View, PixelConv:
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/gif" {
			perr = fmt.Errorf("pixel answered %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		id = key
	case APIConv:
		var rec struct {
			ID        string `json:"id"`
			Duplicate bool   `json:"duplicate"`
		}
		if resp.StatusCode != http.StatusOK {
			perr = fmt.Errorf("conversion answered %d: %.200s", resp.StatusCode, body)
		} else if err := json.Unmarshal(body, &rec); err != nil || rec.ID == "" {
			perr = fmt.Errorf("conversion answer %.200s", body)
		}
		// Each order id is sent once, so "duplicate" is wrong, but the
		// conversion is stored under its id all the same (the mark is
		// information; attribution decides): counted, not failed.
		id, a.MarkedDuplicate = rec.ID, rec.Duplicate
	}
	if perr != nil {
		a.Class, a.Err = Bad, perr.Error()
		return a
	}
	a.Class, a.ID = OK, id
	return a
}

func clickID(resp *http.Response) (string, error) {
	if resp.StatusCode != http.StatusFound {
		return "", fmt.Errorf("redirect answered %d", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return "", err
	}
	id := loc.Query().Get("xp_click")
	if !ids.Valid(id) {
		return "", errors.New("no valid xp_click in " + loc.String())
	}
	return id, nil
}

// Capacity runs a closed loop for d against base and returns answers per
// second.
func Capacity(base, token string, workers int, d time.Duration) float64 {
	l := &Load{Base: base, Token: token, Workers: workers}
	l.Start()
	time.Sleep(d / 4) // warm-up: connections, the tracker's caches
	before := len(l.Answers())
	t0 := time.Now()
	time.Sleep(d - d/4)
	after := len(l.Answers())
	el := time.Since(t0)
	l.Stop()
	return float64(after-before) / el.Seconds()
}
