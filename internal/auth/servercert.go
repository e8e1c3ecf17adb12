package auth

import "crypto/tls"

// ServerCertificate returns the DER leaf certificate cfg presents to a
// client that sent cs.ServerName (SNI), for ConnInfo.ServerCertificate
// and so the tls-server-end-point channel binding of SCRAM-*-PLUS (RFC 5929
// §4). crypto/tls does not tell a server which certificate it sent, so the
// choice is made again; a certificate reload between the handshake and this
// call makes that binding fail for the connection (tls-exporter still
// works). nil when no certificate can be found.
func ServerCertificate(cfg *tls.Config, cs *tls.ConnectionState) []byte {
	if cfg == nil || cs == nil {
		return nil
	}
	var cert *tls.Certificate
	switch {
	case cfg.GetCertificate != nil:
		c, err := cfg.GetCertificate(&tls.ClientHelloInfo{ServerName: cs.ServerName})
		if err != nil {
			return nil
		}
		cert = c
	case len(cfg.Certificates) > 0:
		cert = &cfg.Certificates[0]
	}
	if cert == nil || len(cert.Certificate) == 0 {
		return nil
	}
	return cert.Certificate[0]
}
