package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// Page is a tab in a browser context of its own: pages do not share
// cookies, so each can be signed in as someone else.
type Page struct {
	b    *Browser
	t    testing.TB
	name string
	ctx  context.Context

	dlOnce sync.Once
	dlDir  string
}

// Response is what a navigation answered.
type Response struct {
	Status int
	URL    string // after redirects
	MIME   string
}

// NewPage opens a tab in a fresh browser context (no cookies) for t, at the
// desktop size; name prefixes its screenshots. t.Cleanup closes it.
func (b *Browser) NewPage(t testing.TB, name string) *Page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	p := &Page{b: b, t: t, name: name, ctx: ctx}
	// The tab's first run has no deadline (a deadline would close the tab
	// when it passed); it is bounded here instead.
	done := make(chan error, 1)
	go func() { done <- chromedp.Do(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("browser: open page %s: %v", name, err)
		}
	case <-time.After(b.cfg.Timeout):
		t.Fatalf("browser: open page %s: no tab after %v", name, b.cfg.Timeout)
	}
	p.Viewport(b.cfg.Width, b.cfg.Height)
	return p
}

// step is a context for one step, bounded by the browser's timeout.
func (p *Page) step() (context.Context, context.CancelFunc) {
	return context.WithTimeout(p.ctx, p.b.cfg.Timeout)
}

// do runs action a as one step; when it fails, so does the test, saying
// what failed (a format of args).
func do[T any](p *Page, a chromedp.Action[T], what string, args ...any) T {
	p.t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		p.fail("%s: %v", fmt.Sprintf(what, args...), err)
	}
	return v
}

// fail ends the test with what failed and where the page was.
func (p *Page) fail(format string, args ...any) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		loc = "unknown: " + err.Error()
	}
	p.t.Fatalf("browser %s: %s (page at %s)", p.name, fmt.Sprintf(format, args...), loc)
}

// Open navigates to url, waits for the load and returns the response.
func (p *Page) Open(url string) Response {
	p.t.Helper()
	resp := do(p, chromedp.NavigateResponse(url), "open %s", url)
	return response(resp.Status, resp.URL, resp.MimeType)
}

func response(status int64, url, mime string) Response {
	return Response{Status: int(status), URL: url, MIME: mime}
}

// Location is the page's URL now.
func (p *Page) Location() string {
	p.t.Helper()
	return do(p, chromedp.Location(), "location")
}

// Fill sets the fields of the form matched by form (a CSS selector) by
// their name attribute: text fields are typed into, as a user would; other
// fields (date, select, hidden...) get their value set, since typing into
// a date field depends on the browser's locale.
func (p *Page) Fill(form string, fields map[string]string) {
	p.t.Helper()
	for name, v := range fields {
		css := form + ` [name="` + name + `"]`
		typed := Eval[*bool](p, `(() => { const e = document.querySelector(`+jsString(css)+`);
  return e ? (e.tagName === 'TEXTAREA' || (e.tagName === 'INPUT' && ['text', 'password', 'search', 'email', 'url', 'tel'].includes(e.type))) : null; })()`)
		if typed == nil {
			p.fail("fill %s: no such field", css)
		}
		sel := chromedp.CSS(css)
		steps := []chromedp.Action[chromedp.Void]{chromedp.SetValue(sel, v)}
		if *typed {
			steps = []chromedp.Action[chromedp.Void]{chromedp.Clear(sel), chromedp.SendKeys(sel, v)}
		}
		ctx, cancel := p.step()
		err := chromedp.Do(ctx, steps...)
		cancel()
		if err != nil {
			p.fail("fill %s: %v", css, err)
		}
		if got := p.Value(css); got != v {
			p.fail("fill %s: the field holds %q, not %q", css, got, v)
		}
	}
}

// Value is the current value of the form field matched by sel (what would
// be submitted, not the value attribute); it waits for the field.
func (p *Page) Value(sel string) string {
	p.t.Helper()
	return do(p, chromedp.Value(chromedp.CSS(sel)), "value of %s", sel)
}

