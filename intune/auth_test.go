package intune_test

import (
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/guildhouse/guildhall/intune"
	"github.com/guildhouse/guildhall/intune/intunetest"
)

// wantRefusal checks a sign-in refusal: not retryable, names the setting and the
// AADSTS code, never repeats the secret, and no Graph call was made.
func wantRefusal(t *testing.T, e *env, err error, setting, aadsts string) {
	t.Helper()
	ge := asError(t, err)
	if ge.Kind != intune.KindAuth || ge.Retryable() || intune.IsRetryable(err) || ge.Op != "token" {
		t.Fatalf("error %+v", ge)
	}
	if ge.Setting != setting || !strings.Contains(ge.Error(), "check "+setting) {
		t.Errorf("error names setting %q, want %q: %s", ge.Setting, setting, ge.Error())
	}
	if !strings.Contains(ge.Error(), aadsts) || strings.Contains(ge.Error(), "Trace ID") {
		t.Errorf("error should quote %s without the trace lines: %s", aadsts, ge.Error())
	}
	if strings.Contains(ge.Error(), e.fake.ClientSecret) {
		t.Fatalf("error repeats the secret: %s", ge.Error())
	}
	if ge.RequestID == "" {
		t.Error("no trace id for Microsoft support")
	}
	for _, r := range e.fake.Requests() {
		if strings.HasPrefix(r.Path, "/v1.0/") {
			t.Fatalf("called Graph without a token: %+v", r)
		}
	}
	if len(e.clock.Slept()) != 0 {
		t.Fatalf("retried a refusal: %v", e.clock.Slept())
	}
}

func TestWrongTenantIsRefusedInPlainWords(t *testing.T) {
	e := newEnv(t, func(c *intune.Config) { c.TenantID = uuid.NewString() })
	_, err := e.client.Apply(ctx, e.target)
	wantRefusal(t, e, err, intune.SettingTenantID, "AADSTS90002")
	if !strings.Contains(err.Error(), "no such tenant") {
		t.Errorf("error: %v", err)
	}
}

func TestAppRegisteredInAnotherTenant(t *testing.T) {
	e := newEnv(t)
	cfg := e.fake.Config()
	cfg.TenantID = e.fake.OtherTenantID
	cfg.Now, cfg.Sleep = e.clock.Now, e.clock.Sleep
	c, err := intune.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Apply(ctx, e.target)
	wantRefusal(t, e, err, intune.SettingClientID, "AADSTS700016")
}

func TestWrongSecretIsRefused(t *testing.T) {
	e := newEnv(t, func(c *intune.Config) { c.ClientSecret += "x" })
	_, err := e.client.Apply(ctx, e.target)
	wantRefusal(t, e, err, intune.SettingClientSecret, "AADSTS7000215")
	if strings.Contains(err.Error(), e.fake.ClientSecret+"x") {
		t.Fatal("error repeats the wrong secret")
	}
}

func TestTokenSentWithTheDocumentedForm(t *testing.T) {
	e := newEnv(t)
	if _, err := e.client.Check(ctx, e.target, intune.Released); err != nil {
		t.Fatal(err)
	}
	for _, r := range e.fake.Requests() {
		if strings.HasSuffix(r.Path, "/token") {
			if r.Path != "/"+e.fake.TenantID+"/oauth2/v2.0/token" || r.Form.Get("grant_type") != "client_credentials" ||
				r.Form.Get("scope") != "https://graph.microsoft.com/.default" || r.Form.Get("client_id") != e.fake.ClientID {
				t.Fatalf("token request %+v", r)
			}
			return
		}
	}
	t.Fatal("no token request")
}

func TestTokenEndpointOutageIsRetried(t *testing.T) {
	e := newEnv(t)
	e.fake.FailToken(2, http.StatusServiceUnavailable, "3")
	if _, err := e.client.Apply(ctx, e.target); err != nil {
		t.Fatal(err)
	}
	if got := e.clock.Slept(); !slices.Equal(got, []time.Duration{3 * time.Second, 3 * time.Second}) {
		t.Fatalf("slept %v", got)
	}
}

func certEnv(t *testing.T, sha1 bool) (*env, *intune.Certificate) {
	t.Helper()
	now := time.Now().UTC() // the env's clock starts now
	cert := intunetest.NewCertificate(t, now.Add(-time.Hour), now.Add(365*24*time.Hour))
	cert.SHA1Thumbprint = sha1
	e := newEnv(t, func(c *intune.Config) { c.ClientSecret, c.Certificate = "", cert })
	return e, cert
}

func TestCertificateCredential(t *testing.T) {
	for _, sha1 := range []bool{false, true} {
		name := "PS256 x5t#S256"
		if sha1 {
			name = "RS256 x5t"
		}
		t.Run(name, func(t *testing.T) {
			e, cert := certEnv(t, sha1)
			e.fake.RegisterCertificate(cert.Leaf)
			if _, err := e.client.Apply(ctx, e.target); err != nil {
				t.Fatal(err)
			}
			// A second token (after expiry) needs a fresh assertion: the fake
			// refuses a jti it has seen.
			e.clock.Advance(2 * time.Hour)
			if _, err := e.client.Check(ctx, e.target, intune.Released); err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, r := range e.fake.Requests() {
				if strings.HasSuffix(r.Path, "/token") {
					n++
					if r.Status != 200 || r.Form.Get("client_assertion_type") != intune.AssertionType || r.Form.Has("client_secret") {
						t.Fatalf("token request %+v", r)
					}
				}
			}
			if n != 2 {
				t.Fatalf("%d token requests", n)
			}
			e.wantTargetApplied(t, decided)
		})
	}
}

