package web

import (
	"html"
	"io"
	"net/http"
	"net/http/httptest"
)

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func mustReq(method, path string, body io.Reader) *http.Request {
	r := httptest.NewRequest(method, "http://localhost:4000"+path, body)
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	return r
}

func htmlUnescape(s string) string { return html.UnescapeString(s) }
