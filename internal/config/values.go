package config

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Size is a byte count written as an integer with an optional binary unit:
// 1048576, "500K", "500M", "2G", "1T" (K = 1024). "0" means unlimited where a
// limit is meant.
type Size int64

// ParseSize parses a Size. It is also used by the CLI (user quota
// --storage).
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, errors.New("empty size")
	}
	u := strings.ToUpper(t)
	u = strings.TrimSuffix(u, "IB")
	u = strings.TrimSuffix(u, "B")
	shift := 0
	if n := len(u); n > 0 {
		switch u[n-1] {
		case 'K':
			shift = 10
		case 'M':
			shift = 20
		case 'G':
			shift = 30
		case 'T':
			shift = 40
		}
		if shift > 0 {
			u = u[:n-1]
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(u), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid size %q (want e.g. 0, 1048576, 500M, 2G)", s)
	}
	if n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("size %q too large", s)
	}
	return Size(n << shift), nil
}

// UnmarshalText implements encoding.TextUnmarshaler (TOML integers arrive
// here as decimal text).
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// String formats a Size with the largest binary unit that divides it.
func (s Size) String() string {
	n := int64(s)
	for _, u := range []struct {
		shift  uint
		suffix string
	}{{40, "T"}, {30, "G"}, {20, "M"}, {10, "K"}} {
		if n != 0 && n%(1<<u.shift) == 0 {
			return strconv.FormatInt(n>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// MarshalText implements encoding.TextMarshaler.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Duration is a time.Duration written as Go duration text ("30s", "10m",
// "1h30m"); a bare integer is seconds.
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 || n > math.MaxInt64/int64(time.Second) {
			return fmt.Errorf("invalid duration %q", s)
		}
		*d = Duration(time.Duration(n) * time.Second)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("invalid duration %q (want e.g. 30s, 10m, 1h)", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// String formats like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Prefix is a network (CIDR) such as "192.168.0.0/16"; a bare address means
// that single host.
type Prefix struct{ netip.Prefix }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Prefix) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if strings.Contains(s, "/") {
		v, err := netip.ParsePrefix(s)
		if err != nil {
			return fmt.Errorf("invalid network %q (want e.g. 10.0.0.0/8)", s)
		}
		p.Prefix = v.Masked()
		return nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return fmt.Errorf("invalid network %q (want e.g. 10.0.0.0/8)", s)
	}
	a = a.Unmap()
	p.Prefix = netip.PrefixFrom(a, a.BitLen())
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (p Prefix) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// Expire is the POP3 EXPIRE value of RFC 2449 §6.7: a number of days, or
// ExpireNever.
type Expire int

// ExpireNever means messages are kept until the client deletes them.
const ExpireNever Expire = -1

// UnmarshalText accepts "never" or a number of days (0 = deleted after
// retrieval).
func (e *Expire) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if strings.EqualFold(s, "never") {
		*e = ExpireNever
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 1<<20 {
		return fmt.Errorf("invalid expire %q (want \"never\" or a number of days)", s)
	}
	*e = Expire(n)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (e Expire) MarshalText() ([]byte, error) { return []byte(e.String()), nil }

// String returns "never" or the number of days.
func (e Expire) String() string {
	if e < 0 {
		return "never"
	}
	return strconv.Itoa(int(e))
}
