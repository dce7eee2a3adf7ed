package custody

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/gowebpki/jcs"
)

// This file checks that bytes are already RFC 8785 (JCS) canonical JSON in one
// pass, without building a tree or a second copy. Verification needs to know
// that a stored body is canonical; re-canonicalising every body with
// jcs.Transform and comparing costs several times more than reading the row, and
// the chain verifier must stay close to the cost of a plain SELECT. The result is
// checked against jcs.Transform by tests and a fuzz test: a body is accepted here
// exactly when jcs.Transform(body) == body.

// maxDepth matches jcs's nesting limit.
const maxDepth = 10000

// CheckCanonical reports whether b is one JSON value in RFC 8785 canonical form,
// and if not, why.
func CheckCanonical(b []byte) error {
	c := canon{b: b}
	if err := c.value(); err != nil {
		return err
	}
	if c.i != len(b) {
		return c.errf("trailing data after the JSON value")
	}
	return nil
}

type canon struct {
	b     []byte
	i     int
	depth int
	// hdr, when set, collects the custody event header from the top-level
	// object's members (a field rather than a callback, so scanning allocates
	// nothing).
	hdr     header
	wantHdr bool
}

func (c *canon) errf(format string, args ...any) error {
	return fmt.Errorf("at byte %d: %s", c.i, fmt.Sprintf(format, args...))
}

func (c *canon) value() error {
	if c.i >= len(c.b) {
		return c.errf("unexpected end of data")
	}
	switch ch := c.b[c.i]; {
	case ch == '{':
		return c.object()
	case ch == '[':
		return c.array()
	case ch == '"':
		return c.str()
	case ch == 't':
		return c.lit("true")
	case ch == 'f':
		return c.lit("false")
	case ch == 'n':
		return c.lit("null")
	case ch == '-' || (ch >= '0' && ch <= '9'):
		return c.number()
	case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r':
		return c.errf("whitespace outside strings")
	default:
		return c.errf("unexpected character %q", ch)
	}
}

func (c *canon) lit(word string) error {
	if !bytes.HasPrefix(c.b[c.i:], []byte(word)) {
		return c.errf("invalid literal")
	}
	c.i += len(word)
	return nil
}

func (c *canon) enter() error {
	c.depth++
	if c.depth > maxDepth {
		return c.errf("nested more than %d levels deep", maxDepth)
	}
	return nil
}

func (c *canon) array() error {
	if err := c.enter(); err != nil {
		return err
	}
	defer func() { c.depth-- }()
	c.i++ // [
	if c.i < len(c.b) && c.b[c.i] == ']' {
		c.i++
		return nil
	}
	for {
		if err := c.value(); err != nil {
			return err
		}
		if c.i >= len(c.b) {
			return c.errf("unterminated array")
		}
		switch c.b[c.i] {
		case ',':
			c.i++
		case ']':
			c.i++
			return nil
		default:
			return c.errf("expected , or ] in array")
		}
	}
}

func (c *canon) object() error {
	if err := c.enter(); err != nil {
		return err
	}
	top := c.depth == 1
	defer func() { c.depth-- }()
	c.i++ // {
	if c.i < len(c.b) && c.b[c.i] == '}' {
		c.i++
		return nil
	}
	var prev []byte
	for {
		if c.i >= len(c.b) || c.b[c.i] != '"' {
			return c.errf("expected a member name")
		}
		ks := c.i
		if err := c.str(); err != nil {
			return err
		}
		key := c.b[ks+1 : c.i-1]
		if prev != nil {
			if cmp := compareKeys(prev, key); cmp == 0 {
				return c.errf("duplicate member %q", key)
			} else if cmp > 0 {
				return c.errf("members not in canonical order (%q after %q)", key, prev)
			}
		}
		prev = key
		if c.i >= len(c.b) || c.b[c.i] != ':' {
			return c.errf("expected : after member name")
		}
		c.i++
		vs := c.i
		if err := c.value(); err != nil {
			return err
		}
		if top && c.wantHdr {
			if err := c.hdr.member(key, c.b[vs:c.i]); err != nil {
				return err
			}
		}
		if c.i >= len(c.b) {
			return c.errf("unterminated object")
		}
		switch c.b[c.i] {
		case ',':
			c.i++
		case '}':
			c.i++
			return nil
		default:
			return c.errf("expected , or } in object")
		}
	}
}

