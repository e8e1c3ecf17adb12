"""Deliver one message over LMTP with Python's smtplib.LMTP.

Usage: lmtp_deliver.py HOST PORT RCPT MESSAGE_FILE
Prints the server's final reply for the recipient and exits 0 only when
every step got the reply RFC 2033 asks for (250 after the data).
"""
import smtplib
import sys

host, port, rcpt, path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
with open(path, "rb") as f:
    msg = f.read()

lmtp = smtplib.LMTP(host, port, timeout=30)
code, _ = lmtp.ehlo("e2e.test")  # smtplib.LMTP sends LHLO here
assert code == 250, ("LHLO", code)
code, resp = lmtp.mail("sender@example.org")
assert code == 250, ("MAIL", code, resp)
code, resp = lmtp.rcpt(rcpt)
assert code == 250, ("RCPT", code, resp)
code, resp = lmtp.data(msg)
print(code, resp.decode())
assert code == 250, ("DATA", code, resp)
lmtp.quit()
print("DELIVERED")
