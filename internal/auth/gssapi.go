package auth

import (
	"context"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/credentials"
	krbcrypto "github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/chksumtype"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/service"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
)

// GSSAPI (RFC 4752): Kerberos 5 through the GSS-API krb5 mechanism (RFC
// 4121). gokrb5 verifies the AP-REQ against the service keytab; the AP-REP
// for mutual authentication and the wrap tokens of the security-layer
// negotiation are built here, because gokrb5 only does the client side of
// those. Only "no security layer" is offered: the session runs over TLS or
// a trusted network anyway.

// gssAcceptor holds the service keys. Read-only after construction; safe
// for concurrent use.
type gssAcceptor struct {
	settings *service.Settings
	realms   map[string]bool // client realms whose users map to accounts
}

func newGSSAcceptor(cfg Config) (*gssAcceptor, error) {
	kt, err := keytab.Load(cfg.KeytabFile)
	if err != nil {
		return nil, fmt.Errorf("auth: keytab %s: %w", cfg.KeytabFile, err)
	}
	opts := []func(*service.Settings){service.DecodePAC(false), service.MaxClockSkew(5 * time.Minute)}
	if cfg.ServicePrincipal != "" {
		opts = append(opts, service.KeytabPrincipal(cfg.ServicePrincipal))
	}
	g := &gssAcceptor{settings: service.NewSettings(kt, opts...), realms: make(map[string]bool)}
	for _, r := range cfg.KerberosRealms {
		g.realms[r] = true
	}
	return g, nil
}

// gssState is where a GSSAPI exchange stands.
type gssState int

const (
	gssAwaitAPReq gssState = iota // nothing received yet
	gssAwaitEmpty                 // AP-REP sent; the client has no more context tokens
	gssAwaitLayer                 // security-layer offer sent (RFC 4752 §3.1)
	gssDone
)

func (st gssState) String() string {
	switch st {
	case gssAwaitAPReq:
		return "await-ap-req"
	case gssAwaitEmpty:
		return "await-empty"
	case gssAwaitLayer:
		return "await-layer"
	case gssDone:
		return "done"
	}
	return "unknown"
}

type gssExchange struct {
	s     *Service
	c     ConnInfo
	state gssState
	asked bool

	key       types.EncryptionKey // for wrap tokens (RFC 4121 §2)
	principal string              // "alice@REALM"
	user      string              // "alice"
	realm     string
	seq       uint64 // the acceptor's initial sequence number
	account   string
	actingAs
}

func (e *gssExchange) Account() string { return e.account }

func (e *gssExchange) Next(ctx context.Context, resp []byte) ([]byte, bool, error) {
	switch e.state {
	case gssAwaitAPReq:
		if resp == nil && !e.asked {
			e.asked = true
			return []byte{}, false, nil
		}
		return e.acceptContext(ctx, resp)
	case gssAwaitEmpty:
		if len(resp) != 0 {
			return nil, true, ErrMalformed
		}
		return e.offerLayers()
	case gssAwaitLayer:
		return e.chooseLayer(ctx, resp)
	}
	return nil, true, ErrMalformed
}

// acceptContext verifies the client's initial context token (an AP-REQ)
// and answers with an AP-REP when the client asked for mutual
// authentication, or goes straight to the layer offer.
func (e *gssExchange) acceptContext(ctx context.Context, resp []byte) ([]byte, bool, error) {
	addr := e.c.RemoteAddr()
	if err := e.s.throttle.Wait(ctx, addr, ""); err != nil {
		return nil, true, err
	}
	var tok spnego.KRB5Token
	if err := safely(func() error { return tok.Unmarshal(resp) }); err != nil || !tok.IsAPReq() {
		e.s.failed(e.c, "", "GSSAPI: not an AP-REQ token")
		return nil, true, ErrMalformed
	}
	var ok bool
	var creds *credentials.Credentials
	err := safely(func() (err error) {
		ok, creds, err = service.VerifyAPREQ(&tok.APReq, e.s.gss.settings)
		return err
	})
	if err != nil || !ok {
		reason := "GSSAPI: AP-REQ refused"
		if err != nil {
			reason += ": " + err.Error()
		}
		e.s.failed(e.c, "", reason)
		return nil, true, ErrFailed
	}
	auth := tok.APReq.Authenticator
	e.user, e.realm = creds.UserName(), creds.Domain()
	e.principal = e.user + "@" + e.realm
	e.key = tok.APReq.Ticket.DecryptedEncPart.Key
	if len(auth.SubKey.KeyValue) > 0 {
		e.key = auth.SubKey
	}
	e.seq = uint64(rand.Uint32() & 0x3fffffff)

	// RFC 4121 §4.1.1: the GSS flags ride in the authenticator checksum.
	var gssFlags uint32
	if auth.Cksum.CksumType == chksumtype.GSSAPI && len(auth.Cksum.Checksum) >= 24 {
		gssFlags = binary.LittleEndian.Uint32(auth.Cksum.Checksum[20:24])
	}
	mutual := gssFlags&uint32(gssapi.ContextFlagMutual) != 0 || types.IsFlagSet(&tok.APReq.APOptions, flags.APOptionMutualRequired)
	if !mutual {
		return e.offerLayers()
	}
	rep, err := apRepToken(tok.APReq.Ticket.DecryptedEncPart.Key, auth.CTime, auth.Cusec, int64(e.seq))
	if err != nil {
		return nil, true, err
	}
	e.state = gssAwaitEmpty
	return rep, false, nil
}

