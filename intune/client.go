package intune

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Client is a small typed Microsoft Graph client for the Intune app assignment
// endpoints. It is safe for concurrent use.
type Client struct {
	cfg      Config
	http     *http.Client
	tokenURL string
	base     *url.URL
	log      *slog.Logger

	tokenLock chan struct{} // guards access and expires; a channel so waiters can give up
	access    string
	expires   time.Time
}

func (c *Client) now() time.Time { return c.cfg.Now() }

// Call records one HTTP exchange with the token endpoint or Graph, for the
// custody chain: never a token, a secret or an assertion.
type Call struct {
	Time             time.Time `json:"time"`
	Op               string    `json:"op"`
	Method           string    `json:"method"`
	URL              string    `json:"url"`
	Attempt          int       `json:"attempt,omitempty"`
	Status           int       `json:"status,omitempty"`
	RequestID        string    `json:"requestId,omitempty"`
	ClientRequestID  string    `json:"clientRequestId,omitempty"`
	Millis           int64     `json:"ms"`
	RetryAfterMillis int64     `json:"retryAfterMs,omitempty"`
	Error            string    `json:"error,omitempty"`
}

// recorder collects the calls of one operation. A nil recorder drops them.
type recorder struct {
	mu    sync.Mutex
	calls []Call
}

func (r *recorder) add(c Call) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
}

func (r *recorder) list() []Call {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Call(nil), r.calls...)
}

// record keeps a call for the operation's result and logs it (never a token:
// Call has no field that could hold one).
func (c *Client) record(rec *recorder, call Call) {
	c.log.Debug("graph call", "op", call.Op, "method", call.Method, "url", call.URL, "attempt", call.Attempt,
		"status", call.Status, "request_id", call.RequestID, "ms", call.Millis, "error", call.Error)
	rec.add(call)
}

// maxBody bounds what is read from one answer.
const maxBody = 16 << 20

// send makes one Graph call with the manners Graph asks for: a fresh token,
// one refresh after a 401, waits on 429/5xx as long as Retry-After says (or an
// exponential backoff), a bounded number of attempts, a timeout per attempt.
func (c *Client) send(ctx context.Context, rec *recorder, op, method, rawURL string, body []byte, out any) error {
	refreshed := false
	for attempt := 1; ; attempt++ {
		err := c.attempt(ctx, rec, op, method, rawURL, body, out, attempt)
		if err == nil {
			return nil
		}
		if err.Status == http.StatusUnauthorized && err.Op != "token" && !refreshed {
			refreshed = true // the token was dropped; fetch a new one, once, without counting an attempt
			attempt--
			continue
		}
		if !err.Retryable() || attempt >= c.cfg.MaxAttempts {
			return err
		}
		wait := err.RetryAfter
		if wait == 0 {
			wait = backoff(attempt, c.cfg.BaseBackoff, c.cfg.MaxBackoff)
		}
		if wait > c.cfg.MaxWait {
			return err // the caller (a Temporal retry) waits instead of holding this call
		}
		if dl, ok := ctx.Deadline(); ok && c.now().Add(wait).After(dl) {
			return err
		}
		c.log.Warn("graph: retrying", "op", op, "status", err.Status, "attempt", attempt, "wait", wait, "reason", err.Message)
		if serr := c.cfg.Sleep(ctx, wait); serr != nil {
			return &Error{Kind: KindUnavailable, Op: op, Message: "gave up waiting to retry: " + serr.Error(), Err: serr}
		}
	}
}

