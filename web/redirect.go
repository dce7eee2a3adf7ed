package web

import (
	"net/url"
	"strings"
)

// maxNext bounds a post-login redirect target.
const maxNext = 2048

// safeNext keeps post-login redirects on this site. It accepts only what parses
// as a same-origin absolute path ("/…", never "//…" or "/\…") made of printable
// ASCII without a backslash, and answers "/" for anything else. Browsers drop
// tabs and line breaks anywhere in a URL, trim control characters and spaces,
// and read "\" as "/", so "/<TAB>/evil.example" that Go writes into Location
// unchanged lands on //evil.example; what passes here means the same to a
// browser as to Go. Legitimate targets (requireLogin escapes the request URI)
// are always printable ASCII.
func safeNext(next string) string {
	if next == "" || len(next) > maxNext || next[0] != '/' {
		return "/"
	}
	for i := 0; i < len(next); i++ {
		if c := next[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return "/"
		}
	}
	if strings.HasPrefix(next, "//") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.EscapedPath(), "/") {
		return "/"
	}
	return next
}
