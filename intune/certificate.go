package intune

import (
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
)

// AssertionType is the client_assertion_type of a certificate credential.
const AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Certificate is an app registration's certificate credential: the leaf
// certificate uploaded to the app registration and its RSA private key.
type Certificate struct {
	Leaf *x509.Certificate
	Key  *rsa.PrivateKey
	// SHA1Thumbprint sends the older assertion form (RS256, "x5t" = SHA-1
	// thumbprint) instead of the one the Microsoft identity platform documents
	// now (PS256, "x5t#S256" = SHA-256 thumbprint), for authorities that
	// predate it.
	SHA1Thumbprint bool
}

// LoadCertificate reads a PEM certificate and its RSA key (PKCS #8 or PKCS #1,
// unencrypted). keyFile may be empty when certFile holds both.
func LoadCertificate(certFile, keyFile string) (*Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, configError(SettingCertificate, "cannot read the certificate file: %v", err)
	}
	keyPEM := certPEM
	if keyFile != "" {
		if keyPEM, err = os.ReadFile(keyFile); err != nil {
			return nil, configError(SettingCertificateKey, "cannot read the key file: %v", err)
		}
	}
	return ParseCertificate(certPEM, keyPEM)
}

// ParseCertificate reads the first CERTIFICATE block of certPEM and the first
// private key block of keyPEM, and checks that they belong together.
func ParseCertificate(certPEM, keyPEM []byte) (*Certificate, error) {
	var leaf *x509.Certificate
	var key *rsa.PrivateKey
	for rest := certPEM; leaf == nil; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return nil, configError(SettingCertificate, "no PEM CERTIFICATE block in the certificate file")
		}
		if b.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, configError(SettingCertificate, "the certificate does not parse: %v", err)
			}
			leaf = c
		}
	}
	for rest := keyPEM; key == nil; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return nil, configError(SettingCertificateKey, "no PEM private key block (PRIVATE KEY or RSA PRIVATE KEY, unencrypted)")
		}
		switch b.Type {
		case "RSA PRIVATE KEY":
			k, err := x509.ParsePKCS1PrivateKey(b.Bytes)
			if err != nil {
				return nil, configError(SettingCertificateKey, "the RSA private key does not parse")
			}
			key = k
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return nil, configError(SettingCertificateKey, "the private key does not parse")
			}
			rk, ok := k.(*rsa.PrivateKey)
			if !ok {
				return nil, configError(SettingCertificateKey, "the private key is %T; Entra certificate credentials need RSA", k)
			}
			key = rk
		case "ENCRYPTED PRIVATE KEY":
			return nil, configError(SettingCertificateKey, "the private key is encrypted; give an unencrypted key (mounted from a secret)")
		}
	}
	pub, ok := leaf.PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, configError(SettingCertificateKey, "the private key does not belong to the certificate")
	}
	return &Certificate{Leaf: leaf, Key: key}, nil
}

// Thumbprint is the base64url SHA-256 (or, with SHA1Thumbprint, SHA-1) hash of
// the certificate's DER, as the assertion header carries it.
func (c *Certificate) Thumbprint() string {
	if c.SHA1Thumbprint {
		h := sha1.Sum(c.Leaf.Raw)
		return base64.RawURLEncoding.EncodeToString(h[:])
	}
	h := sha256.Sum256(c.Leaf.Raw)
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// assertionLifetime keeps a client assertion short-lived (the identity platform
// suggests 5–10 minutes at most). A fresh one is signed for every token request.
const assertionLifetime = 5 * time.Minute

// assertion signs the private_key_jwt client assertion for one token request.
func (c *Certificate) assertion(clientID, tokenURL string, now time.Time) (string, error) {
	if now.After(c.Leaf.NotAfter) {
		return "", configError(SettingCertificate, "the certificate expired on %s; upload a new one to the app registration", c.Leaf.NotAfter.UTC().Format(time.DateOnly))
	}
	alg, header := jose.PS256, jose.HeaderKey("x5t#S256")
	if c.SHA1Thumbprint {
		alg, header = jose.RS256, "x5t"
	}
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader(header, c.Thumbprint())
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: c.Key}, opts)
	if err != nil {
		return "", configError(SettingCertificateKey, "cannot sign with the key: %v", err)
	}
	claims := jwt.Claims{
		Issuer:    clientID,
		Subject:   clientID,
		Audience:  jwt.Audience{tokenURL},
		ID:        uuid.NewString(),
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		Expiry:    jwt.NewNumericDate(now.Add(assertionLifetime)),
	}
	return jwt.Signed(signer).Claims(claims).Serialize()
}
