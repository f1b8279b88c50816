package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/http/auth"
	"github.com/xpromo/xpromo/lib/ids"
	"github.com/xpromo/xpromo/testkit/testenv"
	"github.com/xpromo/xpromo/tracker/capture"
	"github.com/xpromo/xpromo/tracker/conversion"
	"github.com/xpromo/xpromo/tracker/hit"
)

// hitLog is a conversion.Submitter that keeps what it is given.
type hitLog struct {
	mu   sync.Mutex
	hits []hit.Hit
}

func (l *hitLog) Submit(h *hit.Hit) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.hits = append(l.hits, *h)
	return nil
}

func (l *hitLog) since(n int) []hit.Hit {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]hit.Hit(nil), l.hits[n:]...)
}

func (l *hitLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.hits)
}

// FuzzConversionsBody: POST /v1/conversions with any body, single or
// batch, answers 200, 400, 413 or 422 with a JSON body, never 500; what it
// records is exactly what it says it accepted, and every recorded field
// is clean (valid UTF-8, no control characters, bounded, a valid amount).
// Tokens live in PostgreSQL and the repeat check in Redis, as in serve.
func FuzzConversionsBody(f *testing.F) {
	ctx := context.Background()
	db := testenv.ClickHouse(f)
	rdb := testenv.NewRedis(f)
	tokens := auth.NewStore(testenv.Postgres(f).Pool).WithClock(testenv.Clock())
	tok, _, err := tokens.Create(ctx, auth.Spec{Role: access.RoleService, Name: "fuzz"})
	if err != nil {
		f.Fatal(err)
	}
	v := auth.NewVerifier(tokens, time.Hour, nil)
	if err := v.Refresh(ctx); err != nil {
		f.Fatal(err)
	}
	log := &hitLog{}
	srv := New(catalog.NewStore(testenv.Postgres(f).Pool).WithClock(testenv.Clock()), db.Conn, tokens, v, nil)
	srv.Now = testenv.Clock()
	srv.Conversions = conversion.NewRecorder(rdb.Client, rdb.Prefix, log, nil)
	e := echo.New()
	srv.Register(e.Group("/v1", auth.Middleware(v)))

	for _, s := range []string{
		`{"type":"signup","user_id":"u1"}`,
		`{"type":"purchase","user_id":"u1","order_id":"o1","amount":"12.50","currency":"eur","click_id":"01KB8ZQ0W6M5R2X4T7Y9A3C5E7"}`,
		`[{"type":"signup","user_id":"u2"},{"type":"refund","order_id":"o1","currency":"EUR"},{"type":"x"},7,null]`,
		`{"type":"signup","user_id":"a\r\nb"}`, `{"type":"signup","user_id":"\u0000"}`, "{\"type\":\"signup\",\"user_id\":\"\xff\xfe\"}",
		`{"type":"purchase","order_id":"o","amount":1e400,"currency":"EUR"}`, `{"type":"signup","user_id":"u","type":"refund"}`,
		`{"type":"signup","user_id":"' OR 1=1 --","visitor_id":"\\'\\\\"}`, `[]`, `[` + strings.Repeat(`{"type":"signup","user_id":"b"},`, 3) + `1]`,
		`{"type":"signup","user_id":"u","user_agent":"x\r\nSet-Cookie: a=b","ip":"1.2.3.4\n"}`, `{"type":"signup","user_id":"u"} {}`,
		`{"__proto__":{}}`, `"signup"`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		before := log.len()
		req := httptest.NewRequest("POST", "/v1/conversions", strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req)
		got := log.since(before)
		var answer map[string]json.RawMessage
		if err := json.Unmarshal(w.Body.Bytes(), &answer); err != nil {
			t.Fatalf("%q: %d answer is not JSON: %q", body, w.Code, w.Body.String())
		}
		switch w.Code {
		case http.StatusOK:
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
			if len(got) != 0 {
				t.Fatalf("%q: %d but %d hits recorded", body, w.Code, len(got))
			}
			if answer["error"] == nil || answer["reason"] == nil {
				t.Fatalf("%q: %d without error and reason: %s", body, w.Code, w.Body.String())
			}
			return
		default:
			t.Fatalf("%q: status %d: %s", body, w.Code, w.Body.String())
		}
		var single conversion.Recorded
		var batch ConversionsAnswer
		if answer["results"] != nil {
			if err := json.Unmarshal(w.Body.Bytes(), &batch); err != nil {
				t.Fatal(err)
			}
			if batch.Accepted+batch.Refused != len(batch.Results) || batch.Accepted != len(got) {
				t.Fatalf("%q: accepted %d refused %d of %d, %d hits recorded", body, batch.Accepted, batch.Refused, len(batch.Results), len(got))
			}
			for i, r := range batch.Results {
				if r.Index != i || (r.ID == "") == (r.Error == "") {
					t.Fatalf("%q: result %+v", body, r)
				}
			}
		} else if err := json.Unmarshal(w.Body.Bytes(), &single); err != nil || !ids.Valid(single.ID) || len(got) != 1 || got[0].ID != single.ID {
			t.Fatalf("%q: single answer %s with %d hits", body, w.Body.String(), len(got))
		}
		for _, h := range got {
			checkConversionHit(t, string(body), h)
		}
	})
}

func checkConversionHit(t *testing.T, body string, h hit.Hit) {
	t.Helper()
	if h.Kind != hit.KindConversion || !ids.Valid(h.ID) || h.Source != vocab.SourceOurs {
		t.Fatalf("%q: recorded %+v", body, h)
	}
	switch h.Event {
	case vocab.TypeSignup, vocab.TypePurchase, vocab.TypeRefund:
	default:
		t.Fatalf("%q: event %q", body, h.Event)
	}
	for name, v := range map[string]string{"user": h.UserID, "order": h.OrderID, "click": h.ClickRef, "visitor": h.Visitor, "currency": h.Currency} {
		if len(v) > conversion.MaxField || !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
			t.Fatalf("%q: stored %s %q", body, name, v)
		}
	}
	if h.Amount != "" {
		if _, reason := capture.ParseAmount(h.Amount); reason != "" {
			t.Fatalf("%q: stored amount %q: %s", body, h.Amount, reason)
		}
	}
	var back hit.Hit
	if err := back.Unmarshal(h.Marshal()); err != nil {
		t.Fatalf("%q: the hit does not encode: %v", body, err)
	}
}
