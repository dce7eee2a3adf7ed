package bench

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
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
	"github.com/guildhouse/guildhall/web"
)

// Witness is a bench witness: a registered ed25519 key and an API token.
type Witness struct {
	ID    string
	Key   ed25519.PrivateKey
	KeyID string
	Token string
	// TokenRow is what makes Token valid once stored (RegisterWitnesses).
	TokenRow store.WebSession
}

// NewWitness makes a witness with a fresh ed25519 key; its token is minted from
// the web app's session secret (web.NewToken) and works once RegisterWitnesses
// has stored it.
func NewWitness(id string, secret []byte) (Witness, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Witness{}, err
	}
	tok, row, err := web.NewToken(secret, id, "bench", time.Now(), 24*time.Hour)
	if err != nil {
		return Witness{}, err
	}
	return Witness{ID: id, Key: priv, KeyID: Ed25519KeyID(pub), Token: tok, TokenRow: row}, nil
}

// Role is the role every bench witness holds and signs in.
const Role = "bench"

// Record is the Ops DB row that registers the witness (holding Role, given by an
// admin) and their public key.
func (w Witness) Record(now time.Time) store.Witness {
	pub := w.Key.Public().(ed25519.PublicKey)
	return store.Witness{ID: w.ID, DisplayName: w.ID, Email: w.ID, Roles: []string{Role}, AdminRoles: []string{Role}, IdPRoles: []string{},
		Credentials: []store.Credential{{Type: "ed25519", KeyID: w.KeyID,
			PublicKey: base64.StdEncoding.EncodeToString(pub), Label: "bench", AddedAt: now.UTC()}},
		CreatedAt: now.UTC(), UpdatedAt: now.UTC()}
}

// Ed25519KeyID names a public key (statement.KeyID).
func Ed25519KeyID(pub ed25519.PublicKey) string { return statement.KeyID(pub) }

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
	st := statement.Build(spec, w.ID, d, "", time.Now())
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
