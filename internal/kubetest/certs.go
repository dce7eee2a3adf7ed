package kubetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki is the throwaway key material of one test server: a CA that signs both the
// serving certificate and the admin client certificate, and the service-account
// signing key.
type pki struct {
	caCert, caKey          string
	servingCert, servKey   string
	adminCert, adminKey    string
	saKey                  string
	caPEM, adminPEM, akPEM []byte
}

func newPKI(dir string) (*pki, error) {
	caKey, caTmpl, err := newCA()
	if err != nil {
		return nil, err
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("self-sign test CA: %w", err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p := &pki{
		caCert: filepath.Join(dir, "ca.crt"), caKey: filepath.Join(dir, "ca.key"),
		servingCert: filepath.Join(dir, "serving.crt"), servKey: filepath.Join(dir, "serving.key"),
		adminCert: filepath.Join(dir, "admin.crt"), adminKey: filepath.Join(dir, "admin.key"),
		saKey: filepath.Join(dir, "sa.key"),
	}
	p.caPEM = pemBlock("CERTIFICATE", caDER)
	if err := writeFiles(map[string][]byte{p.caCert: p.caPEM, p.caKey: mustKeyPEM(caKey)}); err != nil {
		return nil, err
	}
	serving := leafTemplate("kube-apiserver", nil, x509.ExtKeyUsageServerAuth)
	serving.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	serving.DNSNames = []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"}
	if _, _, err := p.issue(ca, caKey, serving, p.servingCert, p.servKey); err != nil {
		return nil, err
	}
	// Organization system:masters makes the client an unconditional admin, which the
	// tests need to install CRDs and RBAC and to impersonate service accounts.
	admin := leafTemplate("guildhall-test-admin", []string{"system:masters"}, x509.ExtKeyUsageClientAuth)
	if p.adminPEM, p.akPEM, err = p.issue(ca, caKey, admin, p.adminCert, p.adminKey); err != nil {
		return nil, err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return p, writeFiles(map[string][]byte{p.saKey: mustKeyPEM(saKey)})
}

func newCA() (*ecdsa.PrivateKey, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := leafTemplate("guildhall-test-ca", nil)
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	return key, tmpl, nil
}

func leafTemplate(cn string, orgs []string, usage ...x509.ExtKeyUsage) *x509.Certificate {
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: orgs},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  usage,
	}
}

func (p *pki) issue(ca *x509.Certificate, caKey *ecdsa.PrivateKey, tmpl *x509.Certificate, certPath, keyPath string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("issue %s certificate: %w", tmpl.Subject.CommonName, err)
	}
	certPEM, keyPEM = pemBlock("CERTIFICATE", der), mustKeyPEM(key)
	return certPEM, keyPEM, writeFiles(map[string][]byte{certPath: certPEM, keyPath: keyPEM})
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func mustKeyPEM(k *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		panic(err) // only fails for unsupported curves; P-256 is supported
	}
	return pemBlock("EC PRIVATE KEY", der)
}

func writeFiles(files map[string][]byte) error {
	for path, b := range files {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return err
		}
	}
	return nil
}
