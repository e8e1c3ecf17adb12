"""Drive postern's POP3 server with Python's poplib, asserting every step.

Usage: pop3_python.py HOST PORT USER PASSWORD OUTDIR COUNT

Session 1: USER/PASS, STAT, LIST, UIDL, TOP, QUIT without changes.
Session 2: UIDL again (must be the same), RETR every message (written to
OUTDIR/N.eml exactly as received, CRLF line ends, dot-stuffing undone),
DELE every message, QUIT. Session 3: STAT is 0.
Prints "ALL STEPS PASSED" last; OUTDIR/list.txt holds "N SIZE UIDL" lines.
"""
import os
import poplib
import sys

host, port, user, password, outdir, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])


def login():
    p = poplib.POP3(host, port, timeout=30)
    assert p.getwelcome().startswith(b"+OK"), p.getwelcome()
    assert p.user(user).startswith(b"+OK")
    assert p.pass_(password).startswith(b"+OK")
    return p


# Session 1: look, change nothing.
p = login()
n, total = p.stat()
assert n == count, ("STAT count", n, count)
resp, listing, _ = p.list()
assert resp.startswith(b"+OK"), resp
sizes = {}
for line in listing:
    num, size = line.split()
    sizes[int(num)] = int(size)
assert sorted(sizes) == list(range(1, count + 1)), sorted(sizes)
assert sum(sizes.values()) == total, ("LIST sizes do not add up to STAT", sum(sizes.values()), total)
assert p.list(3).split()[2] == str(sizes[3]).encode(), p.list(3)
resp, uidl_lines, _ = p.uidl()
uidls = {}
for line in uidl_lines:
    num, uid = line.split()
    uidls[int(num)] = uid.decode()
assert len(set(uidls.values())) == count, "UIDLs are not unique"
assert all(0 < len(u) <= 70 and all(0x21 <= ord(c) <= 0x7E for c in u) for u in uidls.values()), uidls  # RFC 1939 section 7
assert p.uidl(5).split()[2].decode() == uidls[5]
resp, top0, _ = p.top(1, 0)
assert resp.startswith(b"+OK"), resp
assert top0[-1] == b"", ("TOP n 0 must end with the blank line after the header", top0[-3:])
assert any(l.lower().startswith(b"message-id:") for l in top0), top0
resp, top2, _ = p.top(1, 2)
assert top2[:len(top0)] == top0 and len(top2) == len(top0) + 2, (top0, top2)
assert p.quit().startswith(b"+OK")

# Session 2: same UIDLs; retrieve and delete everything.
p = login()
resp, uidl_lines, _ = p.uidl()
again = {int(l.split()[0]): l.split()[1].decode() for l in uidl_lines}
assert again == uidls, "UIDL changed between sessions"
os.makedirs(outdir, exist_ok=True)
with open(os.path.join(outdir, "list.txt"), "w") as f:
    for num in range(1, count + 1):
        f.write("%d %d %s\n" % (num, sizes[num], uidls[num]))
for num in range(1, count + 1):
    resp, lines, octets = p.retr(num)
    assert resp.startswith(b"+OK"), resp
    msg = b"\r\n".join(lines) + b"\r\n"
    assert len(msg) == sizes[num], ("RETR size differs from LIST", num, len(msg), sizes[num])
    with open(os.path.join(outdir, "%d.eml" % num), "wb") as f:
        f.write(msg)
for num in range(1, count + 1):
    assert p.dele(num).startswith(b"+OK")
try:
    p.retr(1)
    raise AssertionError("RETR of a deleted message succeeded")
except poplib.error_proto as e:
    assert str(e).startswith("b'-ERR"), e
n, total = p.stat()
assert (n, total) == (0, 0), ("STAT after DELE of all", n, total)
assert p.quit().startswith(b"+OK")

# Session 3: the maildrop is empty.
p = login()
assert p.stat() == (0, 0), p.stat()
assert p.quit().startswith(b"+OK")
print("ALL STEPS PASSED: stat, list, uidl, top, retr, dele, quit, %d messages" % count)
