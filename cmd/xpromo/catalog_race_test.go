package main

import (
	"bytes"
	"context"
	"encoding/json"
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
// others), terms versions of one partnership, and closings of the same
// three months. PostgreSQL decides: each code exists once, with the URL of
// the one writer told it won, every loser is told the code is taken, the
// versions are numbered 1..n without gap or repeat, each holding the
// amount of one successful call, each month is closed once and every
// other closer is told it is closed already, and the audit log has
// exactly the committed changes.
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
	token, _, err := auth.NewStore(pg.Pool).WithClock(testenv.Clock()).Create(ctx, auth.Spec{Role: access.RoleAdmin, Name: "race"})
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "XPROMO_TEST_MAIN=1", "XPROMO_CLICKHOUSE_URL="+db.URL, "XPROMO_POSTGRES_URL="+pg.URL,
		"XPROMO_REDIS_URL="+r.URL, "XPROMO_REDIS_PREFIX="+r.Prefix)
	bases := []string{startServeProcess(t, env), startServeProcess(t, env)}

	months := racePeriods(testenv.Now())
	results := make([][]raceAttempt, 4)
	var wg sync.WaitGroup
	for racer := range 4 {
		wg.Go(func() {
			for i := range raceOps {
				a := raceAttempt{racer: racer}
				switch {
				case i%2 == 0:
					// Codes in a different order per racer, so that each
					// code has a different first comer now and then.
					n := (i/2 + racer*7) % raceCodes
					a.code = fmt.Sprintf("race-%02d", n)
					a.url = fmt.Sprintf("https://www.example.com/r%d/%d", racer, i)
				case i%10 == 9:
					a.period = months[(i/10+racer)%len(months)]
				default:
					a.cpa = fmt.Sprintf("%d.%02d", racer+1, i)
				}
				var err error
				if racer < 2 {
					a.won, a.lost, err = raceAPI(bases[racer], token, a)
				} else {
					a.won, a.lost, err = raceCLI(env, a)
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
	winners, closers := map[string]raceAttempt{}, map[string]raceAttempt{}
	var cpas []string
	for _, rs := range results {
		for _, a := range rs {
			switch {
			case a.period != "" && a.won:
				if w, dup := closers[a.period]; dup {
					t.Errorf("%s: both racer %d and racer %d were told they closed it", a.period, w.racer, a.racer)
				}
				closers[a.period] = a
			case a.period != "" && !a.lost:
				t.Errorf("%s, racer %d: neither closed nor told it is closed", a.period, a.racer)
			case a.period != "": // told it is closed: all closers but one
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
		if got, _ := snap.Links.Get(code); got.URL != w.url {
			t.Errorf("code %s: stored URL %s, want the winner's %s (racer %d)", code, got.URL, w.url, w.racer)
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

	if len(closers) != len(months) {
		t.Errorf("%d months closed, want %d: %v", len(closers), len(months), closers)
	}
	for _, m := range months {
		var st struct{ Status string }
		if err := getJSON(bases[0]+"/v1/statements?period="+m, token, &st); err != nil || st.Status != "closed" {
			t.Errorf("statement %s: status %q, %v; want closed", m, st.Status, err)
		}
	}

	entries, err := store.AuditLog(ctx, catalog.AuditFilter{Limit: catalog.MaxAuditLimit})
	if err != nil {
		t.Fatal(err)
	}
	created, setTerms, closed := map[string]int{}, 0, 0
	for _, e := range entries {
		switch {
		case e.Entity == "statement" && e.Action == "close":
			closed++
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
	if len(created) != len(winners) || setTerms != len(versions) || closed != len(closers) {
		t.Errorf("audit: %d links created, %d terms set, %d statements closed; want %d, %d and %d",
			len(created), setTerms, closed, len(winners), len(versions), len(closers))
	}
	t.Logf("%d codes, %d terms versions, %d months closed from %d processes, %d changes each", len(winners), len(versions), len(closers), 4, raceOps)
}

// raceAttempt is one change of a racer: what it tried, and whether it was
// told it succeeded (won) or that someone else did it first (lost: the
// code is taken, the month is closed).
type raceAttempt struct {
	racer     int
	code, url string // a link
	cpa       string // else terms
	period    string // else a statement to close
	won, lost bool
}

// racePeriods are the months the racers close: the three before now's,
// so that every one of them has ended whatever the tests' clock says.
func racePeriods(now time.Time) []string {
	first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	var out []string
	for i := 1; i <= 3; i++ {
		out = append(out, first.AddDate(0, -i, 0).Format("2006-01"))
	}
	return out
}

// raceAPI makes a's change through the API at base.
func raceAPI(base, token string, a raceAttempt) (won, lost bool, err error) {
	method, path, body := http.MethodPatch, "/v1/partnerships/acme-de/terms", fmt.Sprintf(`{"currency":"EUR","inbound_cpa":%q}`, a.cpa)
	switch {
	case a.code != "":
		method, path = http.MethodPost, "/v1/links"
		body = fmt.Sprintf(`{"code":%q,"partnership":"acme-de","direction":"inbound","url":%q}`, a.code, a.url)
	case a.period != "":
		method, path, body = http.MethodPost, "/v1/statements/close?period="+a.period, ""
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
	case resp.StatusCode == http.StatusConflict && (a.code != "" || a.period != ""):
		return false, true, nil
	}
	return false, false, fmt.Errorf("%s %s: %s %s", method, path, resp.Status, b)
}

// getJSON decodes the answer to an API GET of url into v.
func getJSON(url, token string, v any) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("GET %s: %s %s", url, resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// raceCLI makes a's change with an xpromo process.
func raceCLI(env []string, a raceAttempt) (won, lost bool, err error) {
	args := []string{"partnership", "terms", "set", "--partnership", "acme-de", "--currency", "EUR", "--inbound-cpa", a.cpa}
	switch {
	case a.code != "":
		args = []string{"link", "add", "--partnership", "acme-de", "--direction", "inbound", "--url", a.url, "--code", a.code}
	case a.period != "":
		args = []string{"statements", "close", "--period", a.period}
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
	case errors.As(err, &exit) && exit.ExitCode() == 1 && a.code != "" && strings.Contains(stderr.String(), "already exists"),
		errors.As(err, &exit) && exit.ExitCode() == 1 && a.period != "" && strings.Contains(stderr.String(), "already closed"):
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
