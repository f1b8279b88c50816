package faults

import (
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Scrape adds labelled series up under their bare name, except a
// histogram's buckets, which keep their bound (and only that label).
func TestScrape(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `# HELP xpromo_ingested_total Rows.
# TYPE xpromo_ingested_total counter
xpromo_ingested_total{table="hits"} 12
xpromo_ingested_total{table="conversions"} 3
xpromo_journal_bytes 5
xpromo_http_request_duration_seconds_bucket{route="/r/:code",le="0.1"} 7
xpromo_http_request_duration_seconds_bucket{route="/p.gif",le="0.1"} 2
xpromo_http_request_duration_seconds_bucket{route="/r/:code",le="+Inf"} 9
xpromo_http_request_duration_seconds_count{route="/r/:code"} 9
`)
	}))
	defer srv.Close()
	got, err := Scrape(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"xpromo_ingested_total":                                  15,
		"xpromo_journal_bytes":                                   5,
		`xpromo_http_request_duration_seconds_bucket{le="0.1"}`:  9,
		`xpromo_http_request_duration_seconds_bucket{le="+Inf"}`: 9,
		"xpromo_http_request_duration_seconds_count":             9,
	}
	if !maps.Equal(got, want) {
		t.Errorf("Scrape = %v\nwant %v", got, want)
	}
}
