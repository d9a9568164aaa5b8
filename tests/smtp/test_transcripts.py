"""The example dialogues of the RFCs, replayed through a client and a server machine at once.

RFC 5321 appendix D, RFC 2920 section 3.2, RFC 3030 section 4, RFC 2033
section 4.2, RFC 4954 section 7 and RFC 3207 section 5. Each ``C:`` block
is produced by the client machine from events (its bytes must equal the
transcript) and parsed by the server machine; each ``S:`` reply is sent by
the server machine (which checks it is allowed there; its bytes must equal
the transcript) and parsed by the client machine. ``C~`` lines are BDAT
chunk content (CRLF added), ``C# n`` is n octets of chunk data, ``TLS``
marks the end of a TLS handshake on both sides. Elided content ("...") is
replaced by real lines. Every transcript runs with input delivered whole and
one byte at a time.
"""

from __future__ import annotations

import pytest

from rfcmail import smtp
from rfcmail.smtp import CLIENT, SERVER, Config, Connection, State
from rfcmail.smtp._writers import write_command
from rfcmail.smtp._readers import (
    ReplyReader,
    parse_auth,
    parse_auth_line,
    parse_bdat,
    parse_mail,
    parse_rcpt,
    split_command,
)


def _events_from_line(client: Connection, line: str) -> smtp.Event:
    if client.their_state is State.AUTH and not client.pending_commands:
        return parse_auth_line(line.encode())
    verb, argument = split_command(line.encode())
    simple = {"DATA": smtp.Data, "RSET": smtp.Rset, "QUIT": smtp.Quit, "STARTTLS": smtp.StartTLS}
    if verb in simple:
        return simple[verb]()
    if verb in ("EHLO", "HELO", "LHLO"):
        return {"EHLO": smtp.Ehlo, "HELO": smtp.Helo, "LHLO": smtp.Lhlo}[verb](domain=argument or "")
    if verb == "MAIL":
        return parse_mail(argument)
    if verb == "RCPT":
        return parse_rcpt(argument)
    if verb == "BDAT":
        bdat = parse_bdat(argument)
        assert bdat is not None
        return bdat
    if verb == "AUTH":
        return parse_auth(argument)
    if verb == "VRFY":
        return smtp.Vrfy(argument=argument or "")
    if verb == "NOOP":
        return smtp.Noop(argument=argument or "")
    raise AssertionError(f"no event for {line!r}")


class Replay:
    def __init__(self, server_config: Config, client_config: Config, piece: int | None) -> None:
        self.server = Connection(SERVER, server_config)
        self.client = Connection(CLIENT, client_config)
        self.piece = piece
        self.sent: list[smtp.Event] = []
        self.received: list[smtp.Event] = []
        self.client_events: list[smtp.Event] = []

    def _feed(self, conn: Connection, data: bytes) -> None:
        step = self.piece or len(data) or 1
        for start in range(0, len(data), step):
            conn.receive_data(data[start : start + step])
            if conn is self.server:
                self._drain_server()
            else:
                while isinstance(event := self.client.next_event(), smtp.Event):
                    self.client_events.append(event)

    def _drain_server(self) -> None:
        while isinstance(event := self.server.next_event(), smtp.Event):
            self.received.append(event)

    def server_says(self, lines: list[str]) -> None:
        groups: list[list[str]] = [[]]
        for line in lines:
            groups[-1].append(line)
            if len(line) == 3 or line[3] == " ":
                groups.append([])
        for group in groups:
            if not group:
                continue
            reader = ReplyReader(100)
            reply = None
            for line in group:
                reply = reader.feed_line(line.encode())
            assert reply is not None
            self._drain_server()
            wire = ("\r\n".join(group) + "\r\n").encode()
            if reply.code == 334:
                out = self.server.send(smtp.AuthChallenge(data=_b64decode(reply.lines[0])))
            else:
                out = self.server.send(reply)
            assert out == wire or (out.rstrip(b" \r\n") == wire.rstrip(b" \r\n")), (out, wire)
            before = len(self.client_events)
            self._feed(self.client, out)
            got = self.client_events[before:]
            assert len(got) == 1, got
            if reply.code == 334:
                assert isinstance(got[0], smtp.AuthChallenge)
            else:
                assert got[0] == reply

    def client_says(self, items: list[tuple[str, str]]) -> None:
        wire = bytearray()
        expected = bytearray()
        for kind, text in items:
            if kind == "C~":
                data = text.encode() + b"\r\n"
                wire += self.client.send(smtp.MessageChunk(data=data))
                self.sent.append(smtp.MessageChunk(data=data))
                expected += data
                continue
            if kind == "C#":
                data = b"x" * int(text)
                wire += self.client.send(smtp.MessageChunk(data=data))
                self.sent.append(smtp.MessageChunk(data=data))
                expected += data
                continue
            expected += text.encode() + b"\r\n"
            if self.client.their_state is State.DATA and self.client.our_state is State.DATA:
                if text == ".":
                    event: smtp.Event = smtp.EndOfMessage()
                else:
                    content = text[1:] if text.startswith(".") else text
                    event = smtp.MessageChunk(data=content.encode() + b"\r\n")
            else:
                event = _events_from_line(self.client, text)
            wire += self.client.send(event)
            self.sent.append(event)
        assert bytes(wire) == bytes(expected)
        self._feed(self.server, bytes(wire))

    def tls(self) -> None:
        self.client.tls_established()
        self._drain_server()
        self.server.tls_established()


