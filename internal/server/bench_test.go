package server

import (
	"crypto/tls"
	"net/netip"
	"testing"
	"time"

	"github.com/postern/postern/internal/config"
)

// BenchmarkLimiter measures the per-connection accounting on Accept and
// Close.
func BenchmarkLimiter(b *testing.B) {
	lim := NewLimiter(100, 10000)
	addrs := make([]netip.Addr, 64)
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
	}
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			a := addrs[i%len(addrs)]
			if lim.acquire(a) {
				lim.release(a)
			}
			i++
		}
	})
}

// BenchmarkGetCertificate measures SNI selection among several
// certificates, done once per handshake.
func BenchmarkGetCertificate(b *testing.B) {
	dir := b.TempDir()
	var pairs []config.CertPair
	for _, host := range []string{"a.example.org", "b.example.org", "c.example.org"} {
		cert, key := dir+"/"+host+".pem", dir+"/"+host+".key"
		certPEM, keyPEM, err := selfSigned(host, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		if err := writeFileAtomic(cert, certPEM); err != nil {
			b.Fatal(err)
		}
		if err := writeFileAtomic(key, keyPEM); err != nil {
			b.Fatal(err)
		}
		pairs = append(pairs, config.CertPair{Cert: cert, Key: key})
	}
	c, err := NewCertificates(config.TLS{Certificates: pairs}, dir, "", discardLogger())
	if err != nil {
		b.Fatal(err)
	}
	hello := &tls.ClientHelloInfo{ServerName: "c.example.org"}
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.GetCertificate(hello); err != nil {
			b.Fatal(err)
		}
	}
}