// attempt is one try of a Graph call.
func (c *Client) attempt(ctx context.Context, rec *recorder, op, method, rawURL string, body []byte, out any, n int) *Error {
	tok, err := c.token(ctx, rec)
	if err != nil {
		if e, ok := err.(*Error); ok {
			return e
		}
		return c.networkError("token", err)
	}
	actx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, rerr := http.NewRequestWithContext(actx, method, rawURL, rd)
	if rerr != nil {
		return &Error{Kind: KindInvalid, Op: op, Message: rerr.Error(), Err: rerr}
	}
	crid := uuid.NewString()
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("client-request-id", crid)
	req.Header.Set("User-Agent", "guildhall-intune")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := c.now()
	call := Call{Time: start, Op: op, Method: method, URL: rawURL, Attempt: n, ClientRequestID: crid}
	resp, herr := c.http.Do(req)
	var data []byte
	if herr == nil {
		data, herr = io.ReadAll(io.LimitReader(resp.Body, maxBody))
		resp.Body.Close()
	}
	call.Millis = c.now().Sub(start).Milliseconds()
	if herr == nil && actx.Err() != nil {
		herr = actx.Err() // an answer that arrived as the attempt timed out is not trusted
	}
	if herr != nil {
		e := c.networkError(op, herr)
		if resp != nil {
			e.Status = resp.StatusCode
		}
		call.Status, call.Error = e.Status, e.Error()
		c.record(rec, call)
		return e
	}
	call.Status, call.RequestID = resp.StatusCode, resp.Header.Get("request-id")
	if resp.StatusCode/100 == 2 {
		e := decodeAnswer(data, out)
		if e != nil {
			e.Op, e.Status, e.RequestID = op, resp.StatusCode, call.RequestID
			call.Error = e.Error()
		}
		c.record(rec, call)
		return e
	}
	e := c.graphError(op, resp, data)
	call.Error, call.RetryAfterMillis = e.Error(), e.RetryAfter.Milliseconds()
	c.record(rec, call)
	if resp.StatusCode == http.StatusUnauthorized {
		c.dropToken(tok)
	}
	return e
}

// decodeAnswer reads a successful answer into out (nil: no body expected). An
// empty body where one is expected is an answer cut short: worth a retry.
func decodeAnswer(data []byte, out any) *Error {
	if out == nil {
		return nil
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return &Error{Kind: KindUnavailable, Message: "Graph answered with an empty body"}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &Error{Kind: KindInvalid, Message: "Graph answered with JSON this client cannot read: " + err.Error(), Err: err}
	}
	return nil
}

// graphErrorBody is Graph's error answer.
type graphErrorBody struct {
	Error struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError struct {
			RequestID string `json:"request-id"`
		} `json:"innerError"`
	} `json:"error"`
}

// graphError turns a Graph error answer into an *Error.
func (c *Client) graphError(op string, resp *http.Response, data []byte) *Error {
	var b graphErrorBody
	_ = json.Unmarshal(data, &b)
	e := &Error{Op: op, Status: resp.StatusCode, Code: b.Error.Code, RequestID: resp.Header.Get("request-id")}
	if e.RequestID == "" {
		e.RequestID = b.Error.InnerError.RequestID
	}
	detail := strings.TrimSpace(b.Error.Message)
	if detail == "" {
		detail = strings.TrimSpace(string(data[:min(len(data), 200)]))
	}
	status := fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	switch code := resp.StatusCode; {
	case code == http.StatusTooManyRequests:
		e.Kind, e.Message = KindThrottled, "Graph is throttling this application ("+status+")"
	case retryStatus(code):
		e.Kind, e.Message = KindUnavailable, "Graph is unavailable ("+status+")"
	case code == http.StatusUnauthorized:
		e.Kind, e.Message = KindAuth, "Graph refused the access token ("+status+")"
	case code == http.StatusForbidden:
		e.Kind = KindPermission
		e.Message = "Graph refused the call (" + status + "): grant the app registration the application permission DeviceManagementApps.ReadWrite.All with admin consent, and check the tenant has an Intune licence"
	case code == http.StatusNotFound:
		e.Kind, e.Message = KindNotFound, "Graph has no such object in this tenant ("+status+")"
	default:
		e.Kind, e.Message = KindInvalid, "Graph refused the request ("+status+")"
	}
	if retryStatus(resp.StatusCode) {
		e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	}
	if detail != "" {
		e.Message += ": " + detail
	}
	return c.redact(e)
}