def _b64decode(text: str) -> bytes:
    import base64

    return base64.b64decode(text)


def replay(transcript: str, piece: int | None, server_config: Config | None = None,
           client_config: Config | None = None) -> Replay:
    run = Replay(server_config or Config(), client_config or Config(), piece)
    block_kind: str | None = None
    block: list[tuple[str, str]] = []

    def flush() -> None:
        if block_kind == "S":
            run.server_says([text for _, text in block])
        elif block_kind == "C":
            run.client_says(block)
        block.clear()

    for raw in transcript.strip().splitlines():
        line = raw.lstrip()  # content lines keep their own leading and trailing spaces
        if line == "TLS":
            flush()
            block_kind = None
            run.tls()
            continue
        kind, _, text = line.partition(" ")
        kind = kind.rstrip(":")
        group = "S" if kind == "S" else "C"
        if group != block_kind:
            flush()
            block_kind = group
        block.append((kind if kind in ("C~", "C#") else group, text))
    flush()
    run._drain_server()
    # The server read exactly what the client sent, command for command
    # (a command the server machine refused itself shows as a BadCommand).
    content_events = (smtp.MessageChunk, smtp.EndOfMessage, smtp.EndOfChunk)
    commands = [e for e in run.sent if not isinstance(e, content_events)]
    received = [e for e in run.received if not isinstance(e, content_events)]
    assert len(received) == len(commands)
    for got, sent in zip(received, commands):
        if isinstance(got, smtp.BadCommand):
            assert got.line + b"\r\n" == write_command(sent)
        else:
            assert got == sent
    sent_content = b"".join(e.data for e in run.sent if isinstance(e, smtp.MessageChunk))
    got_content = b"".join(e.data for e in run.received if isinstance(e, smtp.MessageChunk))
    assert got_content == sent_content
    return run


RFC5321_D1 = """
S: 220 foo.com Simple Mail Transfer Service Ready
C: EHLO bar.com
S: 250-foo.com greets bar.com
S: 250-8BITMIME
S: 250-SIZE
S: 250-DSN
S: 250 HELP
C: MAIL FROM:<Smith@bar.com>
S: 250 OK
C: RCPT TO:<Jones@foo.com>
S: 250 OK
C: RCPT TO:<Green@foo.com>
S: 550 No such user here
C: RCPT TO:<Brown@foo.com>
S: 250 OK
C: DATA
S: 354 Start mail input; end with <CRLF>.<CRLF>
C: Blah blah blah...
C: ..etc. etc. etc.
C: .
S: 250 OK
C: QUIT
S: 221 foo.com Service closing transmission channel
"""

RFC5321_D2 = """
S: 220 foo.com Simple Mail Transfer Service Ready
C: EHLO bar.com
S: 250-foo.com greets bar.com
S: 250-8BITMIME
S: 250-SIZE
S: 250-DSN
S: 250 HELP
C: MAIL FROM:<Smith@bar.com>
S: 250 OK
C: RCPT TO:<Jones@foo.com>
S: 250 OK
C: RCPT TO:<Green@foo.com>
S: 550 No such user here
C: RSET
S: 250 OK
C: QUIT
S: 221 foo.com Service closing transmission channel
"""