// str checks a string in canonical form: only the escapes JCS writes (\" \\ \b
// \f \n \r \t, and \u00xx in lowercase for other control characters), and
// valid UTF-8 everywhere else.
func (c *canon) str() error {
	c.i++ // opening quote
	for c.i < len(c.b) {
		// Fast path: runs of plain ASCII, the bulk of every body, eight bytes at
		// a time while no byte needs a closer look.
		for c.i+8 <= len(c.b) && plain8(binary.LittleEndian.Uint64(c.b[c.i:])) {
			c.i += 8
		}
		for c.i < len(c.b) && plainByte[c.b[c.i]] {
			c.i++
		}
		if c.i >= len(c.b) {
			break
		}
		ch := c.b[c.i]
		switch {
		case ch == '"':
			c.i++
			return nil
		case ch == '\\':
			if c.i+1 >= len(c.b) {
				return c.errf("unterminated escape")
			}
			switch c.b[c.i+1] {
			case '"', '\\', 'b', 'f', 'n', 'r', 't':
				c.i += 2
			case 'u':
				if c.i+6 > len(c.b) {
					return c.errf("short \\u escape")
				}
				h := c.b[c.i+2 : c.i+6]
				if h[0] != '0' || h[1] != '0' || !lowerHex(h[2]) || !lowerHex(h[3]) || h[2] > '1' {
					return c.errf("\\u escape for a character that canonical JSON writes literally")
				}
				v := unhex(h[2])<<4 | unhex(h[3])
				if v == '\b' || v == '\f' || v == '\n' || v == '\r' || v == '\t' {
					return c.errf("\\u escape where canonical JSON uses a short escape")
				}
				c.i += 6
			default:
				return c.errf("escape that canonical JSON does not use")
			}
		case ch < 0x20:
			return c.errf("unescaped control character in a string")
		case ch < utf8.RuneSelf:
			c.i++
		default:
			r, size := utf8.DecodeRune(c.b[c.i:])
			if r == utf8.RuneError && size <= 1 {
				return c.errf("invalid UTF-8 in a string")
			}
			c.i += size
		}
	}
	return c.errf("unterminated string")
}

// plainByte marks the bytes a canonical string holds literally without further
// checks: printable ASCII other than the quote and the backslash.
var plainByte = func() (t [256]bool) {
	for ch := 0x20; ch < 0x80; ch++ {
		t[ch] = ch != '"' && ch != '\\'
	}
	return t
}()

// plain8 reports whether all eight bytes of v are plain (see plainByte): none is
// a control character, a quote, a backslash or non-ASCII. Bit tricks from
// "Bit Twiddling Hacks" (determine if a word has a byte less than / equal to n).
func plain8(v uint64) bool {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	hasZero := func(x uint64) uint64 { return (x - ones) & ^x & highs }
	less20 := (v - 0x20*ones) & ^v & highs
	return (v&highs)|less20|hasZero(v^('"'*ones))|hasZero(v^('\\'*ones)) == 0
}

