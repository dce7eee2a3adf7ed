package intunetest

import (
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
	"github.com/guildhouse/guildhall/intune"
)

// serveToken is the tenant's /oauth2/v2.0/token endpoint for the client
// credentials grant, checking what Entra checks, in roughly its order.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	form := url.Values{}
	for k, v := range r.PostForm {
		if k != "client_secret" && k != "client_assertion" {
			form[k] = v
		}
	}
	s.mu.Lock()
	now := s.now()
	rec := Request{Time: now, Method: r.Method, Path: r.URL.Path, Form: form}
	status := s.grant(w, r, now)
	rec.Status = status
	s.log = append(s.log, rec)
	s.mu.Unlock()
}

// grant answers one token request; s.mu is held.
func (s *Server) grant(w http.ResponseWriter, r *http.Request, now time.Time) int {
	if f := takeFault(&s.tokenFaults); f != nil {
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		return aadError(w, f.status, "temporarily_unavailable", 50196, "The service is temporarily unavailable. Try again later.")
	}
	tenant, clientID := r.PathValue("tenant"), r.PostForm.Get("client_id")
	switch tenant {
	case s.TenantID:
	case s.OtherTenantID:
		return aadError(w, 400, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", clientID, tenant))
	default:
		return aadError(w, 400, "invalid_request", 90002, fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant))
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		return aadError(w, 400, "unsupported_grant_type", 70003, fmt.Sprintf("The app requested an unsupported grant type '%s'.", gt))
	}
	if clientID != s.ClientID {
		return aadError(w, 400, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", clientID, tenant))
	}
	if sc := r.PostForm.Get("scope"); sc != s.Scope {
		return aadError(w, 400, "invalid_scope", 1002012, fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", sc))
	}
	secret, assertion := r.PostForm.Get("client_secret"), r.PostForm.Get("client_assertion")
	switch {
	case secret != "" && assertion != "":
		return aadError(w, 400, "invalid_request", 90014, "Send either client_secret or client_assertion, not both.")
	case secret != "":
		if secret != s.ClientSecret {
			return aadError(w, 401, "invalid_client", 7000215, fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", s.ClientID))
		}
	case assertion != "":
		if why := s.checkAssertion(assertion, r.PostForm.Get("client_assertion_type"), s.TokenURL(tenant), now); why != "" {
			code := 700027
			if why == errAssertionTime {
				code = 700024
			}
			return aadError(w, 401, "invalid_client", code, why)
		}
	default:
		return aadError(w, 401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
	}
	tok := "fake." + uuid.NewString()
	s.tokens[tok] = now.Add(s.tokenLifetime)
	secs := int(s.tokenLifetime / time.Second)
	return writeJSON(w, 200, map[string]any{"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": tok})
}

const errAssertionTime = "Client assertion is not within its valid time range."

// checkAssertion verifies a private_key_jwt assertion against the registered
// certificates; "" means valid.
func (s *Server) checkAssertion(a, typ, audience string, now time.Time) string {
	if typ != intune.AssertionType {
		return "client_assertion_type must be " + intune.AssertionType
	}
	tok, err := jwt.ParseSigned(a, []jose.SignatureAlgorithm{jose.PS256, jose.RS256})
	if err != nil {
		return "The client assertion is not a signed JWT: " + err.Error()
	}
	h := tok.Headers[0]
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "JWT" {
		return "The client assertion's typ header must be JWT."
	}
	var cert *x509.Certificate
	for _, c := range s.certs {
		s256, s1 := sha256.Sum256(c.Raw), sha1.Sum(c.Raw)
		switch {
		case h.Algorithm == string(jose.PS256) && h.ExtraHeaders["x5t#S256"] == base64.RawURLEncoding.EncodeToString(s256[:]):
			cert = c
		case h.Algorithm == string(jose.RS256) && h.ExtraHeaders["x5t"] == base64.RawURLEncoding.EncodeToString(s1[:]):
			cert = c
		}
	}
	if cert == nil {
		return fmt.Sprintf("The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '%v%v']", h.ExtraHeaders["x5t#S256"], h.ExtraHeaders["x5t"])
	}
	var c jwt.Claims
	if err := tok.Claims(cert.PublicKey.(*rsa.PublicKey), &c); err != nil {
		return "Client assertion failed signature validation."
	}
	if c.Issuer != s.ClientID || c.Subject != s.ClientID {
		return "The client assertion's iss and sub must be the application's client id."
	}
	if c.ID == "" || s.usedJTI[c.ID] {
		return "The client assertion's jti is missing or was already used."
	}
	if !c.Audience.Contains(audience) {
		return "The client assertion's audience must be " + audience + "."
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Time: now}, 0); err != nil || c.Expiry == nil {
		return errAssertionTime
	}
	s.usedJTI[c.ID] = true
	return ""
}

// aadError writes the identity platform's error answer.
func aadError(w http.ResponseWriter, status int, code string, aadsts int, msg string) int {
	trace, corr := uuid.NewString(), uuid.NewString()
	ts := time.Now().UTC().Format("2006-01-02 15:04:05Z")
	return writeJSON(w, status, map[string]any{
		"error":             code,
		"error_description": fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", aadsts, msg, trace, corr, ts),
		"error_codes":       []int{aadsts},
		"timestamp":         ts,
		"trace_id":          trace,
		"correlation_id":    corr,
		"error_uri":         "https://login.microsoftonline.com/error?code=" + strconv.Itoa(aadsts),
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) int {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
	return status
}

// takeFault consumes one use of the first queued fault.
func takeFault(fs *[]fault) *fault {
	for len(*fs) > 0 && (*fs)[0].n <= 0 {
		*fs = (*fs)[1:]
	}
	if len(*fs) == 0 {
		return nil
	}
	(*fs)[0].n--
	f := (*fs)[0]
	return &f
}
