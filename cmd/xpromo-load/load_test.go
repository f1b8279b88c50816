package main

import (
	"context"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xpromo/xpromo/tracker/geo"
)

// testServer answers /r/x with a 302 to /followed, except every fifth
// request which gets a 503, and counts what it sees.
type testServer struct {
	requests, followed, badHeaders atomic.Int64
}

func (s *testServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/followed" {
		s.followed.Add(1)
		return
	}
	n := s.requests.Add(1)
	if a, err := netip.ParseAddr(r.Header.Get("X-Forwarded-For")); err != nil || geo.Country(a) == geo.Unknown || r.UserAgent() == "" {
		s.badHeaders.Add(1)
	}
	if n%5 == 0 {
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	http.Redirect(w, r, "/followed", http.StatusFound)
}

func checkCounts(t *testing.T, res *loadResult, ts *testServer, n int64) {
	t.Helper()
	if res.Requests != n || ts.requests.Load() != n {
		t.Fatalf("requests: result %d, server %d, want %d", res.Requests, ts.requests.Load(), n)
	}
	if res.Status3xx != n*4/5 || res.Status5xx != n/5 || res.OK != n*4/5 || res.NotOK != n/5 || res.Errors != 0 {
		t.Fatalf("counts: 3xx %d 5xx %d ok %d not ok %d errors %d (%s)", res.Status3xx, res.Status5xx, res.OK, res.NotOK, res.Errors, res.FirstError)
	}
	if ts.followed.Load() != 0 {
		t.Fatalf("%d redirects followed", ts.followed.Load())
	}
	if ts.badHeaders.Load() != 0 {
		t.Fatalf("%d requests without a browser User-Agent and a placeable X-Forwarded-For", ts.badHeaders.Load())
	}
	if res.latencyHist.n != uint64(n) || res.Latency.P50 <= 0 || res.Latency.P50 > res.Latency.P99 || res.Latency.P99 > res.Latency.Max {
		t.Fatalf("latency: %d samples, %+v", res.latencyHist.n, res.Latency)
	}
}

var clients = []string{"raw", "net/http"}

func TestRateModeCounts(t *testing.T) {
	for _, client := range clients {
		t.Run(client, func(t *testing.T) { testRateModeCounts(t, client) })
	}
}

func testRateModeCounts(t *testing.T, client string) {
	ts := &testServer{}
	srv := httptest.NewServer(ts)
	defer srv.Close()
	var progress atomic.Int64
	start := time.Now()
	res, err := runLoad(context.Background(), loadConfig{
		URL: srv.URL + "/r/x", Rate: 1000, Requests: 200, Duration: 10 * time.Second, Workers: 16, XFF: true, Client: client,
		Progress: func(_ time.Time, ok int64) { progress.Store(ok) }, ProgressEvery: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, res, ts, 200)
	// 200 requests at 1000/s take about 0.2 s: the pacer holds the rate.
	if el := time.Since(start); el < 150*time.Millisecond || el > 5*time.Second {
		t.Fatalf("200 requests at 1000/s took %v", el)
	}
	if progress.Load() != res.OK {
		t.Fatalf("last progress %d, ok %d", progress.Load(), res.OK)
	}
}

func TestMaxModeCounts(t *testing.T) {
	for _, client := range clients {
		t.Run(client, func(t *testing.T) {
			ts := &testServer{}
			srv := httptest.NewServer(ts)
			defer srv.Close()
			res, err := runLoad(context.Background(), loadConfig{URL: srv.URL + "/r/x", Max: true, Requests: 500, Duration: 30 * time.Second, Workers: 8, XFF: true, Client: client})
			if err != nil {
				t.Fatal(err)
			}
			checkCounts(t, res, ts, 500)
			if res.Mode != "max" || res.Rate <= 0 || res.Client != client {
				t.Fatalf("mode %q client %q rate %v", res.Mode, res.Client, res.Rate)
			}
		})
	}
}

// The raw client reads every way a body can be framed and keeps the
// connection when it may.
func TestRawClientFraming(t *testing.T) {
	var conns atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/length", func(w http.ResponseWriter, r *http.Request) { w.Write(make([]byte, 43)) })
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		for range 3 {
			w.Write(make([]byte, 5000))
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/close", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusNotFound)
	})
	mux.HandleFunc("/nocontent", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	for _, c := range []struct {
		path     string
		code     int
		newConns int64
	}{{"/length", 200, 1}, {"/chunked", 200, 1}, {"/nocontent", 204, 1}, {"/close", 404, 2}} {
		conns.Store(0)
		u, _ := url.Parse(srv.URL + c.path)
		rc, err := newRawConn(u, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			code, err := rc.do(u.Host, "Mozilla/5.0", []byte("91.0.0.1"))
			if err != nil || code != c.code {
				t.Fatalf("%s: %d %v", c.path, code, err)
			}
		}
		rc.close()
		if n := conns.Load(); n != c.newConns {
			t.Errorf("%s: %d connections for 2 requests, want %d", c.path, n, c.newConns)
		}
	}
}

func TestDurationAndErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens: every request is a transport error
	for _, client := range clients {
		res, err := runLoad(context.Background(), loadConfig{URL: url, Rate: 200, Duration: 300 * time.Millisecond, Workers: 4, Timeout: time.Second, Client: client})
		if err != nil {
			t.Fatal(err)
		}
		if res.Errors == 0 || res.Errors != res.Requests || res.OK != 0 || res.FirstError == "" {
			t.Fatalf("%s: errors %d of %d, ok %d, first %q", client, res.Errors, res.Requests, res.OK, res.FirstError)
		}
		// About 60 at 200/s for 0.3 s.
		if res.Requests < 30 || res.Requests > 90 {
			t.Fatalf("%s: %d requests in 0.3 s at 200/s", client, res.Requests)
		}
	}
}