// offerLayers sends the acceptor's wrap token (RFC 4752 §3.1): a bitmask of
// offered layers (1: none) and the largest message we take (0: no layer).
func (e *gssExchange) offerLayers() ([]byte, bool, error) {
	tok, err := wrapToken(e.key, e.seq, []byte{1, 0, 0, 0})
	if err != nil {
		return nil, true, err
	}
	e.state = gssAwaitLayer
	return tok, false, nil
}

// chooseLayer reads the client's wrap token: the chosen layer, its size and
// the authorization identity (RFC 4752 §3.1).
func (e *gssExchange) chooseLayer(ctx context.Context, resp []byte) ([]byte, bool, error) {
	e.state = gssDone
	payload, err := unwrapToken(e.key, resp)
	if err != nil {
		e.s.failed(e.c, e.principal, "GSSAPI: "+err.Error())
		return nil, true, ErrFailed
	}
	if len(payload) < 4 {
		return nil, true, ErrMalformed
	}
	if payload[0] != 1 {
		e.s.failed(e.c, e.principal, "GSSAPI: client chose a security layer we did not offer")
		return nil, true, ErrFailed
	}
	authzid := string(payload[4:])
	account, err := e.s.principalAccount(ctx, e.user, e.realm)
	if err != nil {
		if errors.Is(err, ErrFailed) {
			e.s.failed(e.c, e.principal, "GSSAPI: principal maps to no account")
		}
		return nil, true, err
	}
	target, err := e.s.authorize(ctx, e.c, e.user, account, strings.TrimSuffix(authzid, "@"+e.realm))
	if err != nil {
		return nil, true, err
	}
	e.acting(account, target)
	account = target
	e.account = account
	e.s.succeeded(e.c.RemoteAddr(), e.user)
	e.s.log.Info("auth: GSSAPI login", "principal", e.principal, "account", account, "remote", e.c.RemoteAddr())
	return nil, true, nil
}

// principalAccount maps "user@REALM" to an account: single-component
// names only ("alice", not "alice/admin"), from an accepted realm.
func (s *Service) principalAccount(ctx context.Context, user, realm string) (string, error) {
	if user == "" || strings.ContainsAny(user, "/@") {
		return "", ErrFailed
	}
	allowed := s.gss.realms[realm]
	if len(s.gss.realms) == 0 {
		allowed = realm == s.gssServiceRealm()
	}
	if !allowed {
		return "", ErrFailed
	}
	account, _, err := s.accounts.Secrets(ctx, user)
	if errors.Is(err, ErrUnknownUser) {
		return "", ErrFailed
	}
	return account, err
}

// gssServiceRealm is the realm of the configured service principal, or of
// the tickets we accept (the keytab's realm) when none is configured.
func (s *Service) gssServiceRealm() string {
	if _, realm, ok := strings.Cut(s.cfg.ServicePrincipal, "@"); ok {
		return realm
	}
	return s.gss.defaultRealm()
}

// defaultRealm guesses the keytab's realm from its printed form.
func (g *gssAcceptor) defaultRealm() string {
	kt := g.settings.Keytab
	if kt == nil {
		return ""
	}
	for _, line := range strings.Split(kt.String(), "\n") {
		for _, f := range strings.Fields(line) {
			if at := strings.LastIndexByte(f, '@'); at > 0 {
				return f[at+1:]
			}
		}
	}
	return ""
}

// safely runs a gokrb5 call on client-supplied bytes, turning a panic in
// its decoders into an error: bad input must never crash the server.
func safely(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("kerberos decoder failed: %v", r)
		}
	}()
	return f()
}

// encAPRepPart is EncAPRepPart of RFC 4120 §5.5.2, for marshalling.
type encAPRepPart struct {
	CTime     time.Time `asn1:"generalized,explicit,tag:0"`
	Cusec     int       `asn1:"explicit,tag:1"`
	SeqNumber int64     `asn1:"optional,explicit,tag:3"`
}

// apRep is KRB_AP_REP of RFC 4120 §5.5.2.
type apRep struct {
	PVNO    int                 `asn1:"explicit,tag:0"`
	MsgType int                 `asn1:"explicit,tag:1"`
	EncPart types.EncryptedData `asn1:"explicit,tag:2"`
}

