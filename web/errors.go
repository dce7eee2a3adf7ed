package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/guildhouse/guildhall/ceremonyclient"
	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/store"
)

// errorPage renders a plain-words error page. Details stay in the log.
func (a *App) errorPage(w http.ResponseWriter, r *http.Request, code int, title, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	a.render(w, r, code, errorView(a.meta(r, title), code, title, msg))
}

// problem writes an RFC 9457 problem document.
func problem(w http.ResponseWriter, code int, title, detail string) {
	problemExt(w, code, title, detail, nil)
}

func problemExt(w http.ResponseWriter, code int, title, detail string, ext map[string]any) {
	body := map[string]any{"type": "about:blank", "title": title, "status": code}
	if detail != "" {
		body["detail"] = detail
	}
	for k, v := range ext {
		body[k] = v
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// plainError turns an infrastructure error into a short phrase fit for people:
// the innermost cause, without connection strings or internals.
func plainError(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "request cancelled"
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

// isNotFound reports a missing ceremony or row, from either side.
func isNotFound(err error) bool {
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, ceremonyclient.ErrNotFound)
}

func asRejection(err error) (*contract.Rejection, bool) {
	var rj *contract.Rejection
	ok := errors.As(err, &rj)
	return rj, ok
}