func TestUnregisteredCertificateIsRefused(t *testing.T) {
	e, _ := certEnv(t, false)
	other := intunetest.NewCertificate(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	e.fake.RegisterCertificate(other.Leaf)
	_, err := e.client.Apply(ctx, e.target)
	wantRefusal(t, e, err, intune.SettingCertificate, "AADSTS700027")
}

func TestExpiredCertificateFailsBeforeAnyRequest(t *testing.T) {
	now := time.Now().UTC() // the env's clock starts now
	cert := intunetest.NewCertificate(t, now.Add(-48*time.Hour), now.Add(-time.Hour))
	e := newEnv(t, func(c *intune.Config) { c.ClientSecret, c.Certificate = "", cert })
	e.fake.RegisterCertificate(cert.Leaf)
	_, err := e.client.Apply(ctx, e.target)
	ge := asError(t, err)
	if ge.Kind != intune.KindConfig || ge.Setting != intune.SettingCertificate || ge.Retryable() || !strings.Contains(ge.Message, "expired on "+now.Add(-time.Hour).Format("2006-01-02")) {
		t.Fatalf("error %+v", ge)
	}
	if n := len(e.fake.Requests()); n != 0 {
		t.Fatalf("%d requests with an expired certificate", n)
	}
}

func TestLoadCertificate(t *testing.T) {
	cert := intunetest.NewCertificate(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Leaf.Raw})
	pkcs8, err := x509.MarshalPKCS8PrivateKey(cert.Key)
	if err != nil {
		t.Fatal(err)
	}
	keyPKCS8 := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
	keyPKCS1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(cert.Key)})
	dir := t.TempDir()
	write := func(name string, parts ...[]byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, slices.Concat(parts...), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct{ name, cert, key string }{
		{"separate PKCS #8 key", write("c.pem", certPEM), write("k8.pem", keyPKCS8)},
		{"separate PKCS #1 key", write("c.pem", certPEM), write("k1.pem", keyPKCS1)},
		{"one file, key first", write("both.pem", keyPKCS8, certPEM), ""},
	} {
		got, err := intune.LoadCertificate(c.cert, c.key)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !got.Leaf.Equal(cert.Leaf) || !got.Key.Equal(cert.Key) {
			t.Fatalf("%s: loaded another certificate", c.name)
		}
	}
	stranger := intunetest.NewCertificate(t, time.Now(), time.Now().Add(time.Hour))
	wrongKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(stranger.Key)})
	for _, c := range []struct {
		name, cert, key, setting, words string
	}{
		{"key of another certificate", write("c.pem", certPEM), write("wrong.pem", wrongKey), intune.SettingCertificateKey, "does not belong"},
		{"no key", write("c.pem", certPEM), write("empty.pem", []byte("nothing")), intune.SettingCertificateKey, "no PEM private key"},
		{"encrypted key", write("c.pem", certPEM), write("enc.pem", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}})), intune.SettingCertificateKey, "encrypted"},
		{"no certificate", write("k.pem", keyPKCS8), "", intune.SettingCertificate, "no PEM CERTIFICATE"},
		{"missing file", filepath.Join(dir, "absent.pem"), "", intune.SettingCertificate, "cannot read"},
	} {
		_, err := intune.LoadCertificate(c.cert, c.key)
		ge := asError(t, err)
		if ge.Setting != c.setting || !strings.Contains(ge.Message, c.words) {
			t.Errorf("%s: %+v", c.name, ge)
		}
		if strings.Contains(ge.Error(), "PRIVATE KEY-----") {
			t.Fatalf("%s: error quotes the key", c.name)
		}
	}
}

func TestConfigErrorsNameTheSetting(t *testing.T) {
	fake := intunetest.New(t)
	cert := intunetest.NewCertificate(t, time.Now(), time.Now().Add(time.Hour))
	cases := []struct {
		name    string
		mutate  func(*intune.Config)
		setting string
	}{
		{"no tenant", func(c *intune.Config) { c.TenantID = "" }, intune.SettingTenantID},
		{"common tenant", func(c *intune.Config) { c.TenantID = "common" }, intune.SettingTenantID},
		{"tenant not an id", func(c *intune.Config) { c.TenantID = "contoso" }, intune.SettingTenantID},
		{"client not a guid", func(c *intune.Config) { c.ClientID = "guildhall" }, intune.SettingClientID},
		{"no credential", func(c *intune.Config) { c.ClientSecret = "" }, intune.SettingClientSecret},
		{"two credentials", func(c *intune.Config) { c.Certificate = cert }, intune.SettingClientSecret},
		{"plain http Graph", func(c *intune.Config) { c.BaseURL = "http://graph.example/v1.0" }, intune.SettingBaseURL},
		{"plain http authority", func(c *intune.Config) { c.AuthorityURL = "http://login.example" }, intune.SettingAuthorityURL},
	}
	for _, c := range cases {
		cfg := fake.Config()
		c.mutate(&cfg)
		_, err := intune.New(cfg)
		if ge := asError(t, err); ge.Kind != intune.KindConfig || ge.Setting != c.setting {
			t.Errorf("%s: %+v", c.name, ge)
		}
	}
	cfg := fake.Config()
	cfg.TenantID = "contoso.onmicrosoft.com"
	if _, err := intune.New(cfg); err != nil {
		t.Errorf("a verified domain is a tenant: %v", err)
	}
}
