// Package browser drives Debian's Chromium, headless, for tests: start a
// browser for a test, open pages in sessions with their own cookies, fill
// and submit forms, read elements and data tables, take screenshots into a
// folder named after the test run, and download files through the browser.
//
// Every helper fails the test (t.Fatalf) when a step does not work, and
// every step has its own timeout: the browser itself lives as long as the
// test (chromedp ties a browser to the context of its first run, so that
// context has no deadline).
package browser

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Defaults of Config.
const (
	DefaultExecPath = "/usr/bin/chromium"
	DefaultTimeout  = 15 * time.Second
	DesktopWidth    = 1280
	DesktopHeight   = 900
	PhoneWidth      = 390 // an iPhone 12-15 in portrait
	PhoneHeight     = 844
)

// Config sets up a Browser; zero fields take the defaults.
type Config struct {
	// ExecPath is Chromium's binary: $XPROMO_CHROMIUM, else DefaultExecPath.
	ExecPath string
	// Timeout bounds each step (a navigation, a query, a download).
	Timeout time.Duration
	// ScreenshotDir is where screenshots go: $XPROMO_SCREENSHOTS, else
	// testdata-screens/<run id> at the repository root.
	ScreenshotDir string
	// Width and Height are the window size new pages start with.
	Width, Height int
}

func (c *Config) defaults() {
	c.ExecPath = cmp.Or(c.ExecPath, os.Getenv("XPROMO_CHROMIUM"), DefaultExecPath)
	c.Timeout = cmp.Or(c.Timeout, DefaultTimeout)
	c.Width = cmp.Or(c.Width, DesktopWidth)
	c.Height = cmp.Or(c.Height, DesktopHeight)
}

func (c Config) validate() error {
	if c.Timeout < 0 {
		return fmt.Errorf("browser config: timeout %v is negative", c.Timeout)
	}
	if c.Width < 0 || c.Height < 0 {
		return fmt.Errorf("browser config: window %dx%d", c.Width, c.Height)
	}
	return checkExec(c.ExecPath)
}

// checkExec says how to get Chromium when path is not an executable file.
func checkExec(path string) error {
	fi, err := os.Stat(path)
	if err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
		return nil
	}
	if err == nil {
		err = errors.New("not an executable file")
	}
	return fmt.Errorf("browser: chromium %s: %w; run scripts/test-tools.sh (it installs Debian's chromium) or set XPROMO_CHROMIUM", path, err)
}

// Browser is one Chromium process for a test.
type Browser struct {
	t       testing.TB
	cfg     Config
	ctx     context.Context // the browser's first tab; no deadline
	dirOnce sync.Once
}

// Start starts Chromium for t, headless; t.Cleanup stops it. The test fails
// (it is not skipped) when Chromium is missing.
func Start(t testing.TB, cfg Config) *Browser {
	t.Helper()
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	out := &tailBuffer{max: 8 << 10}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(cfg.ExecPath),
		// We run as root in a container: no sandbox, no GPU, and /dev/shm
		// is small there.
		chromedp.Flag("headless", "new"),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(cfg.Width, cfg.Height),
		chromedp.CombinedOutput(out),
		// Chromium leaves its singleton socket folders (and, with
		// disable-dev-shm-usage, its shared memory files) in $TMPDIR:
		// a folder the test removes.
		chromedp.Env("TMPDIR="+t.TempDir()),
	)
	// chromedp logs from its own goroutines: nothing may reach t once the
	// test is over.
	var logMu sync.Mutex
	over := false
	logf := func(format string, args ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		if !over {
			t.Logf("chromedp: "+format, args...)
		}
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithLogf(logf), chromedp.WithErrorf(logf))
	t.Cleanup(func() {
		logMu.Lock()
		over = true
		logMu.Unlock()
		cancel()
		cancelAlloc() // waits for the process to exit and removes its profile
	})
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("browser: start %s: %v\n%s", cfg.ExecPath, err, out)
		}
	case <-time.After(cfg.Timeout + 30*time.Second): // the first start on a busy machine is slow
		t.Fatalf("browser: %s did not start\n%s", cfg.ExecPath, out)
	}
	return &Browser{t: t, cfg: cfg, ctx: ctx}
}

// ScreenshotDir is the folder screenshots go to, created on first use and
// logged with t.Log.
func (b *Browser) ScreenshotDir() string {
	b.dirOnce.Do(func() {
		if b.cfg.ScreenshotDir == "" {
			d, err := ScreenshotDir()
			if err != nil {
				b.t.Fatal(err)
			}
			b.cfg.ScreenshotDir = d
		}
		if err := os.MkdirAll(b.cfg.ScreenshotDir, 0o755); err != nil {
			b.t.Fatalf("browser: screenshots: %v", err)
		}
		b.t.Logf("browser: screenshots in %s", b.cfg.ScreenshotDir)
	})
	return b.cfg.ScreenshotDir
}

var (
	runOnce sync.Once
	runID   string
)

// RunID names this test run: the UTC time the first caller asked, to the
// second, the same for every test of the process.
func RunID() string {
	runOnce.Do(func() { runID = time.Now().UTC().Format("20060102T150405Z") })
	return runID
}

// ScreenshotDir is $XPROMO_SCREENSHOTS or, by default,
// testdata-screens/<RunID> at the repository root (the folder holding
// go.mod above the working directory).
func ScreenshotDir() (string, error) {
	if d := os.Getenv("XPROMO_SCREENSHOTS"); d != "" {
		return d, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("browser: screenshot dir: %w", err)
	}
	root, err := repoRoot(wd)
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "testdata-screens", RunID()), nil
}

func repoRoot(dir string) (string, error) {
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("browser: no go.mod above %s: set XPROMO_SCREENSHOTS", dir)
		}
		d = parent
	}
}

// fileName turns a test and shot name into a portable file name.
func fileName(test, name string) string {
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			switch {
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
				return r
			}
			return '_'
		}, s)
	}
	return clean(test) + "--" + clean(name) + ".png"
}

// tailBuffer keeps the last max bytes of Chromium's output, for errors.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (w *tailBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b = append(w.b, p...)
	if len(w.b) > w.max {
		w.b = w.b[len(w.b)-w.max:]
	}
	return len(p), nil
}

func (w *tailBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.b)
}
