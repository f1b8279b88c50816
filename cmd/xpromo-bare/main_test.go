package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/xpromo/xpromo/lib/ids"
	"github.com/xpromo/xpromo/tracker/capture"
)

// The baseline must answer what the tracker answers.
func TestSameAnswers(t *testing.T) {
	if !bytes.Equal(gif, capture.GIF()) || clickParam != capture.ClickParam || visitorCookie != capture.VisitorCookie {
		t.Fatal("constants differ from package capture")
	}
	srv := httptest.NewServer(newEcho(slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer srv.Close()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	resp, err := c.Get(srv.URL + "/r/demo")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, destPrefix) || !strings.HasSuffix(loc, destSuffix) {
		t.Fatalf("redirect: %d %q", resp.StatusCode, loc)
	}
	if id := strings.TrimSuffix(strings.TrimPrefix(loc, destPrefix), destSuffix); !ids.Valid(id) {
		t.Fatalf("click id %q", id)
	}
	if ck := resp.Cookies(); len(ck) != 1 || ck[0].Name != visitorCookie || len(ck[0].Value) != 22 || !ck[0].HttpOnly {
		t.Fatalf("cookie %v", ck)
	}

	resp, err = c.Get(srv.URL + "/p.gif?l=demo")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/gif" || len(body) != 43 {
		t.Fatalf("pixel: %d %q %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
}
