package server

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// loadClientCAs reads the PEM CA certificates of tls.client_ca, against
// which TLS client certificates (SASL EXTERNAL) are verified. Called once
// by New; a file without a certificate is an error.
func loadClientCAs(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tls.client_ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("tls.client_ca: " + path + " holds no PEM certificate")
	}
	return pool, nil
}