// Submit submits the form matched by form with its submit button (the way
// a user does, so the button's name and value are sent) and waits for the
// page that answers.
func (p *Page) Submit(form string) Response {
	p.t.Helper()
	if p.Count(form) == 0 {
		p.fail("submit %s: no such form", form)
	}
	button := form + ` [type="submit"]`
	if p.Count(button) == 0 {
		button = form + ` button:not([type])` // a button defaults to submit
	}
	if p.Count(button) == 0 {
		p.fail("submit %s: the form has no submit button", form)
	}
	return p.Click(button)
}

// Click clicks the first element matched by sel (CSS) and waits for the
// page it leads to.
func (p *Page) Click(sel string) Response {
	p.t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		p.fail("click %s: %v", sel, err)
	}
	return response(resp.Status, resp.URL, resp.MimeType)
}

// WaitVisible waits until an element matched by sel is visible.
func (p *Page) WaitVisible(sel string) {
	p.t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		p.fail("wait for %s: %v", sel, err)
	}
}

// Count is how many elements match sel now (it does not wait).
func (p *Page) Count(sel string) int {
	p.t.Helper()
	return Eval[int](p, `document.querySelectorAll(`+jsString(sel)+`).length`)
}

// Text is the rendered text of the first element matched by sel, trimmed;
// it waits for the element.
func (p *Page) Text(sel string) string {
	p.t.Helper()
	return strings.TrimSpace(do(p, chromedp.Text(chromedp.CSS(sel)), "text of %s", sel))
}

// Attr is the attribute name of the first element matched by sel, and
// whether it is there; it waits for the element.
func (p *Page) Attr(sel, name string) (string, bool) {
	p.t.Helper()
	r := do(p, chromedp.AttributeValue(chromedp.CSS(sel), name), "attribute %s of %s", name, sel)
	return r.Value, r.Exists
}

// Attrs is the attribute name of every element matched by sel now, in
// document order ("" where an element lacks it).
func (p *Page) Attrs(sel, name string) []string {
	p.t.Helper()
	return Eval[[]string](p, `Array.from(document.querySelectorAll(`+jsString(sel)+`), e => e.getAttribute(`+jsString(name)+`) ?? "")`)
}

// Eval evaluates a JavaScript expression in p and decodes its JSON value
// into T.
func Eval[T any](p *Page, expr string) T {
	p.t.Helper()
	var v T
	raw := do(p, chromedp.Evaluate[[]byte](expr), "evaluate %.80s", expr)
	if err := json.Unmarshal(raw, &v); err != nil {
		p.fail("evaluate %.80s: decode %.200s: %v", expr, raw, err)
	}
	return v
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Viewport sets the page's size in CSS pixels; widths below 600 emulate a
// phone (mobile layout, touch).
func (p *Page) Viewport(width, height int) {
	p.t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	var opts []chromedp.EmulateViewportOption
	if width < 600 {
		opts = append(opts, chromedp.EmulateMobile)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height), opts...)); err != nil {
		p.fail("viewport %dx%d: %v", width, height, err)
	}
}

// Phone sets the viewport to a phone in portrait (390x844).
func (p *Page) Phone() { p.t.Helper(); p.Viewport(PhoneWidth, PhoneHeight) }

// Desktop sets the viewport back to the desktop size.
func (p *Page) Desktop() { p.t.Helper(); p.Viewport(p.b.cfg.Width, p.b.cfg.Height) }

// Overflow says how far the page is wider than the viewport: a page that
// fits its width scrolls only down (wide tables scroll in their own box).
type Overflow struct {
	Pixels   int      // document width beyond the viewport's, CSS px
	Culprits []string // elements reaching past the viewport, unclipped or positioned
}

