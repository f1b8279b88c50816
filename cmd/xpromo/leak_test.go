package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"io/fs"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/xpromo/xpromo/app"
	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/http/auth"
	"github.com/xpromo/xpromo/http/postback"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// ipForms are the ways an address could be kept: its text (and the
// expanded IPv6 text), its raw bytes and their hex.
func ipForms(s string) []string {
	a := netip.MustParseAddr(s)
	raw := a.AsSlice()
	forms := []string{a.String(), a.StringExpanded(), string(raw), hex.EncodeToString(raw)}
	if a.Is4() {
		forms = forms[:1]
		forms = append(forms, string(raw), hex.EncodeToString(raw), "::ffff:"+s)
	}
	return forms
}

// redisValues returns every key under prefix and every value, field and
// stream entry they hold.
func redisValues(t *testing.T, c *redis.Client, prefix string) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		out = append(out, k)
		typ, err := c.Type(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		switch typ {
		case "string":
			out = append(out, c.Get(ctx, k).Val())
		case "hash":
			for f, v := range c.HGetAll(ctx, k).Val() {
				out = append(out, f, v)
			}
		case "set":
			out = append(out, c.SMembers(ctx, k).Val()...)
		case "zset":
			out = append(out, c.ZRange(ctx, k, 0, -1).Val()...)
		case "list":
			out = append(out, c.LRange(ctx, k, 0, -1).Val()...)
		case "stream":
			for _, m := range c.XRange(ctx, k, "-", "+").Val() {
				for f, v := range m.Values {
					out = append(out, f, v.(string))
				}
			}
		default:
			t.Fatalf("redis key %s of type %s: not scanned", k, typ)
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestNoRawIPStored sends clicks, pixel views and conversions, a
// rejected hit, API conversions and a partner postback from known IPv4 and
// IPv6 addresses through a trusted proxy (X-Forwarded-For), then searches
// every text column of every ClickHouse table, every Redis key and value
// of the tracker (streams included, before and after ingestion) and every
// file of its state directory for the addresses in any form: none holds
// one. The day's fingerprint salt is looked for the same way outside
// Redis. The scanner is first shown to find each form where it is.
func TestNoRawIPStored(t *testing.T) {
	key, _ := setServerKey(t)
	const v4, v6, apiIP = "81.2.69.142", "2001:4860:4860::8888", "81.2.69.160"
	var needles []string
	for _, ip := range []string{v4, v6, apiIP} {
		needles = append(needles, ipForms(ip)...)
	}
	db := newDB(t)
	r := testenv.NewRedis(t)
	ctx := context.Background()
	seed(t, db)

	// The scanner finds each form where it is.
	if err := db.Conn.Exec(ctx, `CREATE TABLE canary (s String, a Array(String)) ENGINE = Memory`); err != nil {
		t.Fatal(err)
	}
	var canary [][]any
	for _, n := range needles {
		canary = append(canary, []any{"x" + n + "y", []string{}})
	}
	insertRows(t, db, `INSERT INTO canary (s, a)`, canary...)
	if found := scanStrings(t, db, needles...); len(found) != len(needles) {
		t.Fatalf("the scanner found %d of %d planted forms: %v", len(found), len(needles), found)
	}
	if err := db.Conn.Exec(ctx, `DROP TABLE canary`); err != nil {
		t.Fatal(err)
	}

	stateDir := t.TempDir()
	secret, err := postback.NewStore(pgOf(db).Pool, key, testenv.Logger(t)).Rotate(ctx, "acme", "test")
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := auth.NewStore(pgOf(db).Pool).WithClock(testenv.Clock()).Create(ctx, auth.Spec{Role: access.RoleService, Name: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	// Hits stay in the Redis streams first (no ingester), to be searched
	// there; a second server ingests them.
	s := startServe(t, r.URL, r.Prefix, db, func(c *app.Config) { c.Ingest, c.DataDir = false, stateDir })
	do := func(method, path, xff, ctype, auth string, body io.Reader) int {
		t.Helper()
		req, _ := http.NewRequest(method, s.base+path, body)
		req.Header.Set("User-Agent", browserUA)
		req.Header.Set("X-Forwarded-For", xff)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	testenv.WaitFor(t, 10*time.Second, "service token accepted", func() bool {
		return do("POST", "/v1/conversions", v4, "application/json", token, strings.NewReader(`{"type":"signup","user_id":"warmup"}`)) == 200
	})
	var clicks []string
	for _, ip := range []string{v4, v6, "10.1.2.3, " + v4} {
		clicks = append(clicks, clickID(t, get(t, noRedirect, "GET", s.base+"/r/demo?sub=x", ip, browserUA)))
	}
	steps := []struct {
		method, path, xff, ctype, auth, body string
		want                                 int
	}{
		{"GET", "/p.gif?l=demo", v6, "", "", "", 200},
		{"GET", "/p.gif?e=signup&uid=ip-user&click=" + clicks[0], v4, "", "", "", 200},
		{"GET", "/p.gif?e=purchase&oid=ip-o1&v=5&cur=EUR", v6, "", "", "", 200},
		{"GET", "/p.gif?e=bogus&ip=1", v4, "", "", "", 200}, // rejected, kept with its query
		{"GET", "/r/no-such-link", v6, "", "", "", 404},
		{"POST", "/v1/conversions", v4, "application/json", token, `{"type":"purchase","order_id":"ip-o2","amount":"3","currency":"EUR","ip":"` + apiIP + `","user_agent":"UA"}`, 200},
		{"POST", "/v1/conversions", v4, "application/json", token, `[{"type":"signup","user_id":"ip-u3","ip":"` + v6 + `","user_agent":"UA"}]`, 200},
	}
	for _, st := range steps {
		if code := do(st.method, st.path, st.xff, st.ctype, st.auth, strings.NewReader(st.body)); code != st.want {
			t.Fatalf("%s %s: %d, want %d", st.method, st.path, code, st.want)
		}
	}
	params := map[string]string{"click_id": clicks[1], "type": "signup", "user_id": "pb-u1", "ts": strconv.FormatInt(time.Now().Unix(), 10)}
	params["sig"] = postback.Sign(secret, params)
	form := url.Values{}
	for k, v := range params {
		form.Set(k, v)
	}
	if code := do("POST", "/v1/postback/acme", v6, "application/x-www-form-urlencoded", "", strings.NewReader(form.Encode())); code != 200 {
		t.Fatalf("postback: %d", code)
	}
	// Every hit is in a Redis stream now: 3 clicks, 1 view, 2 pixel
	// conversions, 2 rejected, 3 API conversions with the warm-up, 1 postback.
	const total = 12
	var entries int64
	testenv.WaitFor(t, 10*time.Second, "hits in the streams", func() bool {
		entries = 0
		for _, k := range r.Client.Keys(ctx, r.Prefix+"hits:*").Val() {
			entries += r.Client.XLen(ctx, k).Val()
		}
		return entries == total
	})
	checkRedis := func(when string) {
		t.Helper()
		vals := redisValues(t, r.Client, r.Prefix)
		for _, v := range vals {
			for _, n := range needles {
				if strings.Contains(v, n) {
					t.Errorf("%s: redis holds %q in %q", when, n, v)
				}
			}
		}
	}
	checkRedis("in the streams")
	s.stop()

	s2 := startServe(t, r.URL, r.Prefix, db, func(c *app.Config) { c.DataDir = stateDir })
	_ = s2
	testenv.WaitFor(t, 30*time.Second, "every hit in ClickHouse", func() bool {
		return count(t, db, "SELECT count() FROM hits")+count(t, db, "SELECT count() FROM conversions")+count(t, db, "SELECT count() FROM rejected_hits") == total
	})
	// The addresses were used: countries and fingerprints come from them.
	if n := count(t, db, "SELECT count() FROM hits WHERE kind = 'click' AND fingerprint != '' AND country IN ('GB', 'US')"); n != 3 {
		t.Fatalf("%d clicks with a fingerprint and the address's country, want 3", n)
	}
	if n := count(t, db, "SELECT count() FROM conversions WHERE fingerprint != ''"); n < 3 {
		t.Fatalf("%d conversions with a fingerprint, want at least 3", n)
	}
	if found := scanStrings(t, db, needles...); len(found) > 0 {
		t.Errorf("ClickHouse holds client addresses: %v", found)
	}
	checkRedis("after ingestion")

	// The salts live in Redis only: not in ClickHouse, not on disk.
	var salts []string
	for _, k := range r.Client.Keys(ctx, r.Prefix+"salt:*").Val() {
		v := r.Client.Get(ctx, k).Val()
		b, _ := hex.DecodeString(v)
		salts = append(salts, v, string(b))
		if ttl := r.Client.TTL(ctx, k).Val(); ttl <= 0 || ttl > 49*time.Hour {
			t.Errorf("salt %s: TTL %v", k, ttl)
		}
	}
	if len(salts) == 0 {
		t.Fatal("no salt in Redis: fingerprints were made without one?")
	}
	if found := scanStrings(t, db, salts...); len(found) > 0 {
		t.Errorf("ClickHouse holds a salt: %v", found)
	}
	s2.stop()
	var files int
	err = filepath.WalkDir(stateDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		for _, n := range append(append([]string{}, needles...), salts...) {
			if bytes.Contains(b, []byte(n)) {
				t.Errorf("%s holds %q", p, n)
			}
		}
		return nil
	})
	if err != nil || files == 0 {
		t.Fatalf("state dir: %d files, %v", files, err)
	}
}
