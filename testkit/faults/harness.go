// Package faults is the fault-injection and soak harness: it runs the
// real xpromo binary as separate tracker (`serve --ingest=false`) and
// ingester (`ingest`) processes, each of which can be SIGKILLed, stopped
// or restarted on the same data, with a private redis-server and the
// shared ClickHouse and PostgreSQL each behind a TCP proxy the tests
// control. A load generator
// sends clicks, pixel views, pixel conversions and API conversions at a
// fixed rate and records every success answer's id and latency; after
// recovery the check counts, for each id, how often it is in ClickHouse.
// docs/RELIABILITY.md describes the faults and the figures.
package faults

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/http/auth"
	"github.com/xpromo/xpromo/testkit/testenv"
	"github.com/xpromo/xpromo/tracker/buffer"
)

// Build compiles ./cmd/xpromo (no race detector: the processes under test
// run as in production) into dir and returns the binary's path. The faults
// tag adds the fault hooks the suite sets by environment
// (XPROMO_FAULT_KILL_AFTER_INSERTS); production builds lack them.
func Build(dir string) (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("build: go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(dir, "xpromo")
	cmd := exec.Command("go", "build", "-tags", "faults", "-o", bin, "./cmd/xpromo")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build: go build -tags faults ./cmd/xpromo: %w\n%s", err, b)
	}
	return bin, nil
}

// Proc is a child process that can be signalled and restarted with the
// same arguments; its output goes to one log file across restarts.
type Proc struct {
	Name string
	Bin  string
	Args []string
	Env  []string // added to os.Environ()
	Log  string
	// Ready, if set, is polled after Start until it returns nil.
	Ready func() error

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	stat *os.ProcessState
}

// Start starts the process and waits until Ready passes (30 s at most).
func (p *Proc) Start(extraEnv ...string) error {
	f, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("%s: log: %w", p.Name, err)
	}
	fmt.Fprintf(f, "---- %s start %s\n", p.Name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.Bin, p.Args...)
	cmd.Env = append(append(os.Environ(), p.Env...), extraEnv...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("%s: start: %w", p.Name, err)
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.done, p.stat = cmd, done, nil
	p.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		f.Close()
		p.mu.Lock()
		p.stat = cmd.ProcessState
		p.mu.Unlock()
		close(done)
	}()
	if p.Ready == nil {
		return nil
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := p.Ready()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("%s exited while starting: %v (log %s)", p.Name, p.stat, p.Log)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after 30s: %w (log %s)", p.Name, err, p.Log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Pid is the running process's id, or 0.
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.stat != nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Signal sends sig to the running process.
func (p *Proc) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil {
		return fmt.Errorf("%s: not started", p.Name)
	}
	return cmd.Process.Signal(sig)
}

// Wait waits up to d for the process to exit and returns its state.
func (p *Proc) Wait(d time.Duration) (*os.ProcessState, error) {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return nil, fmt.Errorf("%s: not started", p.Name)
	}
	select {
	case <-done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.stat, nil
	case <-time.After(d):
		return nil, fmt.Errorf("%s did not exit within %v", p.Name, d)
	}
}

// Kill sends SIGKILL and waits for the exit.
func (p *Proc) Kill() error {
	if p.Pid() == 0 {
		return nil
	}
	if err := p.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	_, err := p.Wait(10 * time.Second)
	return err
}

// Stop sends SIGTERM, waits up to d, then kills.
func (p *Proc) Stop(d time.Duration) (*os.ProcessState, error) {
	if p.Pid() == 0 {
		return nil, nil
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return nil, err
	}
	st, err := p.Wait(d)
	if err != nil {
		_ = p.Kill()
	}
	return st, err
}

// Options shape an Env.
type Options struct {
	AOF     bool   // Redis append-only file (the project's setting); false = no persistence
	DataDir string // tracker state dir (a small tmpfs for the disk-full fault); default a temp dir
	// ClaimIdle is the ingester's --claim-idle: how soon entries a killed
	// ingester left unacknowledged are taken over.
	ClaimIdle time.Duration
}

