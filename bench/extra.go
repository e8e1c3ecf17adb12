package main

// extraWorkloads are the IMAP and POP3 workloads (imap.go, pop3.go).
func extraWorkloads(full bool) []workload { return nil }
