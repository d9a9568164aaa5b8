"""Writers: events to bytes, and generate-then-parse round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfcmail import smtp
from rfcmail.errors import LocalProtocolError
from rfcmail.smtp import EnhancedStatus, Reply
from rfcmail.smtp._readers import ReplyReader, parse_auth, parse_bdat, parse_mail, parse_rcpt, split_command
from rfcmail.smtp._writers import write_auth_challenge, write_command, write_reply


@pytest.mark.parametrize(
    ("event", "wire"),
    [
        (smtp.Ehlo(domain="c.example"), b"EHLO c.example\r\n"),
        (smtp.Helo(domain="[192.0.2.1]"), b"HELO [192.0.2.1]\r\n"),
        (smtp.Lhlo(domain="c"), b"LHLO c\r\n"),
        (smtp.Mail(reverse_path=""), b"MAIL FROM:<>\r\n"),
        (smtp.Mail(reverse_path="a@b.example", params=(("SIZE", "10"), ("SMTPUTF8", None))),
         b"MAIL FROM:<a@b.example> SIZE=10 SMTPUTF8\r\n"),
        (smtp.Rcpt(forward_path="Postmaster"), b"RCPT TO:<Postmaster>\r\n"),
        (smtp.Data(), b"DATA\r\n"),
        (smtp.Bdat(size=10), b"BDAT 10\r\n"),
        (smtp.Bdat(size=0, last=True), b"BDAT 0 LAST\r\n"),
        (smtp.Rset(), b"RSET\r\n"),
        (smtp.Noop(), b"NOOP\r\n"),
        (smtp.Noop(argument="x y"), b"NOOP x y\r\n"),
        (smtp.Help(), b"HELP\r\n"),
        (smtp.Vrfy(argument="bob"), b"VRFY bob\r\n"),
        (smtp.Expn(argument="staff"), b"EXPN staff\r\n"),
        (smtp.Quit(), b"QUIT\r\n"),
        (smtp.StartTLS(), b"STARTTLS\r\n"),
        (smtp.Auth(mechanism="plain"), b"AUTH PLAIN\r\n"),
        (smtp.Auth(mechanism="PLAIN", initial_response=b""), b"AUTH PLAIN =\r\n"),
        (smtp.AuthResponse(data=b"alice"), b"YWxpY2U=\r\n"),
        (smtp.AuthResponse(data=b""), b"\r\n"),
        (smtp.AuthCancel(), b"*\r\n"),
    ],
)
def test_write_command(event: smtp.Event, wire: bytes) -> None:
    assert write_command(event) == wire


def test_write_command_refuses_non_commands() -> None:
    with pytest.raises(LocalProtocolError):
        write_command(Reply(code=250, lines=("x",)))


@pytest.mark.parametrize(
    ("reply", "enhanced", "wire"),
    [
        (Reply(code=250, lines=("Ok",)), True, b"250 Ok\r\n"),
        (Reply(code=250, lines=()), True, b"250\r\n"),
        (Reply(code=250, lines=("a", "b", "")), True, b"250-a\r\n250-b\r\n250\r\n"),
        (Reply(code=550, lines=("no", "really"), enhanced=EnhancedStatus.parse("5.7.1")), True,
         b"550-5.7.1 no\r\n550 5.7.1 really\r\n"),
        (Reply(code=550, lines=("no",), enhanced=EnhancedStatus.parse("5.7.1")), False, b"550 no\r\n"),
        (Reply(code=220, lines=("höst ready",)), True, "220 höst ready\r\n".encode()),
    ],
)
def test_write_reply(reply: Reply, enhanced: bool, wire: bytes) -> None:
    assert write_reply(reply, enhanced=enhanced) == wire


def test_write_auth_challenge() -> None:
    assert write_auth_challenge(smtp.AuthChallenge(data=b"Username:")) == b"334 VXNlcm5hbWU6\r\n"
    assert write_auth_challenge(smtp.AuthChallenge(data=b"")) == b"334 \r\n"


def test_reply_from_text_and_standard() -> None:
    assert Reply.from_text("550 5.7.1 Relaying denied") == Reply(
        code=550, lines=("Relaying denied",), enhanced=EnhancedStatus.parse("5.7.1"))
    assert Reply.from_text("250 ok\nsecond") == Reply(code=250, lines=("ok", "second"))
    assert Reply.from_text("421 4.7.0 Too many errors, closing connection").code == 421
    with pytest.raises(LocalProtocolError):
        Reply.from_text("hello")
    for name in smtp.STANDARD_REPLIES:
        reply = Reply.standard(name)
        assert Reply.from_text(f"{reply.code} {reply.enhanced} {reply.lines[0]}" if reply.enhanced
                               else f"{reply.code} {reply.lines[0]}") == reply


TEXT = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=30)


@given(
    code=st.integers(min_value=200, max_value=599),
    lines=st.lists(TEXT, max_size=5),
    detail=st.one_of(st.none(), st.tuples(st.integers(0, 999), st.integers(0, 999))),
)
def test_reply_roundtrip(code: int, lines: list[str], detail: tuple[int, int] | None) -> None:
    enhanced = None
    if detail is not None and code // 100 in (2, 4, 5):
        enhanced = EnhancedStatus(klass=code // 100, subject=detail[0], detail=detail[1])
    reply = Reply(code=code, lines=tuple(lines), enhanced=enhanced)
    wire = write_reply(reply)
    reader = ReplyReader(100)
    parsed = None
    for line in wire.split(b"\r\n")[:-1]:
        parsed = reader.feed_line(line)
    assert parsed is not None
    # Text that looks like an enhanced code is read as one, so compare the wire.
    assert write_reply(parsed) == wire
    if enhanced is not None:
        assert parsed.enhanced == enhanced


_ATOM = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-/=?^_`{|}~", min_size=1, max_size=8)
_LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
MAILBOX = st.builds(
    lambda local, labels: ".".join(local) + "@" + ".".join(labels),
    st.lists(_ATOM, min_size=1, max_size=3), st.lists(_LABEL, min_size=1, max_size=3),
)
_VALUE = st.text(alphabet=[chr(c) for c in range(0x21, 0x7F) if c != 0x3D], min_size=1, max_size=12)
PARAMS = st.lists(
    st.tuples(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=8).map(lambda k: "X-" + k),
              st.one_of(st.none(), _VALUE)),
    max_size=3, unique_by=lambda p: p[0],
)


@given(path=st.one_of(st.just(""), MAILBOX), params=PARAMS)
def test_mail_roundtrip(path: str, params: list[tuple[str, str | None]]) -> None:
    event = smtp.Mail(reverse_path=path, params=tuple(params))
    verb, argument = split_command(write_command(event)[:-2])
    assert verb == "MAIL" and parse_mail(argument) == event


@given(path=MAILBOX, params=PARAMS)
def test_rcpt_roundtrip(path: str, params: list[tuple[str, str | None]]) -> None:
    event = smtp.Rcpt(forward_path=path, params=tuple(params))
    verb, argument = split_command(write_command(event)[:-2])
    assert verb == "RCPT" and parse_rcpt(argument) == event


@given(size=st.integers(min_value=0, max_value=10**19), last=st.booleans())
def test_bdat_roundtrip(size: int, last: bool) -> None:
    event = smtp.Bdat(size=size, last=last)
    verb, argument = split_command(write_command(event)[:-2])
    assert verb == "BDAT" and parse_bdat(argument) == event


@given(mechanism=st.from_regex(r"[A-Z0-9_-]{1,20}", fullmatch=True), initial=st.one_of(st.none(), st.binary(max_size=50)))
def test_auth_roundtrip(mechanism: str, initial: bytes | None) -> None:
    event = smtp.Auth(mechanism=mechanism, initial_response=initial)
    verb, argument = split_command(write_command(event)[:-2])
    assert verb == "AUTH" and parse_auth(argument) == event
