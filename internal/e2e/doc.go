// Package e2e holds end-to-end tests that build the real postern binary,
// start it on 127.0.0.1 with its own data directory and drive it with real
// clients: Python's smtplib, imaplib and poplib, go-imap v2's and go-smtp's
// clients, fetchmail, getmail6 and mbsync. It has no code outside its tests.
//
// Set POSTERN_E2E_BIN to a prebuilt binary to skip the build in TestMain,
// or POSTERN_E2E_RACE=1 to build the server with the race detector.
package e2e
