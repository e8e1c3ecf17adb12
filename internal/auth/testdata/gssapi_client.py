#!/usr/bin/python3
"""SASL GSSAPI client (RFC 4752) over a line pipe, with MIT Kerberos through
Debian's python3-gssapi. Used by internal/auth's GSSAPI test.

Usage: gssapi_client.py [--seal] SERVICE@HOST [AUTHZID]
With --seal the security-layer reply is encrypted (a sealed wrap token).
Writes base64 client responses, one per line, to stdout and reads base64
server challenges from stdin. Credentials come from KRB5CCNAME. Exits 0
after sending the security-layer reply, 1 on any failure (reason on stderr).
"""
import base64
import sys

import gssapi


def send(tok):
    sys.stdout.write(base64.b64encode(tok or b"").decode() + "\n")
    sys.stdout.flush()


def recv():
    line = sys.stdin.readline()
    if not line:
        raise SystemExit("server closed the exchange")
    return base64.b64decode(line.strip())


def main():
    args = sys.argv[1:]
    seal = "--seal" in args
    args = [a for a in args if a != "--seal"]
    service = args[0]
    authzid = args[1].encode() if len(args) > 1 else b""
    name = gssapi.Name(service, gssapi.NameType.hostbased_service)
    flags = [gssapi.RequirementFlag.mutual_authentication,
             gssapi.RequirementFlag.integrity]
    ctx = gssapi.SecurityContext(name=name, usage="initiate", flags=flags)
    send(ctx.step())
    while not ctx.complete:
        send(ctx.step(recv()))
    # The AP-REP was checked by ctx.step: mutual authentication done.
    offer = ctx.unwrap(recv()).message
    if len(offer) != 4 or not offer[0] & 1:
        raise SystemExit("server offers no 'no security layer': %r" % offer)
    send(ctx.wrap(bytes([1, 0, 0, 0]) + authzid, seal).message)
    sys.stderr.write("mutual=%s\n" % bool(ctx.actual_flags & gssapi.RequirementFlag.mutual_authentication))


if __name__ == "__main__":
    try:
        main()
    except gssapi.exceptions.GSSError as e:
        sys.exit("GSSError: %s" % e)
