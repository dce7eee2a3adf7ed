// Package browsertest drives the witness web app in headless Chromium (chromedp)
// against a real Temporal dev server, the real worker and a fresh Postgres Ops
// DB. It has no code of its own besides the tests.
//
// Screenshots of every page go to $TEST_OUTPUT/browsertest (or a temporary
// folder, printed in the log). Chromium is found at $CHROMIUM_BIN,
// /usr/bin/chromium, or on PATH; without it the tests fail with the command that
// installs it — they are never skipped.
package browsertest
