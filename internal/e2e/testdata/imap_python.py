"""Drive postern's IMAP server with Python's imaplib, asserting every step.

Usage: imap_python.py HOST IMAP_PORT LMTP_PORT USER PASSWORD

Steps: login; create; append three messages (one multipart with a binary
attachment); select; fetch BODYSTRUCTURE and BODY[2] (compared byte for
byte); search; store; copy; move; expunge; IDLE woken by an LMTP delivery
(sent raw on the socket: imaplib has no IDLE helper); logout. Prints
"ALL STEPS PASSED" at the end; any failed assertion exits non-zero with a
traceback and imaplib's protocol trace (debug level 4) on stderr.
"""
import base64
import imaplib
import random
import re
import smtplib
import sys
import time

host, imap_port, lmtp_port, user, password = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]

CRLF = b"\r\n"
rnd = random.Random(20261125)
ATTACHMENT = bytes(rnd.getrandbits(8) for _ in range(3000))
B64 = base64.b64encode(ATTACHMENT)
B64_LINES = CRLF.join(B64[i:i + 76] for i in range(0, len(B64), 76))


def plain(n, subject, frm):
    return CRLF.join([
        b"From: " + frm,
        b"To: demo@localhost",
        b"Subject: " + subject,
        b"Date: Wed, 25 Nov 2026 10:0%d:00 +0000" % n,
        b"Message-ID: <py-imap-%d@e2e.test>" % n,
        b"",
        b"Plain message number %d." % n,
        b"",
    ])


MULTIPART = CRLF.join([
    b"From: Bob <bob@example.org>",
    b"To: demo@localhost",
    b"Subject: with attachment",
    b"Date: Wed, 25 Nov 2026 10:02:00 +0000",
    b"Message-ID: <py-imap-2@e2e.test>",
    b"MIME-Version: 1.0",
    b'Content-Type: multipart/mixed; boundary="=-b-="',
    b"",
    b"This is a multipart message.",
    b"--=-b-=",
    b"Content-Type: text/plain; charset=utf-8",
    b"",
    b"See the attached file.",
    b"--=-b-=",
    b'Content-Type: application/octet-stream; name="data.bin"',
    b'Content-Disposition: attachment; filename="data.bin"',
    b"Content-Transfer-Encoding: base64",
    b"",
    B64_LINES,
    b"--=-b-=--",
    b"",
])

steps = []


def step(name):
    steps.append(name)
    print("step:", name, flush=True)


def ok(resp, what):
    typ, data = resp
    assert typ == "OK", (what, typ, data)
    return data


def fetch_item(data, key):
    """Return the literal that follows KEY in an imaplib FETCH result."""
    for item in data:
        if isinstance(item, tuple) and key in item[0]:
            return item[1]
    raise AssertionError(("no %r in FETCH data" % key, data))


M = imaplib.IMAP4(host, imap_port, timeout=30)
M.debug = 4

step("capabilities")
caps = set(M.capabilities)
assert "IMAP4REV1" in caps, caps
assert "IDLE" in caps or "IMAP4REV2" in caps, caps

step("login")
ok(M.login(user, password), "LOGIN")
assert M.state == "AUTH", M.state
# imaplib keeps the capabilities it saw before login; ask again.
data = ok(M.capability(), "CAPABILITY")
caps = set(data[-1].decode().upper().split())
assert "IMAP4REV1" in caps, caps

step("create")
ok(M.create("E2E"), "CREATE E2E")
ok(M.create("Dest"), "CREATE Dest")
names = b" ".join(ok(M.list(), "LIST"))
assert b'"E2E"' in names or b" E2E" in names, names
assert b'"Dest"' in names or b" Dest" in names, names
typ, data = M.create("E2E")
assert typ == "NO", ("CREATE of an existing mailbox must fail", typ, data)