RFC5321_D3_STEP1 = """
S: 220 foo.com Simple Mail Transfer Service Ready
C: EHLO bar.com
S: 250-foo.com greets bar.com
S: 250-8BITMIME
S: 250-SIZE
S: 250-DSN
S: 250 HELP
C: MAIL FROM:<JQP@bar.com>
S: 250 OK
C: RCPT TO:<Jones@XYZ.COM>
S: 250 OK
C: DATA
S: 354 Start mail input; end with <CRLF>.<CRLF>
C: Date: Thu, 21 May 1998 05:33:29 -0700
C: From: John Q. Public <JQP@bar.com>
C: Subject: The Next Meeting of the Board
C: To: Jones@xyz.com
C:
C: Bill:
C: The next meeting of the board of directors will be
C: on Tuesday.
C: John.
C: .
S: 250 OK
C: QUIT
S: 221 foo.com Service closing transmission channel
"""

RFC5321_D3_STEP2 = """
S: 220 xyz.com Simple Mail Transfer Service Ready
C: EHLO foo.com
S: 250 xyz.com is on the air
C: MAIL FROM:<JQP@bar.com>
S: 250 OK
C: RCPT TO:<Jones@XYZ.COM>
S: 250 OK
C: DATA
S: 354 Start mail input; end with <CRLF>.<CRLF>
C: Received: from bar.com by foo.com ; Thu, 21 May 1998
C:     05:33:29 -0700
C: Date: Thu, 21 May 1998 05:33:22 -0700
C: From: John Q. Public <JQP@bar.com>
C: Subject:  The Next Meeting of the Board
C: To: Jones@xyz.com
C:
C: Bill:
C: The next meeting of the board of directors will be
C: on Tuesday.
C:                         John.
C: .
S: 250 OK
C: QUIT
S: 221 foo.com Service closing transmission channel
"""

RFC5321_D4 = """
S: 220 foo.com Simple Mail Transfer Service Ready
C: EHLO bar.com
S: 250-foo.com greets bar.com
S: 250-8BITMIME
S: 250-SIZE
S: 250-DSN
S: 250-VRFY
S: 250 HELP
C: VRFY Crispin
S: 250 Mark Crispin <Admin.MRC@foo.com>
C: MAIL FROM:<EAK@bar.com>
S: 250 OK
C: RCPT TO:<Admin.MRC@foo.com>
S: 250 OK
C: DATA
S: 354 Start mail input; end with <CRLF>.<CRLF>
C: Blah blah blah...
C: ...etc. etc. etc.
C: .
S: 250 OK
C: QUIT
S: 221 foo.com Service closing transmission channel
"""

RFC2920_NO_PIPELINING = """
S: 220 Innosoft.com SMTP service ready
C: HELO dbc.mtview.ca.us
S: 250 Innosoft.com
C: MAIL FROM:<mrose@dbc.mtview.ca.us>
S: 250 sender <mrose@dbc.mtview.ca.us> OK
C: RCPT TO:<ned@innosoft.com>
S: 250 recipient <ned@innosoft.com> OK
C: RCPT TO:<dan@innosoft.com>
S: 250 recipient <dan@innosoft.com> OK
C: RCPT TO:<kvc@innosoft.com>
S: 250 recipient <kvc@innosoft.com> OK
C: DATA
S: 354 enter mail, end with line containing only "."
C: Subject: test
C:
C: body
C: .
S: 250 message sent
C: QUIT
S: 221 goodbye
"""

RFC2920_PIPELINING = """
S: 220 innosoft.com SMTP service ready
C: EHLO dbc.mtview.ca.us
S: 250-innosoft.com
S: 250 PIPELINING
C: MAIL FROM:<mrose@dbc.mtview.ca.us>
C: RCPT TO:<ned@innosoft.com>
C: RCPT TO:<dan@innosoft.com>
C: RCPT TO:<kvc@innosoft.com>
C: DATA
S: 250 sender <mrose@dbc.mtview.ca.us> OK
S: 250 recipient <ned@innosoft.com> OK
S: 250 recipient <dan@innosoft.com> OK
S: 250 recipient <kvc@innosoft.com> OK
S: 354 enter mail, end with line containing only "."
C: Subject: test
C: .
C: QUIT
S: 250 message sent
S: 221 goodbye
"""

