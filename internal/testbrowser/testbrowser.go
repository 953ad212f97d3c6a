// Package testbrowser starts headless Chromium for haechi's browser tests
// (the operator console, the WebAuthn ceremony). It is imported by tests
// only.
package testbrowser

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Find returns Chromium's path or skips the test; CI sets
// HAECHI_TEST_REQUIRE_SERVICES=1 so that a missing browser fails instead of
// silently dropping the test.
func Find(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	const msg = "chromium not found on PATH; install it (apt-get install chromium) to run the browser tests"
	if os.Getenv("HAECHI_TEST_REQUIRE_SERVICES") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Start opens a headless tab with a throwaway profile, bounded by total.
// The cleanups run in reverse order, so the browser exits before its
// profile directory is removed. opts are extra context options (listeners).
func Start(t *testing.T, total time.Duration, extra []chromedp.ExecAllocatorOption, opts ...chromedp.ContextOption) context.Context {
	t.Helper()
	path := Find(t)
	root, cancelRoot := context.WithTimeout(context.Background(), total)
	t.Cleanup(cancelRoot)
	flags := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), // CI runs as root, where the sandbox will not start
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	}, extra...)
	alloc, cancelAlloc := chromedp.NewExecAllocator(root, flags...)
	t.Cleanup(cancelAlloc)
	tab, cancelTab := chromedp.NewContext(alloc, opts...)
	t.Cleanup(cancelTab)
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return tab
}
