package main

// Hostile input against the real serve server (Redis, ClickHouse): open
// redirects, body and header limits, slow clients, header and log
// injection, SQL metacharacters in every filter, secrets in logs and
// storage. Unit and fuzz tests of the parsers live next to them (see
// docs/SECURITY.md).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xpromo/xpromo/app"
	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/http/auth"
	"github.com/xpromo/xpromo/http/postback"
	"github.com/xpromo/xpromo/reports"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// rawHTTP sends req as written on a new connection and reads one answer.
func rawHTTP(t *testing.T, base, req string) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatalf("write %.60q: %v", req, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("answer to %.60q: %v", req, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp
}

// TestHostileRedirects: request targets a browser would never send but an
// attacker can (absolute form, another Host, dot segments, encoded
// slashes) never make the tracker redirect anywhere but a link's URL; the
// pixel and the postback endpoint never redirect at all.
func TestHostileRedirects(t *testing.T) {
	s := startSeeded(t)
	dests := map[string]string{ // link -> its URL before the click id
		"demo": "https://www.example.com/welcome?utm_source=acme&xp_click=",
		"out":  "https://shop.acme.example/offer?xp_click=",
	}
	for _, tt := range []struct {
		target, host string
		link         string // "" when no redirect is allowed
	}{
		{"/r/demo", "t.example", "demo"},
		{"http://evil.com/r/demo", "evil.com", "demo"},
		{"/r/demo", "evil.com", "demo"},
		{"//evil.com/r/demo", "t.example", ""},
		{"/r//evil.com", "t.example", ""},
		{"/r/%2F%2Fevil.com", "t.example", ""},
		{"/r/%252F%252Fevil.com", "t.example", ""},
		{"/r/%5C%5Cevil.com", "t.example", ""},
		{"/r/demo/../../evil.com", "t.example", ""},
		{"/r/../r/demo", "t.example", ""},
		{"/r/demo%2F..%2F..%2F%2Fevil.com", "t.example", ""},
		{"/r/demo@evil.com", "t.example", ""},
		{"/r/demo%E3%80%82evil.com", "t.example", ""},
		{"/r/demo%0d%0aLocation:%20https://evil.com", "t.example", ""},
		{"/r/demo?url=https://evil.com&next=//evil.com&xp_click=//evil.com", "t.example", "demo"},
		{"/r/out?sub=%0d%0aLocation:%20https://evil.com", "t.example", "out"},
		{"/r/out?sub=..%2F%2Fevil.com", "t.example", "out"},
		{"/p.gif?l=demo&url=https://evil.com", "t.example", ""},
		{"/p?e=signup&uid=u1&redirect=//evil.com", "t.example", ""},
		{"/v1/postback/acme?redirect=https://evil.com&ts=1&sig=00", "t.example", ""},
		{"/v1/postback/..%2F..%2Fr%2Fdemo", "t.example", ""},
	} {
		for _, method := range []string{"GET", "POST"} {
			if method == "POST" && !strings.HasPrefix(tt.target, "/v1/postback") {
				continue
			}
			resp := rawHTTP(t, s.base, method+" "+tt.target+" HTTP/1.1\r\nHost: "+tt.host+"\r\nUser-Agent: "+browserUA+
				"\r\nX-Forwarded-Host: evil.com\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			loc := resp.Header.Get("Location")
			if tt.link == "" {
				if loc != "" || resp.StatusCode/100 == 3 {
					t.Errorf("%s %s: %d to %q", method, tt.target, resp.StatusCode, loc)
				}
				continue
			}
			id, ok := strings.CutPrefix(loc, dests[tt.link])
			if resp.StatusCode != http.StatusFound || !ok {
				t.Errorf("%s %s (Host %s): %d to %q, want %s...", method, tt.target, tt.host, resp.StatusCode, loc, dests[tt.link])
				continue
			}
			if id, _, _ = strings.Cut(id, "#"); len(id) != 26 {
				t.Errorf("%s: click id %q", tt.target, id)
			}
		}
	}
}

// TestHostileBodyLimits: bodies over the limits (API 64 KiB, conversions
// 1 MiB, postbacks 16 KiB), including a valid small object padded past
// the limit, are answered 413 with a JSON error and nothing is stored.
func TestHostileBodyLimits(t *testing.T) {
	s := startSeeded(t)
	db := s.db
	admin := newToken(t, s, auth.Spec{Role: access.RoleAdmin, Name: "admin"})
	svc := newToken(t, s, auth.Spec{Role: access.RoleService, Name: "shop"})
	big := func(n int) string { return strings.Repeat("a", n) }
	conv := `{"type":"signup","user_id":"oversized"}`
	var batch strings.Builder
	batch.WriteString("[")
	for i := range 900 {
		fmt.Fprintf(&batch, `{"type":"purchase","user_id":"oversized","order_id":"o-%d","amount":"1","currency":"EUR","visitor_id":"%s"},`, i, big(100))
	}
	batch.WriteString(conv + "]")
	for _, tt := range []struct {
		name, method, path, token, ctype, body string
	}{
		{"partner name", "POST", "/v1/partners", admin, "application/json", `{"id":"big","name":"` + big(70<<10) + `"}`},
		{"partner padded", "POST", "/v1/partners", admin, "application/json", `{"id":"padded","name":"Padded"}` + strings.Repeat(" ", 70<<10)},
		{"partner update", "PATCH", "/v1/partners/acme", admin, "application/json", `{"name":"Renamed"}` + strings.Repeat("\n", 70<<10)},
		{"link", "POST", "/v1/links", admin, "application/json", `{"partnership":"acme-de","direction":"inbound","url":"https://www.example.com/` + big(70<<10) + `"}`},
		{"token", "POST", "/v1/tokens", admin, "application/json", `{"role":"admin","name":"big"}` + strings.Repeat("\t", 70<<10)},
		{"one conversion", "POST", "/v1/conversions", svc, "application/json", conv + strings.Repeat(" ", 1<<20)},
		{"batch", "POST", "/v1/conversions", svc, "application/json", batch.String() + strings.Repeat(" ", 1<<20-batch.Len()+1)},
		{"postback form", "POST", "/v1/postback/acme", "", "application/x-www-form-urlencoded", "type=signup&user_id=oversized&pad=" + big(17<<10)},
	} {
		code, body := call(t, tt.method, s.base+tt.path, tt.token, tt.ctype, tt.body)
		var e struct{ Error, Reason string }
		if code != http.StatusRequestEntityTooLarge || json.Unmarshal([]byte(body), &e) != nil || e.Error != "too_large" || !strings.Contains(e.Reason, "KiB") && !strings.Contains(e.Reason, "MiB") {
			t.Errorf("%s (%d bytes): %d %.200s", tt.name, len(tt.body), code, body)
		}
	}
	// Just under the limits the same requests work.
	if code, body := call(t, "POST", s.base+"/v1/partners", admin, "application/json", `{"id":"padded","name":"Padded"}`+strings.Repeat(" ", 60<<10)); code != http.StatusCreated {
		t.Fatalf("under the limit: %d %s", code, body)
	}
	if code, body := call(t, "POST", s.base+"/v1/conversions", svc, "application/json", `{"type":"signup","user_id":"marker"}`); code != http.StatusOK {
		t.Fatalf("marker conversion: %d %s", code, body)
	}
	waitCount(t, db, "the marker conversion stored", 1, "SELECT count() FROM conversions WHERE user_id = 'marker'")
	if n := count(t, db, "SELECT count() FROM conversions WHERE user_id = 'oversized'"); n != 0 {
		t.Errorf("%d conversions of oversized requests stored", n)
	}
	if n := pgCount(t, db, "SELECT count(*) FROM partners WHERE id = 'big' OR name = 'Renamed'"); n != 0 {
		t.Errorf("%d partners of oversized requests stored", n)
	}
	if n := pgCount(t, db, "SELECT count(*) FROM tokens WHERE name = 'big'"); n != 0 {
		t.Errorf("%d tokens of oversized requests stored", n)
	}
}

// TestHostileHeadersAndSlowClients: oversized headers are answered 431;
// a client trickling its headers (slowloris) is cut after
// --read-header-timeout and one trickling its body after --read-timeout,
// while other clients are served all along.
func TestHostileHeadersAndSlowClients(t *testing.T) {
	const headerTimeout, readTimeout = time.Second, 2 * time.Second
	s := startSeeded(t, func(c *app.Config) {
		c.ReadHeaderTimeout, c.ReadTimeout, c.MaxHeaderBytes = headerTimeout, readTimeout, 4<<10
	})
	db := s.db
	svc := newToken(t, s, auth.Spec{Role: access.RoleService, Name: "shop"})

	// net/http allows MaxHeaderBytes plus 4 KiB of slack.
	for _, n := range []int{10 << 10, 64 << 10} {
		resp := rawHTTP(t, s.base, "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: "+strings.Repeat("b", n)+"\r\nConnection: close\r\n\r\n")
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("%d-byte header: %d, want 431", n, resp.StatusCode)
		}
	}
	if resp := rawHTTP(t, s.base, "GET /r/"+strings.Repeat("a", 10<<10)+" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"); resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("10 KiB request line: %d, want 431", resp.StatusCode)
	}
	if resp := rawHTTP(t, s.base, "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Ok: "+strings.Repeat("b", 2<<10)+"\r\nConnection: close\r\n\r\n"); resp.StatusCode != http.StatusOK {
		t.Errorf("2 KiB header: %d, want 200", resp.StatusCode)
	}

	// trickle opens a connection, sends head at once, then one byte of
	// drip every 50 ms until the server ends the connection, and returns
	// how long that took and what the server answered, if anything.
	trickle := func(head, drip string) (time.Duration, string) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
		if err != nil {
			t.Error(err)
			return 0, ""
		}
		defer conn.Close()
		start := time.Now()
		ended := make(chan string, 1)
		go func() {
			b, _ := io.ReadAll(conn) // until the server closes
			ended <- string(b)
		}()
		_, _ = io.WriteString(conn, head)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case answer := <-ended:
				return time.Since(start), answer
			case <-tick.C:
				if time.Since(start) > 10*time.Second {
					return time.Since(start), "still open"
				}
				_, _ = conn.Write([]byte{drip[i%len(drip)]})
			}
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var headerCuts, bodyCuts []time.Duration
	var bodyAnswers []string
	for range 8 {
		wg.Go(func() {
			d, _ := trickle("GET /healthz HTTP/1.1\r\nHost: t\r\n", "X-Slow: loris\r\n")
			mu.Lock()
			headerCuts = append(headerCuts, d)
			mu.Unlock()
		})
		wg.Go(func() {
			d, answer := trickle("POST /v1/conversions HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer "+svc+
				"\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n"+`{"type":"signup","user_id":"slow-body"`, " ")
			mu.Lock()
			bodyCuts, bodyAnswers = append(bodyCuts, d), append(bodyAnswers, answer)
			mu.Unlock()
		})
	}
	// Meanwhile everyone else is served at once.
	deadline := time.Now().Add(2 * readTimeout)
	served := 0
	for time.Now().Before(deadline) {
		start := time.Now()
		resp := get(t, noRedirect, "GET", s.base+"/r/demo", "8.8.8.8", browserUA)
		// Within the header timeout: a click never waits for a slow client.
		if resp.StatusCode != http.StatusFound || time.Since(start) >= headerTimeout {
			t.Errorf("a normal click during the slow clients: %d after %v", resp.StatusCode, time.Since(start))
		}
		served++
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	for _, d := range headerCuts {
		if d < headerTimeout-100*time.Millisecond || d > headerTimeout+2*time.Second {
			t.Errorf("slow headers cut after %v, want about %v", d, headerTimeout)
		}
	}
	for i, d := range bodyCuts {
		if d < readTimeout-100*time.Millisecond || d > readTimeout+2*time.Second {
			t.Errorf("slow body cut after %v, want about %v", d, readTimeout)
		}
		if strings.HasPrefix(bodyAnswers[i], "HTTP/1.1 200") {
			t.Errorf("slow body accepted: %.200q", bodyAnswers[i])
		}
	}
	t.Logf("slow headers cut after %v, slow bodies after %v; %d clicks served meanwhile", headerCuts, bodyCuts, served)
	if code, body := call(t, "POST", s.base+"/v1/conversions", svc, "application/json", `{"type":"signup","user_id":"marker"}`); code != http.StatusOK {
		t.Fatalf("marker: %d %s", code, body)
	}
	waitCount(t, db, "the marker stored", 1, "SELECT count() FROM conversions WHERE user_id = 'marker'")
	if n := count(t, db, "SELECT count() FROM conversions WHERE user_id = 'slow-body'"); n != 0 {
		t.Errorf("%d slow-body conversions stored", n)
	}
}

