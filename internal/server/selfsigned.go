package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// SelfSignedPaths returns where the generated certificate of a data
// directory lives: DATADIR/tls/cert.pem and key.pem.
func SelfSignedPaths(dataDir string) (cert, key string) {
	dir := filepath.Join(dataDir, "tls")
	return filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
}

// EnsureSelfSigned makes a self-signed ECDSA P-256 certificate for
// localhost, 127.0.0.1, ::1 and hostname in dataDir/tls, unless both files
// already exist. It reports whether it created them. Files are written with
// mode 0600 and renamed into place, so a concurrent reader never sees half a
// file. Called once at server start; not safe for two processes creating the
// same directory at the same instant (the later rename wins, both valid).
func EnsureSelfSigned(dataDir, hostname string) (created bool, err error) {
	certPath, keyPath := SelfSignedPaths(dataDir)
	_, errC := os.Stat(certPath)
	_, errK := os.Stat(keyPath)
	if errC == nil && errK == nil {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(certPath), 0o700); err != nil {
		return false, err
	}
	certPEM, keyPEM, err := selfSigned(hostname, time.Now())
	if err != nil {
		return false, err
	}
	if err := writeFileAtomic(keyPath, keyPEM); err != nil {
		return false, err
	}
	if err := writeFileAtomic(certPath, certPEM); err != nil {
		return false, err
	}
	return true, nil
}

// selfSigned returns a PEM certificate and PKCS#8 key valid for ten years.
func selfSigned(hostname string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName(hostname), Organization: []string{"postern self-signed"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if h := strings.TrimSpace(hostname); h != "" && h != "localhost" {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})
	return certPEM, keyPEM, nil
}

func commonName(hostname string) string {
	if hostname == "" {
		return "localhost"
	}
	return hostname
}

// writeFileAtomic writes data to a temporary file beside path with mode
// 0600, syncs it and renames it over path.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// Fingerprint returns the SHA-256 of a DER certificate as colon-separated
// upper-case hex (the form browsers and mail clients show).
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// errNoCertificate is returned when a certificate set is empty.
var errNoCertificate = errors.New("no TLS certificate loaded")

func fmtPair(cert, key string) string { return fmt.Sprintf("%s (key %s)", cert, key) }
