package intune

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// tokenSkew renews a token this long before it expires, so a request never
// leaves with a token that expires on the way.
const tokenSkew = 2 * time.Minute

// token returns a valid access token, fetching one when there is none or it is
// about to expire. Fetches are one at a time; a waiter gives up with its context.
func (c *Client) token(ctx context.Context, rec *recorder) (string, error) {
	select {
	case c.tokenLock <- struct{}{}:
	case <-ctx.Done():
		return "", &Error{Kind: KindUnavailable, Op: "token", Message: "gave up waiting for a token: " + ctx.Err().Error(), Err: ctx.Err()}
	}
	defer func() { <-c.tokenLock }()
	if c.access != "" && c.now().Before(c.expires.Add(-tokenSkew)) {
		return c.access, nil
	}
	tok, lifetime, err := c.fetchToken(ctx, rec)
	if err != nil {
		return "", err
	}
	c.access, c.expires = tok, c.now().Add(lifetime)
	return tok, nil
}

// dropToken forgets stale (Graph said it expired), so the next call fetches a new one.
func (c *Client) dropToken(stale string) {
	c.tokenLock <- struct{}{}
	if c.access == stale {
		c.access = ""
	}
	<-c.tokenLock
}

// fetchToken runs the client credentials grant once.
func (c *Client) fetchToken(ctx context.Context, rec *recorder) (string, time.Duration, error) {
	cc := clientcredentials.Config{
		ClientID:     c.cfg.ClientID,
		ClientSecret: c.cfg.ClientSecret,
		TokenURL:     c.tokenURL,
		Scopes:       []string{c.cfg.Scope},
		AuthStyle:    oauth2.AuthStyleInParams,
	}
	if cert := c.cfg.Certificate; cert != nil {
		a, err := cert.assertion(c.cfg.ClientID, c.tokenURL, c.now())
		if err != nil {
			return "", 0, err
		}
		cc.EndpointParams = url.Values{"client_assertion_type": {AssertionType}, "client_assertion": {a}}
	}
	actx, cancel := context.WithTimeout(context.WithValue(ctx, oauth2.HTTPClient, c.http), c.cfg.RequestTimeout)
	defer cancel()
	start := c.now()
	tok, err := cc.Token(actx)
	call := Call{Time: start, Op: "token", Method: "POST", URL: c.tokenURL, Millis: c.now().Sub(start).Milliseconds()}
	if err != nil {
		e := c.tokenError(err)
		call.Status, call.RequestID, call.Error, call.RetryAfterMillis = e.Status, e.RequestID, e.Error(), e.RetryAfter.Milliseconds()
		c.record(rec, call)
		return "", 0, e
	}
	call.Status = 200
	c.record(rec, call)
	if !strings.EqualFold(tok.TokenType, "bearer") {
		return "", 0, &Error{Kind: KindAuth, Op: "token", Message: fmt.Sprintf("the token endpoint issued a %q token, not a Bearer token", tok.TokenType)}
	}
	return tok.AccessToken, tokenLifetime(tok), nil
}

// tokenLifetime reads expires_in from the answer (so expiry follows the
// client's clock, which tests can move), defaulting to what oauth2 computed.
func tokenLifetime(tok *oauth2.Token) time.Duration {
	switch v := tok.Extra("expires_in").(type) {
	case float64:
		return time.Duration(v) * time.Second
	case string:
		if n, err := strconv.Atoi(v); err == nil {
			return time.Duration(n) * time.Second
		}
	}
	if !tok.Expiry.IsZero() {
		return time.Until(tok.Expiry)
	}
	return time.Hour
}

// tokenErrorBody is the Microsoft identity platform's error answer.
type tokenErrorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Codes       []int  `json:"error_codes"`
	TraceID     string `json:"trace_id"`
}

// aadHint explains an AADSTS code in words and names the setting to fix.
// The identity platform warns that codes change; an unknown one falls back to
// the OAuth error (invalid_client …) and the description itself.
type aadHint struct{ setting, words string }

