package auth

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"hash"
	"strconv"
	"strings"
)

// The crypt(3) schemes that imported accounts may carry: MD5-crypt ("$1$",
// PHK's algorithm) and SHA-crypt ("$5$" SHA-256, "$6$" SHA-512, Ulrich
// Drepper's "Unix crypt using SHA-256 and SHA-512" specification). They are
// only verified, never produced: CheckPassword rehashes with argon2id.

// cryptAlphabet is crypt's base64 alphabet, least significant bits first.
const cryptAlphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// to64 appends n characters of v, six bits at a time from the bottom.
func to64(out []byte, v uint32, n int) []byte {
	for ; n > 0; n-- {
		out = append(out, cryptAlphabet[v&0x3f])
		v >>= 6
	}
	return out
}

// md5Crypt computes "$1$salt$hash" for a password and a salt of at most 8
// characters.
func md5Crypt(password, salt []byte) string {
	if len(salt) > 8 {
		salt = salt[:8]
	}
	const magic = "$1$"
	alt := md5.New()
	alt.Write(password)
	alt.Write(salt)
	alt.Write(password)
	final := alt.Sum(nil)

	ctx := md5.New()
	ctx.Write(password)
	ctx.Write([]byte(magic))
	ctx.Write(salt)
	for n := len(password); n > 0; n -= 16 {
		ctx.Write(final[:min(n, 16)])
	}
	for i := len(password); i > 0; i >>= 1 {
		if i&1 != 0 {
			ctx.Write([]byte{0})
		} else {
			ctx.Write(password[:1])
		}
	}
	final = ctx.Sum(nil)

	for i := 0; i < 1000; i++ {
		c := md5.New()
		if i&1 != 0 {
			c.Write(password)
		} else {
			c.Write(final)
		}
		if i%3 != 0 {
			c.Write(salt)
		}
		if i%7 != 0 {
			c.Write(password)
		}
		if i&1 != 0 {
			c.Write(final)
		} else {
			c.Write(password)
		}
		final = c.Sum(nil)
	}

	out := append([]byte(magic), salt...)
	out = append(out, '$')
	for _, g := range [][3]int{{0, 6, 12}, {1, 7, 13}, {2, 8, 14}, {3, 9, 15}, {4, 10, 5}} {
		out = to64(out, uint32(final[g[0]])<<16|uint32(final[g[1]])<<8|uint32(final[g[2]]), 4)
	}
	out = to64(out, uint32(final[11]), 2)
	return string(out)
}

// SHA-crypt round limits and default.
const (
	shaCryptDefaultRounds = 5000
	shaCryptMinRounds     = 1000
	shaCryptMaxRounds     = 999_999_999
)

// shaCrypt computes a "$5$" or "$6$" string. setting is the part after the
// magic: "[rounds=N$]salt[$…]". It returns "" for a setting it refuses.
// maxRounds caps the work a stored record can demand.
func shaCrypt(magic string, password []byte, setting string, maxRounds int) string {
	var newHash func() hash.Hash
	switch magic {
	case "$5$":
		newHash = sha256.New
	case "$6$":
		newHash = sha512.New
	default:
		return ""
	}
	rounds, custom := shaCryptDefaultRounds, false
	if rest, ok := strings.CutPrefix(setting, "rounds="); ok {
		num, after, found := strings.Cut(rest, "$")
		n, err := strconv.Atoi(num)
		if !found || err != nil || n < 0 {
			return ""
		}
		rounds = min(max(n, shaCryptMinRounds), shaCryptMaxRounds)
		custom = true
		setting = after
	}
	if rounds > maxRounds {
		return ""
	}
	salt, _, _ := strings.Cut(setting, "$")
	if len(salt) > 16 {
		salt = salt[:16]
	}
	pw, sb := password, []byte(salt)

	h := newHash()
	h.Write(pw)
	h.Write(sb)
	h.Write(pw)
	b := h.Sum(nil)
	size := len(b)

	a := newHash()
	a.Write(pw)
	a.Write(sb)
	n := len(pw)
	for ; n > size; n -= size {
		a.Write(b)
	}
	a.Write(b[:n])
	for i := len(pw); i > 0; i >>= 1 {
		if i&1 != 0 {
			a.Write(b)
		} else {
			a.Write(pw)
		}
	}
	ad := a.Sum(nil)

	dp := newHash()
	for range len(pw) {
		dp.Write(pw)
	}
	p := repeatTo(dp.Sum(nil), len(pw))

	ds := newHash()
	for range 16 + int(ad[0]) {
		ds.Write(sb)
	}
	s := repeatTo(ds.Sum(nil), len(sb))

	c := ad
	for i := 0; i < rounds; i++ {
		r := newHash()
		if i&1 != 0 {
			r.Write(p)
		} else {
			r.Write(c)
		}
		if i%3 != 0 {
			r.Write(s)
		}
		if i%7 != 0 {
			r.Write(p)
		}
		if i&1 != 0 {
			r.Write(c)
		} else {
			r.Write(p)
		}
		c = r.Sum(nil)
	}

	out := []byte(magic)
	if custom {
		out = append(out, "rounds="+strconv.Itoa(rounds)+"$"...)
	}
	out = append(out, salt...)
	out = append(out, '$')
	group := func(x, y, z int, n int) {
		out = to64(out, uint32(c[x])<<16|uint32(c[y])<<8|uint32(c[z]), n)
	}
	if size == 32 {
		// Bytes (k, k+10, k+20) in rotating order, then 31 and 30.
		for k := 0; k < 10; k++ {
			x, y, z := k, k+10, k+20
			switch k % 3 {
			case 0:
				group(x, y, z, 4)
			case 1:
				group(z, x, y, 4)
			case 2:
				group(y, z, x, 4)
			}
		}
		out = to64(out, uint32(c[31])<<8|uint32(c[30]), 3)
	} else {
		// Bytes (k, k+21, k+42) in rotating order, then 63.
		for k := 0; k < 21; k++ {
			x, y, z := k, k+21, k+42
			switch k % 3 {
			case 0:
				group(x, y, z, 4)
			case 1:
				group(y, z, x, 4)
			case 2:
				group(z, x, y, 4)
			}
		}
		out = to64(out, uint32(c[63]), 2)
	}
	return string(out)
}

func repeatTo(block []byte, n int) []byte {
	return bytes.Repeat(block, n/len(block)+1)[:n]
}

// verifyCrypt checks a crypt(3) string of a supported kind.
func verifyCrypt(stored, password string) bool {
	var got string
	switch {
	case strings.HasPrefix(stored, "$1$"):
		salt, _, _ := strings.Cut(stored[3:], "$")
		got = md5Crypt([]byte(password), []byte(salt))
	case strings.HasPrefix(stored, "$5$"), strings.HasPrefix(stored, "$6$"):
		got = shaCrypt(stored[:3], []byte(password), stored[3:], 1_000_000)
	case strings.HasPrefix(stored, "$2"):
		return verifyBcrypt(stored, password)
	default:
		return false
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(stored)) == 1
}