func TestCountriesPlaced(t *testing.T) {
	for _, c := range countries {
		r := rand.New(rand.NewPCG(1, 2))
		for range 2000 {
			addr, want := randomAddrIn(r, c.Prefix), c.Country
			if got := geo.Country(addr); got != want || !c.Prefix.Contains(addr) {
				t.Fatalf("%s: %v is in %s by the IP table (prefix %v)", want, addr, got, c.Prefix)
			}
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	seen := map[string]int{}
	for range 10000 {
		a, cc := randomAddr(r)
		if geo.Country(a) != cc {
			t.Fatalf("%v: %s, table says %s", a, cc, geo.Country(a))
		}
		seen[cc]++
	}
	if len(seen) != len(countries) || seen["DE"] < 4000 {
		t.Fatalf("country mix %v", seen)
	}
}

func TestHistQuantiles(t *testing.T) {
	var h hist
	for i := 1; i <= 10000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, q := range []float64{0.5, 0.9, 0.99} {
		want := q * 10000 * float64(time.Microsecond)
		got := float64(h.quantile(q))
		if got < want*0.98 || got > want*1.02 {
			t.Errorf("p%v = %v, want ~%v", q*100, time.Duration(got), time.Duration(want))
		}
	}
	if h.quantile(1) != 10*time.Millisecond {
		t.Errorf("max %v", h.quantile(1))
	}
	for _, v := range []int64{0, 1, 127, 128, 129, 1000, 1 << 40, 1<<62 + 12345} {
		b := bucketOf(v)
		if b < 0 || b >= histBuckets {
			t.Fatalf("bucket of %d: %d", v, b)
		}
		if mid := bucketValue(b); float64(mid) < float64(v)*0.98 || float64(mid) > float64(v)*1.02+1 {
			t.Errorf("value %d in bucket %d of middle %d", v, b, mid)
		}
	}
}

func TestE2ELag(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tr := &e2eTracker{}
	// 100 answered per second; rows appear 1.5 s later in steps of 100.
	for i := 1; i <= 10; i++ {
		tr.checkpoint(t0.Add(time.Duration(i)*time.Second), int64(100*i))
	}
	for i := 0; i <= 110; i++ { // until 11 s: the last checkpoint (needs 11.5 s) is never reached
		at := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		rows := uint64(0)
		if s := at.Sub(t0) - 1500*time.Millisecond; s > 0 {
			rows = uint64(s/time.Second) * 100
		}
		tr.polls = append(tr.polls, poll{at: at, rows: rows})
	}
	s := tr.stats(1000, 1000, 0)
	if s.Checkpoints != 10 || s.Unresolved != 1 || s.Missing != 0 {
		t.Fatalf("%+v", s)
	}
	if s.LagP50 < 1.49 || s.LagP50 > 1.51 || s.LagMax > 1.51 {
		t.Fatalf("lag %+v", s)
	}
}
