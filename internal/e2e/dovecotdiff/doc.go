// Package dovecotdiff holds a differential test: it runs the same IMAP
// transcripts against postern and against a private Dovecot instance and
// reports where the answers differ. The test only runs when Dovecot is
// installed, the process is root and POSTERN_DIFF=1 is set; see
// docs/differential-testing.md. The package has no non-test code.
package dovecotdiff
