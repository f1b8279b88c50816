package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/http/auth"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// raceCodes is how many vanity codes every racer tries to create, twice
// each; raceOps how many changes each racer makes in all.
const (
	raceCodes = 25
	raceOps   = 100
)

// Four separate xpromo processes race on one catalog: two `serve` whose
// API is called, and two sequences of CLI processes. Each makes raceOps
// changes: the same vanity codes (twice each, interleaved with the
// others) and terms versions of one partnership. PostgreSQL decides: each
// code exists once, with the URL of the one writer told it won, every
// loser is told the code is taken, the versions are numbered 1..n without
// gap or repeat, each holding the amount of one successful call, and the
// audit log has exactly the committed changes.
func TestCatalogRaceBetweenProcesses(t *testing.T) {
	ctx := context.Background()
	db, pg, r := testenv.ClickHouse(t), testenv.Postgres(t), testenv.NewRedis(t)
	store := catalog.NewStore(pg.Pool).WithClock(testenv.Clock())
	if _, err := store.AddPartner(ctx, catalog.Partner{ID: "acme", Name: "Acme", Domains: []string{"acme.example"}}, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.AddPartnership(ctx, catalog.Partnership{ID: "acme-de", Partner: "acme", Country: "DE", Direction: vocab.Both}, "test"); err != nil {
		t.Fatal(err)
	}
	token, _, err := auth.NewStore(pgOf(db).Pool).WithClock(testenv.Clock()).Create(ctx, auth.Spec{Role: access.RoleAdmin, Name: "race"})
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "XPROMO_TEST_MAIN=1", "XPROMO_CLICKHOUSE_URL="+db.URL, "XPROMO_POSTGRES_URL="+pg.URL,
		"XPROMO_REDIS_URL="+r.URL, "XPROMO_REDIS_PREFIX="+r.Prefix)
	bases := []string{startServeProcess(t, env), startServeProcess(t, env)}

	// An attempt: which racer, what it tried, and whether it was told it
	// succeeded (won) or that the code is taken (lost).
	type attempt struct {
		racer     int
		code, url string // a link; "" for terms
		cpa       string // terms
		won, lost bool
	}
	results := make([][]attempt, 4)
	var wg sync.WaitGroup
	for racer := range 4 {
		wg.Go(func() {
			for i := range raceOps {
				a := attempt{racer: racer}
				if i%2 == 0 {
					// Codes in a different order per racer, so that each
					// code has a different first comer now and then.
					n := (i/2 + racer*7) % raceCodes
					a.code = fmt.Sprintf("race-%02d", n)
					a.url = fmt.Sprintf("https://www.example.com/r%d/%d", racer, i)
				} else {
					a.cpa = fmt.Sprintf("%d.%02d", racer+1, i)
				}
				var err error
				if racer < 2 {
					a.won, a.lost, err = raceAPI(bases[racer], token, a.code, a.url, a.cpa)
				} else {
					a.won, a.lost, err = raceCLI(env, a.code, a.url, a.cpa)
				}
				if err != nil {
					t.Errorf("racer %d, change %d: %v", racer, i, err)
					return
				}
				results[racer] = append(results[racer], a)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	snap, err := store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	winners := map[string]attempt{}
	var cpas []string
	for _, rs := range results {
		for _, a := range rs {
			switch {
			case a.code != "" && a.won:
				if w, dup := winners[a.code]; dup {
					t.Errorf("code %s: both racer %d (%s) and racer %d (%s) were told they created it", a.code, w.racer, w.url, a.racer, a.url)
				}
				winners[a.code] = a
			case a.code != "" && !a.lost:
				t.Errorf("code %s, racer %d: neither created nor told it is taken", a.code, a.racer)
			case a.code == "" && a.won:
				cpas = append(cpas, a.cpa)
			case a.code == "":
				t.Errorf("terms %s, racer %d: not stored", a.cpa, a.racer)
			}
		}
	}
	if len(winners) != raceCodes {
		t.Errorf("%d codes created, want %d", len(winners), raceCodes)
	}
	for code, w := range winners {
		if got := snap.Links[code].URL; got != w.url {
			t.Errorf("code %s: stored URL %s, want the winner's %s (racer %d)", code, got, w.url, w.racer)
		}
	}
	versions := snap.Terms["acme-de"]
	if len(versions) != len(cpas) {
		t.Errorf("%d terms versions stored, %d calls told they stored one", len(versions), len(cpas))
	}
	stored := map[string]bool{}
	for i, v := range versions {
		if v.Version != uint32(i+1) {
			t.Fatalf("version %d at position %d: versions have a gap or a repeat", v.Version, i+1)
		}
		stored[v.InboundCPA.StringFixed(2)] = true
	}
	for _, c := range cpas {
		if d := decimal.RequireFromString(c); !stored[d.StringFixed(2)] {
			t.Errorf("terms with inbound CPA %s were answered as stored but no version holds it", c)
		}
	}

	entries, err := store.AuditLog(ctx, catalog.AuditFilter{Limit: catalog.MaxAuditLimit})
	if err != nil {
		t.Fatal(err)
	}
	created, setTerms := map[string]int{}, 0
	for _, e := range entries {
		switch {
		case e.Entity == catalog.EntityLink && e.Action == catalog.ActionCreate:
			created[e.EntityID]++
		case e.Action == catalog.ActionSetTerms:
			setTerms++
		}
	}
	for code := range winners {
		if created[code] != 1 {
			t.Errorf("code %s: %d audit entries of its creation, want 1", code, created[code])
		}
	}
	if len(created) != len(winners) || setTerms != len(versions) {
		t.Errorf("audit: %d links created and %d terms set; want %d and %d", len(created), setTerms, len(winners), len(versions))
	}
	t.Logf("%d codes, %d terms versions from %d processes, %d changes each", len(winners), len(versions), 4, raceOps)
}

// raceAPI makes one change through the API at base: a link when code is
// set, else a terms version with that inbound CPA.
func raceAPI(base, token, code, url, cpa string) (won, lost bool, err error) {
	method, path, body := http.MethodPatch, "/v1/partnerships/acme-de/terms", fmt.Sprintf(`{"currency":"EUR","inbound_cpa":%q}`, cpa)
	if code != "" {
		method, path = http.MethodPost, "/v1/links"
		body = fmt.Sprintf(`{"code":%q,"partnership":"acme-de","direction":"inbound","url":%q}`, code, url)
	}
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		return false, false, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, false, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	switch {
	case resp.StatusCode == http.StatusCreated:
		return true, false, nil
	case resp.StatusCode == http.StatusConflict && code != "":
		return false, true, nil
	}
	return false, false, fmt.Errorf("%s %s: %s %s", method, path, resp.Status, b)
}

// raceCLI makes the same change with an xpromo process.
func raceCLI(env []string, code, url, cpa string) (won, lost bool, err error) {
	args := []string{"partnership", "terms", "set", "--partnership", "acme-de", "--currency", "EUR", "--inbound-cpa", cpa}
	if code != "" {
		args = []string{"link", "add", "--partnership", "acme-de", "--direction", "inbound", "--url", url, "--code", code}
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return true, false, nil
	case errors.As(err, &exit) && exit.ExitCode() == 1 && code != "" && strings.Contains(stderr.String(), "already exists"):
		return false, true, nil
	}
	return false, false, fmt.Errorf("xpromo %s: %v: %s", strings.Join(args, " "), err, stderr.String())
}

// startServeProcess runs `xpromo serve` (API only, no ingester) as a child
// process with env, and returns its base URL once it answers.
func startServeProcess(t *testing.T, env []string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "serve", "--http-addr", addr, "--state-dir", dir, "--ingest=false",
		"--attribute-every", "0", "--api-rate", "0", "--api-ip-rate", "0", "--secret-key-file", filepath.Join(dir, "secret.key"),
		"--log-level", "warn")
	cmd.Env = env
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("serve %s log:\n%s", addr, logs.String())
		}
	})
	base := "http://" + addr
	testenv.WaitFor(t, 30*time.Second, "serve at "+addr, func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return base
}
