// Package authe2e tests authentication and transport security end to end:
// a real postern server (internal/server, in-process, real TCP on
// 127.0.0.1) against real clients — Python's imaplib and poplib, Go's
// xdg-go/scram client with TLS channel bindings, TLS client certificates,
// MIT Kerberos through python3-gssapi against a throwaway KDC, signed
// OAuth bearer tokens — for every SASL mechanism, the STARTTLS injection
// class of bugs (CVE-2011-0411), the cleartext-password rule for untrusted
// networks, the login throttle and what the logs may carry.
//
// The package holds tests only; each test starts its own server, so the
// throttle of one test never slows another.
package authe2e