// logfmtKeys splits a slog text line into its keys; ok is false when the
// line is not key=value pairs with properly quoted values.
func logfmtKeys(line string) (keys []string, ok bool) {
	for line != "" {
		eq := strings.IndexByte(line, '=')
		if eq <= 0 || strings.ContainsAny(line[:eq], " \"") {
			return nil, false
		}
		keys = append(keys, line[:eq])
		line = line[eq+1:]
		if strings.HasPrefix(line, `"`) {
			i := 1
			for ; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' {
					i++
				}
			}
			if i >= len(line) {
				return nil, false
			}
			if _, err := strconv.Unquote(line[:i+1]); err != nil {
				return nil, false
			}
			line = line[i+1:]
		} else if sp := strings.IndexByte(line, ' '); sp >= 0 {
			line = line[sp:]
		} else {
			line = ""
		}
		if line != "" && line[0] != ' ' {
			return nil, false
		}
		line = strings.TrimPrefix(line, " ")
	}
	return keys, len(keys) >= 3 && keys[0] == "time" && keys[1] == "level" && keys[2] == "msg"
}

// forged is what an attacker puts in a value to fake a log line.
const forged = "\r\ntime=2026-01-01T00:00:00Z level=ERROR msg=forged admin=true\n"

// TestHostileLogAndHeaderInjection: line breaks and forged log fields in
// paths, partner ids, tokens, user agents and body fields never split a
// log line (text or JSON) nor reach a response header raw; stored fields
// are refused with 4xx or kept escaped.
func TestHostileLogAndHeaderInjection(t *testing.T) {
	for _, jsonLog := range []bool{false, true} {
		t.Run(map[bool]string{false: "text", true: "json"}[jsonLog], func(t *testing.T) {
			var sink testenv.LogBuffer
			s := startServeLogged(t, &sink, jsonLog)
			db := s.db
			admin := newToken(t, s, auth.Spec{Role: access.RoleAdmin, Name: "admin"})
			svc := newToken(t, s, auth.Spec{Role: access.RoleService, Name: "shop"})
			esc := url.PathEscape(forged)
			qesc := url.QueryEscape(forged)
			ts := strconv.FormatInt(time.Now().Unix(), 10)
			for _, tt := range []struct {
				name, method, path, token, body string
				hdr                             map[string]string
				want                            int
			}{
				{"path without token", "GET", "/v1/partners/" + esc, "", "", nil, 401},
				{"path with token", "GET", "/v1/partners/" + esc, admin, "", nil, 404},
				{"bogus bearer", "GET", "/v1/partners", "", "", map[string]string{"Authorization": "Bearer x level=ERROR msg=forged"}, 401},
				{"postback partner", "GET", "/v1/postback/" + esc + "?ts=" + ts + "&sig=" + strings.Repeat("0", 64), "", "", nil, 401},
				{"postback value", "GET", "/v1/postback/acme?ts=" + ts + "&user_id=" + qesc, "", "", nil, 400},
				{"click code", "GET", "/r/" + esc, "", "", map[string]string{"User-Agent": "Mozilla level=ERROR msg=forged", "Referer": "https://a.example/?" + qesc}, 404},
				{"click sub", "GET", "/r/demo?sub=" + qesc, "", "", nil, 302},
				{"pixel", "GET", "/p.gif?l=" + qesc, "", "", nil, 200},
				{"partner name", "POST", "/v1/partners", admin, `{"id":"evil","name":` + strconv.Quote("Evil"+forged) + `}`, nil, 422},
				{"partner id", "POST", "/v1/partners", admin, `{"id":` + strconv.Quote("evil"+forged) + `,"name":"Evil"}`, nil, 422},
				{"link url", "POST", "/v1/links", admin, `{"partnership":"acme-de","direction":"inbound","url":` + strconv.Quote("https://www.example.com/"+forged) + `}`, nil, 422},
				{"link campaign", "POST", "/v1/links", admin, `{"partnership":"acme-de","direction":"inbound","url":"https://www.example.com/","campaign":` + strconv.Quote(forged) + `}`, nil, 422},
				{"token name", "POST", "/v1/tokens", admin, `{"role":"finance","name":` + strconv.Quote("a"+forged+"b") + `}`, nil, 422},
				{"conversion user", "POST", "/v1/conversions", svc, `{"type":"signup","user_id":` + strconv.Quote("u"+forged) + `}`, nil, 422},
				{"conversion order", "POST", "/v1/conversions", svc, `{"type":"purchase","order_id":` + strconv.Quote(forged) + `,"amount":"1","currency":"EUR"}`, nil, 422},
				{"conversion ua", "POST", "/v1/conversions", svc, `{"type":"signup","user_id":"ua-user","user_agent":` + strconv.Quote(forged) + `,"ip":` + strconv.Quote(forged) + `}`, nil, 200},
				{"conversion bad utf8", "POST", "/v1/conversions", svc, "{\"type\":\"signup\",\"user_id\":\"u\xff\xfe\"}", nil, 200},
				{"report filter", "GET", "/v1/reports/partnerships?partner=" + qesc + "&granularity=" + qesc, admin, "", nil, 400},
				{"audit filter", "GET", "/v1/audit?actor=" + qesc + "&entity=" + qesc, admin, "", nil, 200},
			} {
				req, err := http.NewRequest(tt.method, s.base+tt.path, strings.NewReader(tt.body))
				if err != nil {
					t.Fatalf("%s: %v", tt.name, err)
				}
				if tt.token != "" {
					req.Header.Set("Authorization", "Bearer "+tt.token)
				}
				if tt.body != "" {
					req.Header.Set("Content-Type", "application/json")
				}
				for k, v := range tt.hdr {
					req.Header.Set(k, v)
				}
				resp, err := noRedirect.Do(req)
				if err != nil {
					t.Fatalf("%s: %v", tt.name, err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tt.want {
					t.Errorf("%s: %d, want %d: %.300s", tt.name, resp.StatusCode, tt.want, b)
				}
				for k, vs := range resp.Header {
					for _, v := range vs {
						if strings.ContainsAny(v, "\r\n") || strings.Contains(v, "msg=forged") {
							t.Errorf("%s: header %s: %q", tt.name, k, v)
						}
					}
				}
			}
			// Everything refused was not stored; what was stored is escaped.
			testenv.WaitFor(t, 30*time.Second, "the accepted conversions and rejected hits stored", func() bool {
				return count(t, db, "SELECT count() FROM conversions") == 2 && count(t, db, "SELECT count() FROM rejected_hits") >= 2
			})
			if n := pgCount(t, db, "SELECT count(*) FROM partners WHERE id LIKE 'evil%' OR name LIKE 'Evil%'"); n != 0 {
				t.Errorf("%d evil partners stored", n)
			}
			for _, q := range []string{
				"SELECT count() FROM rejected_hits WHERE match(concat(link, query, endpoint, reason), '[\\r\\n]')",
				"SELECT count() FROM hits WHERE match(concat(link, sub_id, visitor, referrer_host), '[\\r\\n]')",
				"SELECT count() FROM conversions WHERE match(concat(user_id, order_id, visitor), '[\\r\\n]')",
			} {
				if n := count(t, db, q); n != 0 {
					t.Errorf("%s: %d", q, n)
				}
			}
			// The audit log is in the catalog's PostgreSQL.
			const auditQ = "SELECT count(*) FROM audit_log WHERE concat(actor, entity_id, after) ~ '[\\r\\n]'"
			if n := pgCount(t, db, auditQ); n != 0 {
				t.Errorf("%s: %d", auditQ, n)
			}
			// Invalid UTF-8 in a JSON body arrives as U+FFFD (encoding/json).
			if n := count(t, db, "SELECT count() FROM conversions WHERE user_id = ?", "u\uFFFD\uFFFD"); n != 1 {
				t.Errorf("the user id with invalid UTF-8 stored %d times as u + 2 U+FFFD", n)
			}
			if n := count(t, db, "SELECT count() FROM rejected_hits WHERE position(link, '\\\\r\\\\n') > 0"); n == 0 {
				t.Error("the unknown code with a line break was not kept escaped")
			}
			s.stop() // flush the log
			lines := strings.Split(strings.TrimRight(sink.String(), "\n"), "\n")
			if len(lines) < 10 {
				t.Fatalf("only %d log lines: %s", len(lines), sink.String())
			}
			refused := 0
			for _, line := range lines {
				if jsonLog {
					var m map[string]any
					if err := json.Unmarshal([]byte(line), &m); err != nil {
						t.Errorf("log line is not one JSON object: %q", line)
					}
					if m["msg"] == "forged" {
						t.Errorf("forged log line: %q", line)
					}
				} else if keys, ok := logfmtKeys(line); !ok {
					t.Errorf("log line split: %q", line)
				} else {
					for _, k := range []string{"time", "level", "msg"} {
						if n := len(slices.DeleteFunc(slices.Clone(keys), func(x string) bool { return x != k })); n != 1 {
							t.Errorf("log line with %d %s keys: %q", n, k, line)
						}
					}
					if slices.Contains(keys, "admin") {
						t.Errorf("forged key in %q", line)
					}
				}
				if strings.Contains(line, "request refused") || strings.Contains(line, "postback refused") {
					refused++
				}
			}
			if refused < 3 {
				t.Errorf("only %d refusals logged; the test proves nothing:\n%s", refused, sink.String())
			}
		})
	}
}

// sqlPayloads are filter values that break naive SQL (and LIKE, and
// ClickHouse's escapes): they must be data, never syntax.
var sqlPayloads = []string{
	`' OR 1=1 --`, `' OR '1'='1`, `\`, `\'`, `\\'`, `\\\'`, `'\''`, `%`, `_`, `%_%`, "`", "`hits`",
	`;DROP TABLE hits`, `'; DROP TABLE partners; --`, `1); DROP DATABASE default; --`, `?`, `??`, `{p:String}`, `@name`,
	`" OR ""="`, `$1`, `\0`, "\x00", `/*`, `*/`, `--`, `#`, "Ünïcødé ‮gnp.exe 東京 🦀", "\xff\xfe", "a\r\nb",
	strings.Repeat("x", 5000), strings.Repeat(`\'`, 500),
}

// TestHostileSQLFilters sends every payload to every filter of every
// /v1 GET endpoint (and the CLI's filters): each answer is 200 with no
// matching rows, or 4xx, never 5xx; afterwards every table holds what it
// held. Values are bound client-side by clickhouse-go, which quotes
// strings escaping \ ' and NUL: a bound payload reads back unchanged, and
// an actor holding quotes and backslashes filters the audit log exactly.
func TestHostileSQLFilters(t *testing.T) {
	s := startSeeded(t)
	db := s.db
	ctx := context.Background()
	admin := newToken(t, s, auth.Spec{Role: access.RoleAdmin, Name: "admin"})
	cm := newToken(t, s, auth.Spec{Role: access.RoleCountryManager, Countries: []string{"DE"}, Name: "cm"})
	clickID(t, get(t, noRedirect, "GET", s.base+"/r/demo", "8.8.8.8", browserUA))
	waitCount(t, db, "a click stored", 1, "SELECT count() FROM hits")

	for _, p := range sqlPayloads {
		var back string
		if err := db.Conn.QueryRow(ctx, "SELECT ?", p).Scan(&back); err != nil || back != p {
			t.Errorf("bound %q read back as %q (%v)", p, back, err)
		}
	}
	// A writer named with quotes and backslashes: the audit filter finds
	// exactly its entry.
	tricky := `O'Brien \' \\' ; DROP TABLE audit_log --`
	trickyTok := newToken(t, s, auth.Spec{Role: access.RoleAdmin, Name: tricky})
	if code, body := call(t, "POST", s.base+"/v1/partners", trickyTok, "application/json", `{"id":"obrien","name":"O'Brien"}`); code != http.StatusCreated {
		t.Fatalf("create as %q: %d %s", tricky, code, body)
	}
	code, body := call(t, "GET", s.base+"/v1/audit?actor="+url.QueryEscape(tricky), admin, "", "")
	var audit struct {
		Items []struct{ Actor string }
	}
	if err := json.Unmarshal([]byte(body), &audit); code != 200 || err != nil || len(audit.Items) != 1 || audit.Items[0].Actor != tricky {
		t.Fatalf("audit by actor %q: %d %s", tricky, code, body)
	}

	before := tableCounts(t, db)
	type endpoint struct {
		path    string
		filters []string
		exact   []string // filters that must match nothing when given a payload
	}
	eps := []endpoint{
		{"/v1/partners", []string{"country", "partner", "status", "limit", "offset"}, nil},
		{"/v1/partnerships", []string{"country", "partner", "status", "limit", "offset"}, nil},
		{"/v1/links", []string{"country", "partner", "partnership", "status", "direction", "campaign", "limit", "offset"}, []string{"partnership", "campaign"}},
		{"/v1/audit", []string{"entity", "entity_id", "actor", "from", "to", "country", "limit"}, []string{"entity", "entity_id", "actor"}},
		{"/v1/tokens", []string{"role"}, nil},
		{"/v1/statements", []string{"period"}, nil},
		{"/v1/exports/statements", []string{"period", "format"}, nil},
		{"/v1/links/demo/qr.png", []string{"size"}, nil},
	}
	for name := range reports.Registry {
		eps = append(eps, endpoint{"/v1/reports/" + name, []string{"from", "to", "granularity", "compare", "include_bots", "country", "partner", "partnership", "format", "by"}, nil})
	}
	for _, prefix := range []string{"/v1/partners/", "/v1/partnerships/", "/v1/links/", "/v1/conversions/", "/v1/tokens/"} {
		eps = append(eps, endpoint{path: prefix + "{}"})
	}
	eps = append(eps, endpoint{path: "/v1/partnerships/{}/versions"}, endpoint{path: "/v1/links/{}/qr.png"})
	requests, statuses := 0, map[int]int{}
	for _, ep := range eps {
		for _, p := range sqlPayloads {
			var urls []string
			exact := map[string]bool{}
			if strings.Contains(ep.path, "{}") {
				urls = append(urls, s.base+strings.ReplaceAll(ep.path, "{}", url.PathEscape(p)))
			}
			for _, f := range ep.filters {
				u := s.base + ep.path + "?" + url.Values{f: {p}}.Encode()
				urls, exact[u] = append(urls, u), slices.Contains(ep.exact, f)
			}
			for _, u := range urls {
				for _, tok := range []string{admin, cm} {
					requests++
					code, body := call(t, "GET", u, tok, "", "")
					statuses[code]++
					if code >= 500 {
						t.Errorf("GET %.200s: %d %.300s", u, code, body)
						continue
					}
					if code == 200 && exact[u] && !strings.Contains(body, `"items":[]`) {
						t.Errorf("GET %.200s matched rows: %.300s", u, body)
					}
				}
			}
		}
	}
	// The CLI's filters.
	for _, p := range sqlPayloads {
		for _, args := range [][]string{
			{"audit", "list", "--actor", p}, {"audit", "list", "--entity", p, "--entity-id", p},
			{"link", "list", "--partnership", p, "--partner", p}, {"partnership", "list", "--partner", p, "--country", p},
			{"report", "partnerships", "--partner", p}, {"report", "partnerships", "--country", p},
			{"report", "breakdown", "--partnership", p, "--by", p}, {"statements", "build", "--period", p},
		} {
			requests++
			code, out, errOut := cliRun(t, db, args...)
			if strings.Contains(errOut, "panic") || code != 0 && errOut == "" {
				t.Errorf("xpromo %q: exit %d, %q %q", args, code, out, errOut)
			}
			if code == 0 && args[0] == "audit" && strings.Contains(out, "DROP") {
				t.Errorf("xpromo %q matched: %s", args, out)
			}
		}
	}
	t.Logf("%d requests and commands with %d payloads; API answers by status: %v", requests, len(sqlPayloads), statuses)
	if statuses[200] == 0 || statuses[400] == 0 {
		t.Errorf("answers %v: every filter refused or none; the test proves little", statuses)
	}
	if after := tableCounts(t, db); !maps.Equal(before, after) {
		t.Fatalf("tables changed:\nbefore %v\nafter  %v", before, after)
	}
}

// tableCounts maps every table of db to its row count, and every table
// of its catalog's PostgreSQL (pgOf), as pg:table.
func tableCounts(t *testing.T, db *testenv.DB) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for _, n := range column(t, db, "SELECT name FROM system.tables WHERE database = currentDatabase() AND engine NOT IN ('MaterializedView', 'View') ORDER BY name") {
		out[n] = count(t, db, "SELECT count() FROM `"+n+"`")
	}
	if len(out) < 15 {
		t.Fatalf("only %d tables: %v", len(out), out)
	}
	rows, err := pgOf(db).Pool.Query(context.Background(), "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name")
	if err != nil {
		t.Fatal(err)
	}
	var pgTables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		pgTables = append(pgTables, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(pgTables) < 5 {
		t.Fatalf("PostgreSQL tables %v (%v)", pgTables, err)
	}
	for _, n := range pgTables {
		out["pg:"+n] = pgCount(t, db, `SELECT count(*) FROM "`+n+`"`)
	}
	return out
}

// TestHostileSecretsNeverLogged runs the flows that handle secrets (a
// token created, used, mistyped, revoked; a partner secret rotated by the
// CLI, postbacks signed right and wrong) with every log line captured at
// debug level, and checks that no secret appears in the logs, the CLI's
// stderr, or any stored column; tokens are stored as SHA-256 and partner
// secrets sealed.
func TestHostileSecretsNeverLogged(t *testing.T) {
	key, keyText := setServerKey(t)
	var sink testenv.LogBuffer
	s := startServeLogged(t, &sink, false)
	db := s.db
	admin := newToken(t, s, auth.Spec{Role: access.RoleAdmin, Name: "admin"})
	secretsSeen := []string{admin, admin[len(auth.Prefix)+auth.IDLen+1:], keyText}

	code, body := call(t, "POST", s.base+"/v1/tokens", admin, "application/json", `{"role":"service","name":"shop"}`)
	var created struct {
		Token string `json:"token"`
		ID    string `json:"id"`
	}
	if err := json.Unmarshal([]byte(body), &created); code != http.StatusCreated || err != nil || created.Token == "" {
		t.Fatalf("create token: %d %s", code, body)
	}
	svc := created.Token
	svcSecret := svc[len(auth.Prefix)+auth.IDLen+1:]
	wrong := svc[:len(svc)-4] + "AAAA"
	secretsSeen = append(secretsSeen, svc, svcSecret, wrong, wrong[len(auth.Prefix)+auth.IDLen+1:])
	for _, tt := range []struct {
		token string
		want  int
	}{{svc, 200}, {wrong, 401}, {svc + "x", 401}, {strings.ToUpper(svc), 401}} {
		if code, body := call(t, "POST", s.base+"/v1/conversions", tt.token, "application/json", `{"type":"signup","user_id":"s1"}`); code != tt.want {
			t.Errorf("token %d chars: %d %s, want %d", len(tt.token), code, body, tt.want)
		}
	}
	if code, body := call(t, "DELETE", s.base+"/v1/tokens/"+created.ID, admin, "", ""); code != 200 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	if code, _ := call(t, "POST", s.base+"/v1/conversions", svc, "application/json", `{"type":"signup","user_id":"s2"}`); code != 401 {
		t.Errorf("revoked token: %d", code)
	}

	// Partner secrets: rotated twice by the CLI.
	var partnerSecrets []string
	cliErr := ""
	for range 2 {
		out, errOut, err := secretCmd(t, "rotate", "--id", "acme", "--clickhouse-url", db.URL, "--postgres-url", pgOf(db).URL)
		if err != nil {
			t.Fatalf("rotate: %v %s", err, errOut)
		}
		partnerSecrets = append(partnerSecrets, strings.TrimSpace(out))
		cliErr += errOut
	}
	for _, ps := range partnerSecrets {
		secretsSeen = append(secretsSeen, ps, strings.TrimPrefix(ps, postback.SecretPrefix))
	}
	click := clickID(t, get(t, noRedirect, "GET", s.base+"/r/out", "8.8.8.8", browserUA))
	postbackWith := func(secret string, tamper bool) int {
		p := map[string]string{"type": "signup", "user_id": "pb-" + strconv.Itoa(len(secret)) + strconv.FormatBool(tamper), "click_id": click, "ts": strconv.FormatInt(time.Now().Unix(), 10)}
		p["sig"] = postback.Sign(secret, p)
		if tamper {
			p["user_id"] += "x"
		}
		v := url.Values{}
		for k, x := range p {
			v.Set(k, x)
		}
		code, _ := call(t, "POST", s.base+"/v1/postback/acme", "", "application/x-www-form-urlencoded", v.Encode())
		return code
	}
	current := partnerSecrets[len(partnerSecrets)-1]
	testenv.WaitFor(t, 10*time.Second, "postback with the current secret accepted", func() bool { return postbackWith(current, false) == 200 })
	for _, tt := range []struct {
		secret string
		tamper bool
	}{{"xps_wrong", false}, {current, true}, {current + "x", false}} {
		if code := postbackWith(tt.secret, tt.tamper); code != http.StatusUnauthorized {
			t.Errorf("postback signed with %d chars (tampered %v): %d, want 401", len(tt.secret), tt.tamper, code)
		}
	}

	// Storage: the token's hash only, the partner secrets sealed.
	var hash string
	if err := pgOf(db).Pool.QueryRow(context.Background(), "SELECT encode(secret_hash, 'hex') FROM tokens WHERE id = $1", created.ID).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	_, sb, err := auth.Parse(svc)
	if err != nil {
		t.Fatal(err)
	}
	if hash != sha256Hex(sb) {
		t.Errorf("stored hash %q is not the secret's SHA-256", hash)
	}
	if n := pgCount(t, db, "SELECT count(*) FROM partner_secrets WHERE sealed IS NOT NULL"); n < 2 {
		t.Errorf("%d sealed partner secrets", n)
	}
	sealed, err := postback.NewStore(pgOf(db).Pool, key, nil).Secrets(context.Background(), "acme")
	if err != nil || !slices.Contains(sealed, current) {
		t.Errorf("the server key does not open the stored secrets: %v", err)
	}
	if found := scanStrings(t, db, secretsSeen...); len(found) > 0 {
		t.Errorf("secrets stored in clear: %v", found)
	}

	s.stop() // flush the log
	logs := sink.String()
	if !strings.Contains(logs, "auth: request refused") || !strings.Contains(logs, "postback refused") {
		t.Fatalf("the refusals were not logged; the test proves nothing:\n%s", logs)
	}
	for _, sec := range secretsSeen {
		if strings.Contains(logs, sec) {
			t.Errorf("a secret (%d chars) appears in the server log", len(sec))
		}
		if strings.Contains(cliErr, sec) {
			t.Errorf("a secret (%d chars) appears on the CLI's stderr", len(sec))
		}
	}
	if t.Failed() {
		t.Log(logs)
	}
}