RFC2920_NO_VALID_RECIPIENTS = """
S: 220 innosoft.com SMTP service ready
C: EHLO dbc.mtview.ca.us
S: 250-innosoft.com
S: 250 PIPELINING
C: MAIL FROM:<mrose@dbc.mtview.ca.us>
C: RCPT TO:<nsb@thumper.bellcore.com>
C: RCPT TO:<galvin@tis.com>
C: DATA
S: 250 sender <mrose@dbc.mtview.ca.us> OK
S: 550 remote mail to <nsb@thumper.bellore.com> not allowed
S: 550 remote mail to <galvin@tis.com> not allowed
S: 554 no valid recipients given
C: QUIT
S: 221 goodbye
"""

RFC3030_BDAT = """
S: 220 cnri.reston.va.us SMTP service ready
C: EHLO ymir.claremont.edu
S: 250-cnri.reston.va.us says hello
S: 250 CHUNKING
C: MAIL FROM:<Sam@Random.com>
S: 250 <Sam@Random.com> Sender ok
C: RCPT TO:<Susan@Random.com>
S: 250 <Susan@random.com> Recipient ok
C: BDAT 86 LAST
C~ To: Susan@random.com
C~ From: Sam@random.com
C~ Subject: This is a bodyless test message
S: 250 Message OK, 86 octets received
C: QUIT
S: 221 Goodbye
"""

RFC3030_PIPELINED_BINARYMIME = """
S: 220 cnri.reston.va.us SMTP service ready
C: EHLO ymir.claremont.edu
S: 250-cnri.reston.va.us says hello
S: 250-PIPELINING
S: 250-BINARYMIME
S: 250 CHUNKING
C: MAIL FROM:<ned@ymir.claremont.edu> BODY=BINARYMIME
C: RCPT TO:<gvaudre@cnri.reston.va.us>
C: RCPT TO:<jstewart@cnri.reston.va.us>
S: 250 <ned@ymir.claremont.edu>... Sender and BINARYMIME ok
S: 250 <gvaudre@cnri.reston.va.us>... Recipient ok
S: 250 <jstewart@cnri.reston.va.us>... Recipient ok
C: BDAT 100000
C# 100000
C: BDAT 324
C# 324
C: BDAT 0 LAST
S: 250 100000 octets received
S: 250 324 octets received
S: 250 Message OK, 100324 octets received
C: QUIT
S: 221 Goodbye
"""

RFC2033_LMTP = """
S: 220 foo.edu LMTP server ready
C: LHLO foo.edu
S: 250-foo.edu
S: 250-PIPELINING
S: 250 SIZE
C: MAIL FROM:<chris@bar.com>
S: 250 OK
C: RCPT TO:<pat@foo.edu>
S: 250 OK
C: RCPT TO:<jones@foo.edu>
S: 550 No such user here
C: RCPT TO:<green@foo.edu>
S: 250 OK
C: DATA
S: 354 Start mail input; end with <CRLF>.<CRLF>
C: Blah blah blah...
C: ...etc. etc. etc.
C: .
S: 250 OK
S: 452 <green@foo.edu> is temporarily over quota
C: QUIT
S: 221 foo.edu closing connection
"""

RFC4954_STARTTLS_PLAIN = """
S: 220 smtp.example.com ESMTP Server
C: EHLO client.example.com
S: 250-smtp.example.com Hello client.example.com
S: 250-AUTH GSSAPI DIGEST-MD5
S: 250-ENHANCEDSTATUSCODES
S: 250 STARTTLS
C: STARTTLS
S: 220 Ready to start TLS
TLS
C: EHLO client.example.com
S: 250-smtp.example.com Hello client.example.com
S: 250 AUTH GSSAPI DIGEST-MD5 PLAIN
C: AUTH PLAIN dGVzdAB0ZXN0ADEyMzQ=
S: 235 2.7.0 Authentication successful
"""

RFC4954_EMPTY_CHALLENGE = """
S: 220 smtp.example.com ESMTP Server
C: EHLO client.example.com
S: 250-smtp.example.com Hello client.example.com
S: 250 AUTH GSSAPI DIGEST-MD5 PLAIN
C: AUTH PLAIN
S: 334 
C: dGVzdAB0ZXN0ADEyMzQ=
S: 235 2.7.0 Authentication successful
"""

RFC4954_CRAM_MD5 = """
S: 220 smtp.example.com ESMTP Server
C: EHLO client.example.com
S: 250-smtp.example.com Hello client.example.com
S: 250-AUTH DIGEST-MD5 CRAM-MD5
S: 250-ENHANCEDSTATUSCODES
S: 250 STARTTLS
C: AUTH CRAM-MD5
S: 334 PDQxOTI5NDIzNDEuMTI4Mjg0NzJAc291cmNlZm91ci5hbmRyZXcuY211LmVkdT4=
C: cmpzMyBlYzNhNTlmZWQzOTVhYmExZWM2MzY3YzRmNGI0MWFjMA==
S: 235 2.7.0 Authentication successful
"""