step("append")
msgs = [plain(1, b"first plain", b"Alice <alice@example.org>"), MULTIPART, plain(3, b"third plain", b"Carol <carol@example.org>")]
flags = [r"(\Seen)", None, None]
for m, f in zip(msgs, flags):
    data = ok(M.append("E2E", f, imaplib.Time2Internaldate(time.time()), m), "APPEND")
    if "UIDPLUS" in caps:
        assert b"APPENDUID" in data[0], data

step("select")
data = ok(M.select("E2E"), "SELECT")
assert data == [b"3"], data

step("fetch BODYSTRUCTURE")
data = ok(M.fetch("2", "(BODYSTRUCTURE)"), "FETCH BODYSTRUCTURE")
bs = data[0].decode() if isinstance(data[0], bytes) else data[0][0].decode() + data[0][1].decode()
low = bs.lower()
assert '"mixed"' in low, bs
assert '("text" "plain" ("charset" "utf-8")' in low, bs
assert '"application" "octet-stream" ("name" "data.bin")' in low, bs
assert '"base64" %d' % len(B64_LINES) in low, (bs, len(B64_LINES))
assert '"=-b-="' in low, bs
data = ok(M.fetch("1", "(BODYSTRUCTURE)"), "FETCH BODYSTRUCTURE 1")
assert '("text" "plain"' in data[0].decode().lower(), data

step("fetch BODY[2]")
data = ok(M.fetch("2", "(BODY[2])"), "FETCH BODY[2]")
part = fetch_item(data, b"BODY[2]")
assert part == B64_LINES, ("BODY[2] differs", len(part), len(B64_LINES), part[:80])
assert base64.b64decode(part) == ATTACHMENT
data = ok(M.fetch("2", "(BODY.PEEK[1])"), "FETCH BODY.PEEK[1]")
assert fetch_item(data, b"BODY[1]") == b"See the attached file.", data
data = ok(M.fetch("1:3", "(RFC822.SIZE)"), "FETCH RFC822.SIZE")
sizes = [int(re.search(rb"RFC822\.SIZE (\d+)", d).group(1)) for d in data]
assert sizes == [len(m) for m in msgs], (sizes, [len(m) for m in msgs])
data = ok(M.fetch("2", "(FLAGS)"), "FETCH FLAGS")
assert b"\\Seen" in data[0], ("a non-peek BODY[2] fetch must set \\Seen (RFC 3501 6.4.5)", data)

step("search")
assert ok(M.search(None, "SUBJECT", '"with attachment"'), "SEARCH SUBJECT") == [b"2"]
assert ok(M.search(None, "FROM", "carol"), "SEARCH FROM") == [b"3"]
assert ok(M.search(None, "SEEN"), "SEARCH SEEN") == [b"1 2"]
assert ok(M.search(None, "UNSEEN"), "SEARCH UNSEEN") == [b"3"]
assert ok(M.search(None, "BODY", '"Plain message number"'), "SEARCH BODY") == [b"1 3"]
assert ok(M.search(None, "ALL"), "SEARCH ALL") == [b"1 2 3"]
assert ok(M.uid("SEARCH", None, "ALL"), "UID SEARCH ALL") == [b"1 2 3"]

step("store")
data = ok(M.store("3", "+FLAGS", r"(\Flagged $Label1)"), "STORE")
assert b"\\Flagged" in data[0] and b"$Label1" in data[0], data
assert ok(M.search(None, "FLAGGED"), "SEARCH FLAGGED") == [b"3"]
assert ok(M.search(None, "KEYWORD", "$Label1"), "SEARCH KEYWORD") == [b"3"]
data = ok(M.store("1", "-FLAGS", r"(\Seen)"), "STORE -FLAGS")
assert b"\\Seen" not in data[0], data
assert ok(M.search(None, "UNSEEN"), "SEARCH UNSEEN") == [b"1 3"]

step("copy")
data = ok(M.copy("1:2", "Dest"), "COPY")
if "UIDPLUS" in caps:
    assert b"COPYUID" in data[0], data