const overflowJS = `(() => {
  const vw = document.documentElement.clientWidth;
  const out = {Pixels: Math.max(0, document.documentElement.scrollWidth - vw), Culprits: []};
  if (out.Pixels === 0) return out;
  for (const e of document.body.querySelectorAll('*')) {
    const pos = getComputedStyle(e).position;
    let clipped = false;
    for (let a = e.parentElement; a && a !== document.body && !clipped; a = a.parentElement) {
      clipped = getComputedStyle(a).overflowX !== 'visible';
    }
    if (e.getBoundingClientRect().right > vw + 0.5 && (!clipped || pos === 'absolute' || pos === 'fixed')) {
      const id = e.id ? '#' + e.id : '';
      const cls = e.classList.length ? '.' + Array.from(e.classList).join('.') : '';
      const tab = e.closest('[data-table]');
      out.Culprits.push(e.tagName.toLowerCase() + id + cls + (pos === 'static' ? '' : ' (' + pos + ')') +
        ' ' + JSON.stringify(e.textContent.trim().slice(0, 30)) + (tab ? ' in table ' + tab.getAttribute('data-table') : '') +
        ' to x=' + Math.round(e.getBoundingClientRect().right));
      if (out.Culprits.length === 5) break;
    }
  }
  return out;
})()`

// Overflow measures how far the page is wider than its viewport now.
func (p *Page) Overflow() Overflow {
	p.t.Helper()
	return Eval[Overflow](p, overflowJS)
}

// Screenshot writes a PNG of the whole page (beyond the viewport) to the
// screenshot folder, named after the test, the page and name, and returns
// its path.
func (p *Page) Screenshot(name string) string {
	p.t.Helper()
	dir := p.b.ScreenshotDir()
	png := do(p, chromedp.FullScreenshot(100), "screenshot %s", name) // 100: PNG
	path := filepath.Join(dir, fileName(p.t.Name(), p.name+"-"+name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatalf("browser: screenshot %s: %v", name, err)
	}
	return path
}

// Download is a file the browser saved.
type Download struct {
	Name string // the name the server suggested
	URL  string
	Data []byte
}

// Download clicks the element matched by sel (a link or a button that
// downloads), waits until the browser has saved the whole file, and
// returns it.
func (p *Page) Download(sel string) Download {
	p.t.Helper()
	dir := p.downloadDir()
	ctx, cancel := p.step()
	defer cancel()
	// Subscribe before the click so no event is missed.
	begins := chromedp.Events(ctx, cdpbrowser.DownloadWillBegin)
	progress := chromedp.Events(ctx, cdpbrowser.DownloadProgress)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible)); err != nil {
		p.fail("download %s: click: %v", sel, err)
	}
	var d Download
	var guid string
	for ev, err := range begins {
		if err != nil {
			p.fail("download %s: no download began: %v", sel, err)
		}
		guid, d.Name, d.URL = ev.GUID, ev.SuggestedFilename, ev.URL
		break
	}
	for ev, err := range progress {
		if err != nil {
			p.fail("download %s (%s): not completed: %v", sel, d.URL, err)
		}
		if ev.GUID != guid {
			continue
		}
		if ev.State == cdpbrowser.DownloadProgressStateCanceled {
			p.fail("download %s (%s): canceled", sel, d.URL)
		}
		if ev.State == cdpbrowser.DownloadProgressStateCompleted {
			break
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, guid)) // allowAndName saves under the GUID
	if err != nil {
		p.fail("download %s: %v", sel, err)
	}
	d.Data = data
	return d
}

// downloadDir lets the page's browser context save downloads into a
// temporary folder, with progress events.
func (p *Page) downloadDir() string {
	p.t.Helper()
	p.dlOnce.Do(func() {
		p.dlDir = p.t.TempDir()
		ctx, cancel := p.step()
		defer cancel()
		_, err := chromedp.Call(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
			Behavior:         cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName,
			BrowserContextID: chromedp.FromContext(p.ctx).BrowserContextID,
			DownloadPath:     p.dlDir,
			EventsEnabled:    new(true),
		})
		if err != nil {
			p.fail("allow downloads: %v", err)
		}
	})
	return p.dlDir
}
