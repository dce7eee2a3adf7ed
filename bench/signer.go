package bench

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/guildhouse/guildhall/contract"
	"github.com/guildhouse/guildhall/statement"
	"github.com/guildhouse/guildhall/store"
)

// Witness is a bench witness: a registered ed25519 key and an API token.
type Witness struct {
	ID    string
	Key   ed25519.PrivateKey
	KeyID string
	Token string
}

// NewWitness makes a witness with a fresh ed25519 key; its token is minted from
// the web app's session secret (see MintToken).
func NewWitness(id string, secret []byte) (Witness, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Witness{}, err
	}
	tok, err := MintToken(secret, id, 24*time.Hour)
	if err != nil {
		return Witness{}, err
	}
	return Witness{ID: id, Key: priv, KeyID: Ed25519KeyID(pub), Token: tok}, nil
}

// Record is the Ops DB row that registers the witness and their public key.
func (w Witness) Record(now time.Time) store.Witness {
	pub := w.Key.Public().(ed25519.PublicKey)
	return store.Witness{ID: w.ID, DisplayName: w.ID, Email: w.ID, Roles: []string{},
		Credentials: []store.Credential{{Type: "ed25519", KeyID: w.KeyID,
			PublicKey: base64.StdEncoding.EncodeToString(pub), Label: "bench", AddedAt: now.UTC()}},
		CreatedAt: now.UTC(), UpdatedAt: now.UTC()}
}

// Ed25519KeyID names a public key (statement.KeyID).
func Ed25519KeyID(pub ed25519.PublicKey) string { return statement.KeyID(pub) }

// MintToken issues an API bearer token the way the web app's account page does
// ("gh1." + a signed payload naming the witness and an expiry), from the same
// session secret. The bench needs one per witness, and the account page (behind
// the login rate limit) is not the place to get hundreds. A negative ttl makes an
// expired token (security tests).
func MintToken(secret []byte, witnessID string, ttl time.Duration) (string, error) {
	jti := make([]byte, 8)
	_, _ = rand.Read(jti)
	v, err := SignedValue(secret, "api-token", map[string]any{
		"w": witnessID, "e": time.Now().Add(ttl).Unix(), "j": hex.EncodeToString(jti)})
	if err != nil {
		return "", err
	}
	return "gh1." + v, nil
}

// SessionCookie is a web session cookie value for a witness as an OIDC login
// leaves it, signed with secret; a negative ttl makes an expired one (security
// tests).
func SessionCookie(secret []byte, witnessID string, ttl time.Duration) (string, error) {
	return SignedValue(secret, "guildhall_session", map[string]any{
		"w": witnessID, "v": "oidc", "e": time.Now().Add(ttl).Unix()})
}

// SignedValue encodes v as the web app signs its cookies and tokens:
// base64url(JSON) "." base64url(HMAC-SHA256(k, name 0x00 payload)), with
// k = HMAC-SHA256(secret, "guildhall web cookie v1").
func SignedValue(secret []byte, name string, v any) (string, error) {
	k := hmac.New(sha256.New, secret)
	k.Write([]byte("guildhall web cookie v1"))
	key := k.Sum(nil)
	body, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	p := base64.RawURLEncoding.EncodeToString(body)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(name))
	m.Write([]byte{0})
	m.Write([]byte(p))
	return p + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil)), nil
}

// SignBody is the JSON body of POST /api/v1/ceremonies/{id}/sign.
type SignBody struct {
	IdempotencyKey string `json:"idempotencyKey"`
	Decision       string `json:"decision"`
	Comment        string `json:"comment,omitempty"`
	Statement      string `json:"statement"`
	KeyID          string `json:"keyId"`
	Signature      string `json:"signature"`
}

// NewSignBody builds a signed approval of spec by w: the canonical statement
// (issued now) and its ed25519 signature.
func NewSignBody(spec contract.Spec, w Witness, key string, d contract.Decision) SignBody {
	st := statement.Build(spec, w.ID, d, time.Now())
	canon := st.Canonical()
	return SignBody{IdempotencyKey: key, Decision: string(d), Statement: string(canon), KeyID: w.KeyID,
		Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(w.Key, canon))}
}

// APIClient signs through the JSON API.
type APIClient struct {
	BaseURL string
	HTTP    *http.Client
}

// NewAPIClient returns a client with a connection pool sized for conc
// concurrent requests.
func NewAPIClient(baseURL string, conc int) *APIClient {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = conc * 2
	tr.MaxIdleConnsPerHost = conc * 2
	return &APIClient{BaseURL: strings.TrimRight(baseURL, "/"), HTTP: &http.Client{Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// HTTPError is a non-2xx answer: the status and the problem document's title
// and detail.
type HTTPError struct {
	Status int
	Title  string
	Detail string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Title, e.Detail)
}

// Sign posts a sign request as the witness whose token is given.
func (c *APIClient) Sign(ctx context.Context, ceremonyID, token string, body SignBody) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+"/api/v1/ceremonies/"+ceremonyID+"/sign", bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	var p struct {
		Title  string `json:"title"`
		Detail string `json:"detail"`
	}
	_ = json.Unmarshal(data, &p)
	if p.Title == "" {
		p.Detail = strings.TrimSpace(string(data))
		if len(p.Detail) > 200 {
			p.Detail = p.Detail[:200]
		}
	}
	return &HTTPError{Status: resp.StatusCode, Title: p.Title, Detail: p.Detail}
}

func randomKey() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
