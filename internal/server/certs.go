package server

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postern/postern/internal/config"
)

// Certificates holds the server's TLS certificates and hands them to
// handshakes through GetCertificate. Reload re-reads the files and swaps the
// whole set atomically: handshakes in progress keep the set they started
// with, open connections are untouched, the next handshake sees the new
// set.
//
// GetCertificate is safe for concurrent use; Reload calls are serialized.
type Certificates struct {
	pairs      []config.CertPair
	selfSigned bool
	logger     *slog.Logger

	reloadMu sync.Mutex // serializes Reload
	current  atomic.Pointer[certSet]
}

// certSet is one loaded generation of certificates.
type certSet struct {
	certs  []*tls.Certificate
	digest [sha256.Size]byte // of every file's bytes, to notice changes
}

// NewCertificates loads the configured certificate pairs. With none, it
// makes (once) and loads the self-signed certificate of dataDir.
func NewCertificates(cfg config.TLS, dataDir, hostname string, logger *slog.Logger) (*Certificates, error) {
	c := &Certificates{pairs: cfg.Certificates, logger: logger}
	if len(c.pairs) == 0 {
		created, err := EnsureSelfSigned(dataDir, hostname)
		if err != nil {
			return nil, fmt.Errorf("self-signed certificate: %w", err)
		}
		cert, key := SelfSignedPaths(dataDir)
		if created {
			logger.Info("created self-signed certificate", "cert", cert)
		}
		c.pairs = []config.CertPair{{Cert: cert, Key: key}}
		c.selfSigned = true
	}
	if _, err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// SelfSigned reports whether the generated certificate is in use.
func (c *Certificates) SelfSigned() bool { return c.selfSigned }

// Fingerprint returns the SHA-256 fingerprint of the default certificate.
func (c *Certificates) Fingerprint() string {
	set := c.current.Load()
	if set == nil || len(set.certs) == 0 || len(set.certs[0].Certificate) == 0 {
		return ""
	}
	return Fingerprint(set.certs[0].Certificate[0])
}

// Reload reads every certificate file again. When the bytes are unchanged it
// does nothing; when any pair fails to load it keeps the current set and
// returns the error. It reports whether a new set was installed.
func (c *Certificates) Reload() (bool, error) {
	c.reloadMu.Lock()
	defer c.reloadMu.Unlock()
	h := sha256.New()
	type raw struct{ cert, key []byte }
	raws := make([]raw, 0, len(c.pairs))
	for _, p := range c.pairs {
		cb, err := os.ReadFile(p.Cert)
		if err != nil {
			return false, fmt.Errorf("tls certificate: %w", err)
		}
		kb, err := os.ReadFile(p.Key)
		if err != nil {
			return false, fmt.Errorf("tls key: %w", err)
		}
		h.Write(cb)
		h.Write([]byte{0})
		h.Write(kb)
		h.Write([]byte{0})
		raws = append(raws, raw{cb, kb})
	}
	var digest [sha256.Size]byte
	h.Sum(digest[:0])
	if cur := c.current.Load(); cur != nil && cur.digest == digest {
		return false, nil
	}
	set := &certSet{digest: digest}
	for i, r := range raws {
		cert, err := tls.X509KeyPair(r.cert, r.key)
		if err != nil {
			return false, fmt.Errorf("tls %s: %w", fmtPair(c.pairs[i].Cert, c.pairs[i].Key), err)
		}
		if cert.Leaf == nil {
			leaf, err := x509.ParseCertificate(cert.Certificate[0])
			if err != nil {
				return false, fmt.Errorf("tls %s: %w", c.pairs[i].Cert, err)
			}
			cert.Leaf = leaf
		}
		set.certs = append(set.certs, &cert)
	}
	old := c.current.Swap(set)
	if old != nil {
		c.logger.Info("reloaded TLS certificates", "count", len(set.certs), "fingerprint", Fingerprint(set.certs[0].Certificate[0]))
	}
	return true, nil
}

// Watch checks the files every interval until ctx ends and reloads them when
// they change. Errors are logged; the old certificates stay in use.
func (c *Certificates) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := c.Reload(); err != nil {
				c.logger.Warn("TLS certificate reload failed; keeping the old ones", "err", err)
			}
		}
	}
}

// GetCertificate picks the certificate for a handshake: the first whose
// names match the client's SNI name, else the first one. It is the
// tls.Config.GetCertificate of every listener.
func (c *Certificates) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	set := c.current.Load()
	if set == nil || len(set.certs) == 0 {
		return nil, errNoCertificate
	}
	if name := strings.TrimSuffix(hello.ServerName, "."); name != "" {
		for _, cert := range set.certs {
			if cert.Leaf != nil && cert.Leaf.VerifyHostname(name) == nil {
				return cert, nil
			}
		}
	}
	return set.certs[0], nil
}

// TLSConfig returns the server-side TLS configuration: TLS 1.2 at least
// (or 1.3 with minVersion "1.3") with forward-secret AEAD suites only, and
// certificates from c.
func (c *Certificates) TLSConfig(minVersion string) *tls.Config {
	v := uint16(tls.VersionTLS12)
	if minVersion == "1.3" {
		v = tls.VersionTLS13
	}
	return &tls.Config{
		MinVersion:     v,
		GetCertificate: c.GetCertificate,
		// TLS 1.2 suites (TLS 1.3 suites are not configurable and all good).
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}
}
