package web

import (
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// waitUntil polls ok for up to 5 s.
func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func mustReq(method, path string, body io.Reader) *http.Request {
	r := httptest.NewRequest(method, "http://localhost:4000"+path, body)
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	return r
}

func htmlUnescape(s string) string { return html.UnescapeString(s) }