// Env is one system under test.
type Env struct {
	T        testing.TB
	Redis    *testenv.RedisServer
	RDB      *redis.Client
	DB       *testenv.DB // the events
	PG       *testenv.PG // the catalog
	CH       *Proxy      // in front of ClickHouse
	PGProxy  *Proxy      // in front of PostgreSQL
	Prefix   string
	Tracker  *Proc
	Ingester *Proc
	Base     string // http://host:port of the tracker
	Port     int    // the tracker's HTTP port
	Metrics  string // http://host:port of the ingester's /metrics
	DataDir  string
	Token    string // service token for POST /v1/conversions
	Admin    string // admin token, for the catalog's API
	Dir      string // logs
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// NewEnv starts Redis, a fresh ClickHouse database for the events and a
// fresh PostgreSQL database for the catalog (each behind its proxy), the
// tracker and the ingester, with the catalog link "demo", a service token
// and an admin token.
func NewEnv(t testing.TB, bin string, o Options) *Env {
	t.Helper()
	e := &Env{T: t, Dir: t.TempDir(), Prefix: "xpf:"}
	e.Redis = testenv.StartRedis(t)
	if !o.AOF {
		e.Redis.Kill()
		e.Redis.AOF = false
		e.Redis.Start()
	}
	e.RDB = e.Redis.Client()
	t.Cleanup(func() { e.RDB.Close() })
	e.DB = testenv.ClickHouse(t)
	e.PG = testenv.Postgres(t)
	seed(t, e)
	var proxied, pgProxied string
	proxied, e.CH = viaProxy(t, e.DB.URL)
	pgProxied, e.PGProxy = viaProxy(t, e.PG.URL)

	e.DataDir = o.DataDir
	if e.DataDir == "" {
		e.DataDir = filepath.Join(e.Dir, "tracker")
	}
	if o.ClaimIdle == 0 {
		o.ClaimIdle = 3 * time.Second
	}
	httpPort, metricsPort := freePort(t), freePort(t)
	e.Base, e.Port = fmt.Sprintf("http://127.0.0.1:%d", httpPort), httpPort
	e.Metrics = fmt.Sprintf("http://127.0.0.1:%d", metricsPort)
	common := []string{"--redis-url", e.Redis.URL, "--redis-prefix", e.Prefix, "--clickhouse-url", proxied}
	e.Tracker = &Proc{Name: "tracker", Bin: bin, Log: filepath.Join(e.Dir, "tracker.log"),
		Args: append([]string{"serve", "--ingest=false", "--http-addr", fmt.Sprintf("127.0.0.1:%d", httpPort),
			"--state-dir", e.DataDir, "--secret-key-file", filepath.Join(e.Dir, "secret.key"),
			"--attribute-every", "0", "--api-rate", "0", "--api-ip-rate", "0", "--catalog-refresh", "2s",
			"--commit-timeout", "5ms", "--postgres-url", pgProxied}, common...),
		Ready: func() error { return httpOK(e.Base + "/healthz") }}
	e.Ingester = &Proc{Name: "ingester", Bin: bin, Log: filepath.Join(e.Dir, "ingester.log"),
		Args: append([]string{"ingest", "--metrics-addr", fmt.Sprintf("127.0.0.1:%d", metricsPort),
			"--batch-size", "50000", "--flush-interval", ingestFlush.String(), "--claim-idle", o.ClaimIdle.String()}, common...),
		Ready: func() error { return httpOK(e.Metrics + "/healthz") }}
	if os.Getenv("FAULTS_PPROF") != "" {
		// To look inside a slow fault: go tool pprof http://<addr>/debug/pprof/profile
		tp, ip := freePort(t), freePort(t)
		e.Tracker.Args = append(e.Tracker.Args, "--pprof-addr", fmt.Sprintf("127.0.0.1:%d", tp))
		e.Ingester.Args = append(e.Ingester.Args, "--pprof-addr", fmt.Sprintf("127.0.0.1:%d", ip))
		t.Logf("pprof: tracker http://127.0.0.1:%d/debug/pprof/, ingester http://127.0.0.1:%d/debug/pprof/", tp, ip)
	}
	t.Cleanup(func() {
		_ = e.Tracker.Kill()
		_ = e.Ingester.Kill()
		if dir := os.Getenv("FAULTS_LOGS"); dir != "" {
			keepLogs(t, dir, e.Tracker, e.Ingester)
		}
		if t.Failed() {
			for _, p := range []*Proc{e.Tracker, e.Ingester} {
				b, _ := os.ReadFile(p.Log)
				t.Logf("---- %s log (last 6 KiB):\n%s", p.Name, tail(b, 6<<10))
			}
		}
	})
	if err := e.Tracker.Start(); err != nil {
		t.Fatal(err)
	}
	if err := e.Ingester.Start(); err != nil {
		t.Fatal(err)
	}
	return e
}

// viaProxy puts a Proxy, closed when the test ends, in front of
// rawURL's server and returns rawURL with the proxy's address in its
// place.
func viaProxy(t testing.TB, rawURL string) (string, *Proxy) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	p, err := NewProxy(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	u.Host = p.Addr()
	return u.String(), p
}

// keepLogs copies the processes' logs to dir/<test name>/ (FAULTS_LOGS):
// the test's own directory goes when it ends.
func keepLogs(t testing.TB, dir string, procs ...*Proc) {
	to := filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Logf("FAULTS_LOGS: %v", err)
		return
	}
	for _, p := range procs {
		if b, err := os.ReadFile(p.Log); err == nil {
			if err := os.WriteFile(filepath.Join(to, filepath.Base(p.Log)), b, 0o644); err != nil {
				t.Logf("FAULTS_LOGS: %v", err)
			}
		}
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

var probe = &http.Client{Timeout: 2 * time.Second}

func httpOK(u string) error {
	resp, err := probe.Get(u)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", u, resp.Status)
	}
	return nil
}

// seed creates partner acme, partnership acme-de, link demo, a service
// token and an admin token.
func seed(t testing.TB, e *Env) {
	t.Helper()
	ctx := context.Background()
	s := catalog.NewStore(e.PG.Pool)
	if _, err := s.AddPartner(ctx, catalog.Partner{ID: "acme", Name: "ACME", Domains: []string{"acme.example"}}, "faults"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddPartnership(ctx, catalog.Partnership{ID: "acme-de", Partner: "acme", Country: "DE", Direction: vocab.Both}, "faults"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddLink(ctx, catalog.Link{Code: "demo", Partnership: "acme-de", Direction: vocab.Inbound, URL: "https://www.example.com/welcome", Campaign: "c1"}, "faults"); err != nil {
		t.Fatal(err)
	}
	tokens := auth.NewStore(e.PG.Pool)
	secret, _, err := tokens.Create(ctx, auth.Spec{Role: access.RoleService, Name: "faults"})
	if err != nil {
		t.Fatal(err)
	}
	e.Token = secret
	if e.Admin, _, err = tokens.Create(ctx, auth.Spec{Role: access.RoleAdmin, Name: "faults-admin"}); err != nil {
		t.Fatal(err)
	}
}

// Scrape reads a Prometheus text endpoint into name -> value, summing over
// labels.
func Scrape(u string) (map[string]float64, error) {
	resp, err := probe.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if i := strings.IndexByte(line, '{'); i >= 0 {
			// Labelled series add up under the bare name; a histogram's
			// buckets keep their bound: name{le="0.1"}.
			labels := line[i:strings.LastIndexByte(line, '}')]
			name = line[:i]
			if le, ok := labelValue(labels, "le"); ok {
				name += `{le="` + le + `"}`
			}
			_, rest, _ = strings.Cut(line[strings.LastIndexByte(line, '}'):], " ")
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err == nil {
			out[name] += v
		}
	}
	return out, sc.Err()
}

// labelValue finds label name in a series' labels, `{a="x",le="0.1"`
// (values without quotes or commas in them, as ours are).
func labelValue(labels, name string) (string, bool) {
	for _, kv := range strings.Split(strings.TrimPrefix(labels, "{"), ",") {
		if v, ok := strings.CutPrefix(kv, name+`="`); ok {
			return strings.TrimSuffix(v, `"`), true
		}
	}
	return "", false
}

// TrackerMetrics scrapes the tracker.
func (e *Env) TrackerMetrics() (map[string]float64, error) { return Scrape(e.Base + "/metrics") }

// IngesterMetrics scrapes the ingester.
func (e *Env) IngesterMetrics() (map[string]float64, error) { return Scrape(e.Metrics + "/metrics") }

// ingestFlush is the ingester's --flush-interval: the longest a hit
// waits in the stream for its batch when the load is light.
const ingestFlush = 500 * time.Millisecond

// Backlog is what is not yet in ClickHouse on the Redis side: entries in
// every registered stream (each a group of hits), and how many of them are
// read but not acknowledged.
func (e *Env) Backlog(ctx context.Context) (entries, pending int64, err error) {
	streams, err := e.RDB.SMembers(ctx, buffer.RegistryKey(e.Prefix)).Result()
	if err != nil {
		return 0, 0, err
	}
	for _, s := range streams {
		n, err := e.RDB.XLen(ctx, s).Result()
		if err != nil {
			return 0, 0, err
		}
		entries += n
		p, err := e.RDB.XPending(ctx, s, "ingest").Result()
		if err == nil {
			pending += p.Count
		}
	}
	return entries, pending, nil
}

// RedisPid is the private redis-server's process id.
func (e *Env) RedisPid(ctx context.Context) (int, error) {
	info, err := e.redisInfo(ctx, "server")
	if err != nil {
		return 0, err
	}
	if v, ok := info["process_id"]; ok {
		return strconv.Atoi(v)
	}
	return 0, fmt.Errorf("no process_id in INFO server")
}

// redisInfo reads INFO sections as field: value.
func (e *Env) redisInfo(ctx context.Context, sections ...string) (map[string]string, error) {
	text, err := e.RDB.Info(ctx, sections...).Result()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			out[k] = v
		}
	}
	return out, nil
}

// Drained reports whether every hit left the tracker and Redis: the
// journal is empty, nothing spills, and the streams hold nothing.
func (e *Env) Drained(ctx context.Context) bool {
	m, err := e.TrackerMetrics()
	if err != nil || m["xpromo_journal_bytes"] != 0 || m["xpromo_spilling"] != 0 {
		return false
	}
	entries, pending, err := e.Backlog(ctx)
	return err == nil && entries == 0 && pending == 0
}

// RSS returns a process's resident set size in bytes, from /proc.
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// ServedConns counts the TCP connections a process accepted on port
// (from /proc/PID/fd and /proc/PID/net/tcp{,6}): a Go HTTP server holds a
// goroutine for each one it keeps open. Its own client connections (to
// Redis, ClickHouse) are left out: their pools grow and shrink with
// timeouts, and they hold no goroutine each.
func ServedConns(pid, port int) (int, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		if target, err := os.Readlink(dir + "/" + fd.Name()); err == nil {
			if ino, ok := strings.CutPrefix(target, "socket:["); ok {
				inodes[strings.TrimSuffix(ino, "]")] = true
			}
		}
	}
	local := fmt.Sprintf(":%04X", port)
	n := 0
	for _, table := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			return 0, err
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			f := strings.Fields(line)
			if len(f) < 10 || !strings.HasSuffix(f[1], local) || f[3] == "0A" { // 0A: LISTEN
				continue
			}
			if inodes[f[9]] {
				n++
			}
		}
	}
	return n, nil
}