// apRepToken builds the GSS-API context token carrying an AP-REP (RFC 4121
// §4.1, TOK_ID 02 00) that echoes the authenticator's time, encrypted in
// the ticket's session key (key usage 12): this proves the server knew
// the service key.
func apRepToken(sessionKey types.EncryptionKey, ctime time.Time, cusec int, seq int64) ([]byte, error) {
	part, err := asn1.Marshal(encAPRepPart{CTime: ctime.UTC().Truncate(time.Second), Cusec: cusec, SeqNumber: seq})
	if err != nil {
		return nil, err
	}
	part = asn1tools.AddASNAppTag(part, 27)
	enc, err := krbcrypto.GetEncryptedData(part, sessionKey, keyusage.AP_REP_ENCPART, 0)
	if err != nil {
		return nil, err
	}
	rep, err := asn1.Marshal(apRep{PVNO: 5, MsgType: 15, EncPart: enc})
	if err != nil {
		return nil, err
	}
	rep = asn1tools.AddASNAppTag(rep, 15)
	oid, err := asn1.Marshal(gssapi.OIDKRB5.OID())
	if err != nil {
		return nil, err
	}
	inner := append(append(oid, 0x02, 0x00), rep...)
	return asn1tools.AddASNAppTag(inner, 0), nil
}

// Wrap token flags (RFC 4121 §4.2.2).
const (
	wrapSentByAcceptor = 0x01
	wrapSealed         = 0x02
	wrapAcceptorSubkey = 0x04
)

// wrapToken makes an acceptor wrap token with integrity only.
func wrapToken(key types.EncryptionKey, seq uint64, payload []byte) ([]byte, error) {
	et, err := krbcrypto.GetEtype(key.KeyType)
	if err != nil {
		return nil, err
	}
	wt := gssapi.WrapToken{Flags: wrapSentByAcceptor, EC: uint16(et.GetHMACBitLength() / 8), SndSeqNum: seq, Payload: payload}
	if err := wt.SetCheckSum(key, keyusage.GSSAPI_ACCEPTOR_SEAL); err != nil {
		return nil, err
	}
	return wt.Marshal()
}

// unwrapToken checks an initiator's wrap token (RFC 4121 §4.2.6.2), sealed
// or not, and returns its payload.
func unwrapToken(key types.EncryptionKey, b []byte) ([]byte, error) {
	if len(b) < 16 || b[0] != 0x05 || b[1] != 0x04 || b[3] != 0xff {
		return nil, errors.New("not a wrap token")
	}
	fl := b[2]
	if fl&wrapSentByAcceptor != 0 || fl&wrapAcceptorSubkey != 0 {
		return nil, errors.New("wrap token flags do not fit an initiator")
	}
	ec := int(binary.BigEndian.Uint16(b[4:6]))
	rrc := int(binary.BigEndian.Uint16(b[6:8]))
	seq := binary.BigEndian.Uint64(b[8:16])
	data := append([]byte(nil), b[16:]...)
	if n := len(data); n > 0 && rrc%n != 0 {
		// Undo the right rotation (RFC 4121 §4.2.5).
		r := rrc % n
		data = append(data[r:], data[:r]...)
	}
	if fl&wrapSealed == 0 {
		if ec > len(data) {
			return nil, errors.New("wrap token too short")
		}
		wt := gssapi.WrapToken{Flags: fl, EC: uint16(ec), RRC: uint16(rrc), SndSeqNum: seq,
			Payload: data[:len(data)-ec], CheckSum: data[len(data)-ec:]}
		if ok, err := wt.Verify(key, keyusage.GSSAPI_INITIATOR_SEAL); !ok || err != nil {
			return nil, errors.New("wrap token checksum does not verify")
		}
		return wt.Payload, nil
	}
	et, err := krbcrypto.GetEtype(key.KeyType)
	if err != nil || len(data) < et.GetConfounderByteSize()+et.GetHMACBitLength()/8+16 {
		return nil, errors.New("sealed wrap token too short")
	}
	var plain []byte
	err = safely(func() (err error) {
		plain, err = krbcrypto.DecryptMessage(data, key, keyusage.GSSAPI_INITIATOR_SEAL)
		return err
	})
	if err != nil {
		return nil, errors.New("sealed wrap token does not decrypt")
	}
	// plaintext | filler (EC bytes) | copy of the header with RRC zero.
	if len(plain) < ec+16 {
		return nil, errors.New("sealed wrap token too short")
	}
	hdr := plain[len(plain)-16:]
	want := append([]byte{0x05, 0x04, fl, 0xff}, b[4:6]...)
	want = append(append(want, 0, 0), b[8:16]...)
	if subtle.ConstantTimeCompare(hdr, want) != 1 {
		return nil, errors.New("sealed wrap token header mismatch")
	}
	return plain[:len(plain)-16-ec], nil
}