var aadHints = map[int]aadHint{
	90002:   {SettingTenantID, "no such tenant"},
	900023:  {SettingTenantID, "not a tenant id or verified domain"},
	700016:  {SettingClientID, "no application with this client id in the tenant (registered in another tenant?)"},
	7000112: {SettingClientID, "the application is disabled"},
	7000215: {SettingClientSecret, "the client secret is wrong (give the secret's value, not its id)"},
	7000222: {SettingClientSecret, "the client secret has expired; create a new one"},
	700027:  {SettingCertificate, "the certificate is not registered on the application, or the assertion does not verify"},
	700024:  {SettingCertificate, "the client assertion is outside its valid time (is this machine's clock right?)"},
	70011:   {SettingScope, "the scope is not valid"},
	1002012: {SettingScope, "the scope is not valid"},
	500011:  {SettingScope, "the scope's resource is not known in this tenant"},
}

// tokenError turns a failed grant into an *Error that says which setting is
// wrong and whether retrying helps.
func (c *Client) tokenError(err error) *Error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response == nil {
		return c.networkError("token", err)
	}
	status := re.Response.StatusCode
	var body tokenErrorBody
	_ = json.Unmarshal(re.Body, &body)
	e := &Error{Op: "token", Status: status, Code: re.ErrorCode, RequestID: body.TraceID, Err: err}
	desc := firstLine(re.ErrorDescription)
	if retryStatus(status) || re.ErrorCode == "temporarily_unavailable" {
		e.Kind, e.RetryAfter = KindUnavailable, parseRetryAfter(re.Response.Header.Get("Retry-After"), c.now())
		if status == 429 {
			e.Kind = KindThrottled
		}
		e.Message = fmt.Sprintf("the token endpoint is unavailable (%d)", status)
		if desc != "" {
			e.Message += ": " + desc
		}
		return c.redact(e)
	}
	e.Kind = KindAuth
	var hint aadHint
	for _, code := range body.Codes {
		if h, ok := aadHints[code]; ok {
			hint = h
			e.Code = fmt.Sprintf("%s AADSTS%d", re.ErrorCode, code)
			break
		}
	}
	if hint.setting == "" {
		switch re.ErrorCode {
		case "invalid_client":
			hint = aadHint{c.credentialSetting(), "the client credential was refused"}
		case "unauthorized_client":
			hint = aadHint{SettingClientID, "the application may not use this grant in this tenant"}
		case "invalid_scope":
			hint = aadHint{SettingScope, "the scope is not valid"}
		default:
			hint.words = "the request was refused"
		}
	}
	if hint.setting == SettingCertificate || hint.setting == SettingClientSecret {
		hint.setting = c.credentialSetting()
	}
	e.Setting = hint.setting
	e.Message = fmt.Sprintf("sign-in to tenant %s refused: %s", c.cfg.TenantID, hint.words)
	if desc != "" {
		e.Message += " — " + desc
	}
	return c.redact(e)
}

func (c *Client) credentialSetting() string {
	if c.cfg.Certificate != nil {
		return SettingCertificate
	}
	return SettingClientSecret
}

// minRedact keeps redaction from blanking ordinary words when a (test) secret
// is a word; real client secrets are 40 characters.
const minRedact = 8

// redact removes the client secret from anything an error repeats (the token
// endpoint never echoes it, but an error is shown to people and logged).
func (c *Client) redact(e *Error) *Error {
	if s := c.cfg.ClientSecret; len(s) >= minRedact {
		e.Message = strings.ReplaceAll(e.Message, s, "[secret]")
		e.Code = strings.ReplaceAll(e.Code, s, "[secret]")
	}
	return e
}

// networkError classifies a failure without an answer: TLS verification
// failures need a person; everything else (refused, reset, timeout, DNS) may pass.
func (c *Client) networkError(op string, err error) *Error {
	var verr *tls.CertificateVerificationError
	var uerr x509.UnknownAuthorityError
	var herr x509.HostnameError
	if errors.As(err, &verr) || errors.As(err, &uerr) || errors.As(err, &herr) {
		setting := SettingBaseURL
		if op == "token" {
			setting = SettingAuthorityURL
		}
		return c.redact(&Error{Kind: KindConfig, Op: op, Setting: setting, Message: "the server's TLS certificate is not trusted: " + err.Error(), Err: err})
	}
	return c.redact(&Error{Kind: KindUnavailable, Op: op, Message: "no answer: " + err.Error(), Err: err})
}

// firstLine cuts the trace and correlation ids the identity platform appends.
func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}