data = ok(M.status("Dest", "(MESSAGES)"), "STATUS")
assert b"MESSAGES 2" in data[0], data
data = ok(M.noop(), "NOOP")
assert ok(M.search(None, "ALL"), "SEARCH ALL after COPY") == [b"1 2 3"]

step("move")
if "MOVE" in caps:
    typ, data = M.uid("MOVE", "3", "Dest")
    assert typ == "OK", (typ, data)
    # RFC 6851 section 3.3: MOVE reports the source message as expunged.
    expunged = M.untagged_responses.pop("EXPUNGE", None)
    assert expunged == [b"3"], ("untagged EXPUNGE after MOVE", expunged, data)
else:
    raise AssertionError("MOVE capability missing: %r" % caps)
assert ok(M.search(None, "ALL"), "SEARCH ALL after MOVE") == [b"1 2"]
data = ok(M.status("Dest", "(MESSAGES)"), "STATUS")
assert b"MESSAGES 3" in data[0], data

step("expunge")
ok(M.store("1", "+FLAGS.SILENT", r"(\Deleted)"), "STORE \\Deleted")
data = ok(M.expunge(), "EXPUNGE")
assert data == [b"1"], data
data = ok(M.select("E2E"), "SELECT after EXPUNGE")
assert data == [b"1"], data
data = ok(M.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"), "FETCH SUBJECT")
assert fetch_item(data, b"HEADER.FIELDS").strip() == b"Subject: with attachment", data

step("check Dest")
ok(M.select("Dest", readonly=True), "EXAMINE Dest")
data = ok(M.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"), "FETCH Dest")
ids = re.findall(rb"<(py-imap-\d)@e2e.test>", b" ".join(d[1] for d in data if isinstance(d, tuple)))
assert sorted(ids) == [b"py-imap-1", b"py-imap-2", b"py-imap-3"], ids
# imaplib splits each FETCH response around its literal: the flags are in
# the text before it or in the bytes item after it.
for i, d in enumerate(data):
    if isinstance(d, tuple) and b"py-imap-3" in d[1]:
        around = d[0] + (data[i + 1] if i + 1 < len(data) and isinstance(data[i + 1], bytes) else b"")
        assert b"\\Flagged" in around and b"$Label1" in around, ("MOVE must keep flags and keywords", data)
        break
else:
    raise AssertionError(("moved message not found", data))

step("idle")
data = ok(M.select("INBOX"), "SELECT INBOX")
before = int(data[0])
M.send(b"IDLE1 IDLE\r\n")
line = M.readline()
assert line.startswith(b"+"), line
lmtp = smtplib.LMTP(host, lmtp_port, timeout=30)
lmtp.ehlo("e2e.test")
assert lmtp.mail("sender@example.org")[0] == 250
assert lmtp.rcpt(user + "@localhost")[0] == 250
code, resp = lmtp.data(plain(4, b"wakes idle", b"Dave <dave@example.org>"))
assert code == 250, (code, resp)
lmtp.quit()
want = b"* %d EXISTS" % (before + 1)
deadline = time.time() + 20
seen_lines = []
while True:
    assert time.time() < deadline, ("no EXISTS during IDLE", seen_lines)
    line = M.readline()
    assert line, ("connection closed during IDLE", seen_lines)
    seen_lines.append(line)
    if line.strip() == want:
        break
M.send(b"DONE\r\n")
while True:
    line = M.readline()
    assert line, ("connection closed after DONE", seen_lines)
    seen_lines.append(line)
    if line.startswith(b"IDLE1 "):
        break
assert line.startswith(b"IDLE1 OK"), seen_lines
data = ok(M.fetch(str(before + 1), "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"), "FETCH new message")
assert fetch_item(data, b"HEADER.FIELDS").strip() == b"Subject: wakes idle", data

step("logout")
typ, data = M.logout()
assert typ == "BYE", (typ, data)
print("ALL STEPS PASSED:", ", ".join(steps))
