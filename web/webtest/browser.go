// Package webtest drives a real headless Chromium for the browser tests of
// the UI, with chromedp. It is imported by tests only.
package webtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumPaths are where Chromium is looked for, after $NOVEL_CHROMIUM.
var ChromiumPaths = []string{"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"}

// FindChromium returns the browser to drive. When there is none the test
// is skipped, except under CI (CI=true), where that is a failure: the CI
// machine installs Debian's chromium package.
func FindChromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("NOVEL_CHROMIUM"); p != "" {
		return p
	}
	for _, p := range ChromiumPaths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("chromium not found (looked at $NOVEL_CHROMIUM and %v); install Debian's chromium package", ChromiumPaths)
	}
	t.Skip("chromium not found; install Debian's chromium package (apt-get install -y chromium) to run the browser tests")
	return ""
}

// Browser is one headless Chromium process.
type Browser struct {
	ctx    context.Context // the browser's context; tabs derive from it
	cancel context.CancelFunc
}

// NewBrowser starts a headless Chromium with a fresh profile. It is
// stopped when the test ends.
func NewBrowser(t testing.TB) *Browser {
	t.Helper()
	path := FindChromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		// Keep timers and frames running in tabs the test is not looking at.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	// Start the browser now, so a broken install fails here, clearly.
	if err := chromedp.Do(bctx); err != nil {
		bcancel()
		acancel()
		t.Fatalf("start chromium %s: %v", path, err)
	}
	b := &Browser{ctx: bctx}
	b.cancel = func() { bcancel(); acancel() }
	t.Cleanup(b.cancel)
	return b
}

// Tab is one page of a Browser, in its own browser context (separate
// cookies and storage) when opened with NewContext.
type Tab struct {
	Ctx    context.Context
	cancel context.CancelFunc
	t      testing.TB
	// JS errors and console errors of the page, collected as they happen.
	errs chan string
}

// NewTab opens a tab sharing the first profile's storage.
func (b *Browser) NewTab(t testing.TB) *Tab {
	t.Helper()
	return b.newTab(t, false)
}

// NewContext opens a tab in a fresh browser context: a second user with
// its own localStorage.
func (b *Browser) NewContext(t testing.TB) *Tab {
	t.Helper()
	return b.newTab(t, true)
}

func (b *Browser) newTab(t testing.TB, isolated bool) *Tab {
	t.Helper()
	var opts []chromedp.ContextOption
	if isolated {
		opts = append(opts, chromedp.WithNewBrowserContext())
	}
	ctx, cancel := chromedp.NewContext(b.ctx, opts...)
	tab := &Tab{Ctx: ctx, cancel: cancel, t: t, errs: make(chan string, 100)}
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		t.Fatalf("open tab: %v", err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			// Browser log entries (Source set), such as a failed request
			// the test provoked, are not page errors.
			if m.Source == "" && (m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException) {
				tab.report(m.String())
			}
		}
	}()
	t.Cleanup(cancel)
	return tab
}

func (tab *Tab) report(s string) {
	select {
	case tab.errs <- s:
	default:
	}
}

// Errors returns the page errors seen so far.
func (tab *Tab) Errors() []string {
	var out []string
	for {
		select {
		case e := <-tab.errs:
			out = append(out, e)
		default:
			return out
		}
	}
}

// Close closes the tab.
func (tab *Tab) Close() { tab.cancel() }

// Do runs actions with a deadline, failing the test on error.
func (tab *Tab) Do(timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.Ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tab.t.Fatalf("browser: %v (page errors: %v)", err, tab.Errors())
	}
}

// Eval evaluates a JavaScript expression, awaiting a promise, and decodes
// its JSON value.
func Eval[T any](tab *Tab, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(tab.Ctx, 30*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// MustEval is Eval failing the test on error.
func MustEval[T any](tab *Tab, expr string) T {
	tab.t.Helper()
	v, err := Eval[T](tab, expr)
	if err != nil {
		tab.t.Fatalf("eval %s: %v (page errors: %v)", expr, err, tab.Errors())
	}
	return v
}

// WaitJS polls the JavaScript expression cond until it is true, failing
// the test with what describe returns (another expression) when it is not
// within timeout.
func (tab *Tab) WaitJS(timeout time.Duration, cond, describe string) {
	tab.t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		var ok bool
		ok, lastErr = Eval[bool](tab, cond)
		if lastErr == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			var what any
			if describe != "" {
				v, err := Eval[any](tab, describe)
				what = v
				if err != nil {
					what = err.Error()
				}
			}
			tab.t.Fatalf("timed out after %v waiting for %s (eval error: %v; state: %v; page errors: %v)",
				timeout, cond, lastErr, what, tab.Errors())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// UpdateScreenshots reports whether NOVEL_UPDATE_SCREENSHOTS=1 asks the
// tests to rewrite the committed screenshots. Ordinary runs (and CI)
// leave the tree clean.
func UpdateScreenshots() bool { return os.Getenv("NOVEL_UPDATE_SCREENSHOTS") == "1" }

// Screenshot saves a PNG of the whole page, beyond the viewport, to path
// when UpdateScreenshots.
func (tab *Tab) Screenshot(path string) {
	tab.t.Helper()
	if !UpdateScreenshots() {
		return
	}
	ctx, cancel := context.WithTimeout(tab.Ctx, 30*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tab.t.Fatalf("screenshot: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tab.t.Fatal(err)
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		tab.t.Fatal(err)
	}
	tab.t.Logf("wrote %s (%d bytes)", path, len(buf))
}