func lowerHex(ch byte) bool { return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') }

func unhex(ch byte) byte {
	if ch <= '9' {
		return ch - '0'
	}
	return ch - 'a' + 10
}

// number checks the RFC 8259 grammar, then that the text is what ECMAScript
// prints for the value. Small integers, by far the common case, are canonical
// whenever they have no leading zero, so they skip the float round trip.
func (c *canon) number() error {
	s := c.i
	if c.b[c.i] == '-' {
		c.i++
	}
	ds := c.i
	for c.i < len(c.b) && c.b[c.i] >= '0' && c.b[c.i] <= '9' {
		c.i++
	}
	intDigits := c.i - ds
	if intDigits == 0 {
		return c.errf("invalid number")
	}
	if intDigits > 1 && c.b[ds] == '0' {
		return c.errf("number with a leading zero")
	}
	simple := true
	if c.i < len(c.b) && c.b[c.i] == '.' {
		simple = false
		c.i++
		fs := c.i
		for c.i < len(c.b) && c.b[c.i] >= '0' && c.b[c.i] <= '9' {
			c.i++
		}
		if c.i == fs {
			return c.errf("invalid number")
		}
	}
	if c.i < len(c.b) && (c.b[c.i] == 'e' || c.b[c.i] == 'E') {
		simple = false
		c.i++
		if c.i < len(c.b) && (c.b[c.i] == '+' || c.b[c.i] == '-') {
			c.i++
		}
		es := c.i
		for c.i < len(c.b) && c.b[c.i] >= '0' && c.b[c.i] <= '9' {
			c.i++
		}
		if c.i == es {
			return c.errf("invalid number")
		}
	}
	text := c.b[s:c.i]
	// Up to 15 digits is below 2^53, so the value is exact and prints as written;
	// "-0" prints as "0" and takes the slow path.
	if simple && intDigits <= 15 && (c.b[ds] != '0' || s == ds) {
		return nil
	}
	f, err := strconv.ParseFloat(string(text), 64)
	if err != nil {
		return c.errf("number out of range")
	}
	want, err := jcs.NumberToJSON(f)
	if err != nil || want != string(text) {
		return c.errf("number %s is not in canonical form", text)
	}
	return nil
}

// compareKeys orders two raw (canonically escaped) member names by their UTF-16
// code units, as RFC 8785 requires.
func compareKeys(a, b []byte) int {
	if plainASCII(a) && plainASCII(b) {
		return bytes.Compare(a, b)
	}
	ua, ub := utf16.Encode([]rune(unescape(a))), utf16.Encode([]rune(unescape(b)))
	for i := 0; i < len(ua) && i < len(ub); i++ {
		if ua[i] != ub[i] {
			return int(ua[i]) - int(ub[i])
		}
	}
	return len(ua) - len(ub)
}

func plainASCII(s []byte) bool {
	for _, ch := range s {
		if ch >= utf8.RuneSelf || ch == '\\' {
			return false
		}
	}
	return true
}

// unescape decodes the contents of a string already checked by str.
func unescape(raw []byte) string {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw)
	}
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			out = append(out, raw[i])
			continue
		}
		i++
		switch raw[i] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			out = append(out, unhex(raw[i+3])<<4|unhex(raw[i+4]))
			i += 4
		default: // " and \
			out = append(out, raw[i])
		}
	}
	return string(out)
}

// header is what chain verification needs from a body. typ and prevHash are the
// raw string contents (escapes undone only when present), usually slices of the
// body itself.
type header struct {
	seq      int64
	typ      []byte
	prevHash []byte
	have     int
}

var errNotEvent = errors.New("body is not a custody event")

// member takes one top-level member; any member other than Event's makes the
// body something else.
func (h *header) member(key, val []byte) error {
	switch string(key) {
	case "seq":
		// Canonical already; small enough to be exact (at most 15 digits).
		var n int64
		for _, ch := range val {
			if ch < '0' || ch > '9' || len(val) > 15 {
				return fmt.Errorf("%w: seq is not a non-negative integer", errNotEvent)
			}
			n = n*10 + int64(ch-'0')
		}
		h.seq, h.have = n, h.have|1
	case "type", "prevHash":
		if val[0] != '"' {
			return fmt.Errorf("%w: %s is not a string", errNotEvent, key)
		}
		s := val[1 : len(val)-1]
		if bytes.IndexByte(s, '\\') >= 0 {
			s = []byte(unescape(s))
		}
		if key[0] == 't' {
			h.typ, h.have = s, h.have|2
		} else {
			h.prevHash, h.have = s, h.have|4
		}
	case "ceremonyId", "artifactDigest", "actor", "idempotencyKey", "occurredAt":
		if val[0] != '"' {
			return fmt.Errorf("%w: %s is not a string", errNotEvent, key)
		}
	case "data":
	default:
		return fmt.Errorf("%w: unknown member %q", errNotEvent, key)
	}
	return nil
}

// scanHeader checks that body is a canonical custody event and returns its seq,
// type and prevHash, in one pass over the bytes.
func scanHeader(body []byte) (header, error) {
	if len(body) == 0 || body[0] != '{' {
		return header{}, fmt.Errorf("%w: not a JSON object", errNotEvent)
	}
	c := canon{b: body, wantHdr: true}
	err := c.value()
	h := c.hdr
	if err != nil {
		if errors.Is(err, errNotEvent) {
			return h, err
		}
		return h, fmt.Errorf("body is not in canonical form: %w", err)
	}
	if c.i != len(body) {
		return h, errors.New("body is not in canonical form: trailing data")
	}
	if h.have != 7 {
		return h, fmt.Errorf("%w: seq, type or prevHash missing", errNotEvent)
	}
	return h, nil
}
