package dovecotdiff

import "strings"

// crlf turns a readable message written with "\n" into wire form.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// corpus is delivered, in this order, to INBOX on both servers; message
// sequence number i+1 is corpus[i]. Dates, senders, subjects and sizes are
// chosen so that SORT, THREAD and SEARCH have something to order.
var corpus = []string{
	// 1: plain text.
	crlf(`From: Alice Example <alice@example.org>
To: Diff User <diffuser@example.com>
Subject: Hello world
Date: Wed, 10 Jan 2024 09:00:00 +0000
Message-ID: <m1@example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

Hello there, this is a plain message about apples.
Second line.
`),
	// 2: multipart/mixed with a base64 attachment.
	crlf(`From: Bob <bob@example.net>
To: diffuser@example.com
Cc: carol@example.org
Subject: Quarterly report
Date: Thu, 11 Jan 2024 10:30:00 +0100
Message-ID: <m2@example.net>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b2"

This is a multi-part message in MIME format.
--b2
Content-Type: text/plain; charset=utf-8

Please find the report attached. Bananas.
--b2
Content-Type: application/pdf; name="report.pdf"
Content-Disposition: attachment; filename="report.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQKJeT89t8KMSAwIG9iagpwb3N0ZXJuIGRpZmZlcmVudGlhbCB0ZXN0IGF0dGFjaG1l
bnQKZW5kb2JqCg==
--b2--
`),
	// 3: multipart/alternative, a reply to 1.
	crlf(`From: Carol <carol@example.org>
To: Alice Example <alice@example.org>, diffuser@example.com
Subject: Re: Hello world
Date: Fri, 12 Jan 2024 08:15:00 -0500
Message-ID: <m3@example.org>
In-Reply-To: <m1@example.org>
References: <m1@example.org>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="alt3"

--alt3
Content-Type: text/plain; charset=us-ascii
Content-Transfer-Encoding: quoted-printable

Replying with cherries =3D good.
--alt3
Content-Type: text/html; charset=us-ascii

<p>Replying with <b>cherries</b> = good.</p>
--alt3--
`),
	// 4: a forwarded message as message/rfc822.
	crlf(`From: Dave <dave@example.com>
To: diffuser@example.com
Subject: Fwd: Lunch
Date: Sat, 13 Jan 2024 12:00:00 +0000
Message-ID: <m4@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="fw4"

--fw4
Content-Type: text/plain

See below.
--fw4
Content-Type: message/rfc822

From: Erin <erin@example.org>
To: dave@example.com
Subject: Lunch
Date: Fri, 12 Jan 2024 11:00:00 +0000
Message-ID: <inner4@example.org>

Lunch at noon? Dates and figs.
--fw4--
`),
	// 5: encoded-word subject and display name.
	crlf(`From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.de>
To: diffuser@example.com
Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=
Date: Sun, 14 Jan 2024 18:45:00 +0100
Message-ID: <m5@example.de>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Viele Gr=C3=BC=C3=9Fe, elderberries.
`),
	// 6: RFC 2231 filename.
	crlf(`From: Frank <frank@example.org>
To: diffuser@example.com
Subject: Rates
Date: Mon, 15 Jan 2024 07:00:00 +0000
Message-ID: <m6@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="r6"

--r6
Content-Type: text/plain

Rates attached.
--r6
Content-Type: text/plain; charset=utf-8; name*=UTF-8''%E2%82%AC%20rates.txt
Content-Disposition: attachment; filename*=UTF-8''%E2%82%AC%20rates.txt
Content-Transfer-Encoding: base64

RVVSIDEuMDAKVVNEIDEuMDkK
--r6--
`),
	// 7: 8-bit body, a second reply in the thread.
	crlf("From: Alice Example <alice@example.org>\n" +
		"To: diffuser@example.com\n" +
		"Subject: Re: Re: Hello world\n" +
		"Date: Tue, 16 Jan 2024 21:30:00 +0000\n" +
		"Message-ID: <m7@example.org>\n" +
		"In-Reply-To: <m3@example.org>\n" +
		"References: <m1@example.org> <m3@example.org>\n" +
		"MIME-Version: 1.0\n" +
		"Content-Type: text/plain; charset=utf-8\n" +
		"Content-Transfer-Encoding: 8bit\n" +
		"\n" +
		"Fährt der Zug nach Zürich? Grapefruit.\n" +
		"Ünïcödé line two.\n"),
	// 8: a larger plain message (for LARGER/SMALLER and SIZE sort).
	crlf("From: Bob <bob@example.net>\n" +
		"To: diffuser@example.com\n" +
		"Subject: Long read\n" +
		"Date: Wed, 17 Jan 2024 06:00:00 -0800\n" +
		"Message-ID: <m8@example.net>\n" +
		"\n" +
		strings.Repeat("All work and no play makes a long message about kiwis.\n", 60)),
}