RFC3207_STARTTLS = """
S: 220 mail.imc.org SMTP service ready
C: EHLO mail.example.com
S: 250-mail.imc.org offers a warm hug of welcome
S: 250-8BITMIME
S: 250-STARTTLS
S: 250 DSN
C: STARTTLS
S: 220 Go ahead
TLS
C: EHLO mail.example.com
S: 250-mail.imc.org offers a warm hug of welcome
S: 250-8BITMIME
S: 250 DSN
"""

AUTH_SERVER = Config(starttls=True, auth_mechanisms=("GSSAPI", "DIGEST-MD5", "PLAIN", "CRAM-MD5"),
                     require_tls_for_auth=False)

CASES = {
    "rfc5321-D.1": (RFC5321_D1, Config(), Config()),
    "rfc5321-D.2": (RFC5321_D2, Config(), Config()),
    "rfc5321-D.3-step1": (RFC5321_D3_STEP1, Config(), Config()),
    "rfc5321-D.3-step2": (RFC5321_D3_STEP2, Config(), Config()),
    "rfc5321-D.4": (RFC5321_D4, Config(vrfy=True), Config()),
    "rfc2920-no-pipelining": (RFC2920_NO_PIPELINING, Config(), Config()),
    "rfc2920-pipelining": (RFC2920_PIPELINING, Config(), Config()),
    "rfc2920-no-valid-recipients": (RFC2920_NO_VALID_RECIPIENTS, Config(), Config()),
    "rfc3030-bdat": (RFC3030_BDAT, Config(), Config()),
    "rfc3030-binarymime": (RFC3030_PIPELINED_BINARYMIME, Config(), Config()),
    "rfc2033-lmtp": (RFC2033_LMTP, Config(lmtp=True), Config(lmtp=True)),
    "rfc4954-starttls-plain": (RFC4954_STARTTLS_PLAIN, AUTH_SERVER, Config()),
    "rfc4954-empty-challenge": (RFC4954_EMPTY_CHALLENGE, AUTH_SERVER, Config()),
    "rfc4954-cram-md5": (RFC4954_CRAM_MD5, AUTH_SERVER, Config()),
    "rfc3207-starttls": (RFC3207_STARTTLS, Config(starttls=True), Config()),
}


@pytest.mark.parametrize("piece", [None, 1])
@pytest.mark.parametrize("name", sorted(CASES))
def test_transcript(name: str, piece: int | None) -> None:
    transcript, server_config, client_config = CASES[name]
    if name == "rfc3030-binarymime" and piece == 1:
        piece = 13  # 100 kB one byte at a time is slow; odd pieces cross every boundary too
    run = replay(transcript, piece, server_config, client_config)
    assert run.client.their_state in (State.CLOSED, State.READY)


def test_lmtp_transcript_attributes_replies() -> None:
    run = replay(RFC2033_LMTP, None, Config(lmtp=True), Config(lmtp=True))
    after_data = [e for e in run.client_events if isinstance(e, smtp.Reply)][-3:-1]
    attributed = [(e.command.forward_path if isinstance(e.command, smtp.Rcpt) else None, e.code) for e in after_data]
    assert attributed == [("pat@foo.edu", 250), ("green@foo.edu", 452)]


def test_relay_transcript_keeps_folded_and_indented_lines() -> None:
    run = replay(RFC5321_D3_STEP2, None)
    content = b"".join(e.data for e in run.received if isinstance(e, smtp.MessageChunk))
    assert b"Received: from bar.com by foo.com ; Thu, 21 May 1998\r\n    05:33:29 -0700\r\n" in content
    assert content.endswith(b"\r\n                        John.\r\n")


def test_pipelining_transcript_server_saw_no_early_talk() -> None:
    run = replay(RFC2920_PIPELINING, None)
    assert not run.server.early_talker
    run = replay(RFC2920_NO_PIPELINING, None)
    assert not run.server.early_talker


def test_binarymime_content_length() -> None:
    run = replay(RFC3030_PIPELINED_BINARYMIME, 7)
    content = b"".join(e.data for e in run.received if isinstance(e, smtp.MessageChunk))
    assert len(content) == 100324
