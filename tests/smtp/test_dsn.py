"""DSN parameters (RFC 3461): xtext, NOTIFY, ORCPT, RET, ENVID, on the wire and in helpers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfcmail import smtp
from rfcmail.errors import LocalProtocolError
from rfcmail.smtp import Config, Mail, Rcpt

from . import codes, greeted_server, of_type, ready_client, run_server


@given(st.text())
def test_xtext_roundtrip(text: str) -> None:
    encoded = smtp.xtext_encode(text)
    assert all(33 <= ord(c) <= 126 and c != "=" for c in encoded)
    assert smtp.xtext_decode(encoded) == text


@pytest.mark.parametrize("bad", ["a+", "a+4", "a+zz", "a+0d", "a=b", "a b", "\x00", "+FF"])
def test_xtext_decode_errors(bad: str) -> None:
    with pytest.raises(LocalProtocolError):
        smtp.xtext_decode(bad)


def test_xtext_examples() -> None:
    assert smtp.xtext_encode("a+b=c d") == "a+2Bb+3Dc+20d"
    assert smtp.xtext_decode("Bob+2Bfoo@example.com") == "Bob+foo@example.com"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("NEVER", {"NEVER"}), ("success,FAILURE", {"SUCCESS", "FAILURE"}), ("DELAY", {"DELAY"}),
     ("SUCCESS,FAILURE,DELAY", {"SUCCESS", "FAILURE", "DELAY"})],
)
def test_notify(value: str, expected: set[str]) -> None:
    assert smtp.parse_notify(value) == frozenset(expected)


@pytest.mark.parametrize("bad", ["", "NEVER,SUCCESS", "SUCCESS,SUCCESS", "SOMETIMES", "SUCCESS,"])
def test_notify_errors(bad: str) -> None:
    with pytest.raises(LocalProtocolError):
        smtp.parse_notify(bad)


def test_orcpt_ret_envid() -> None:
    orcpt = smtp.parse_orcpt("rfc822;Bob+2Bx@example.com")
    assert orcpt == smtp.OriginalRecipient(addr_type="rfc822", address="Bob+x@example.com")
    assert orcpt.to_param() == "rfc822;Bob+2Bx@example.com"
    for bad in ("rfc822", ";x", "rfc822;" + "a" * 500):
        with pytest.raises(LocalProtocolError):
            smtp.parse_orcpt(bad)
    assert smtp.parse_ret("hdrs") == "HDRS"
    with pytest.raises(LocalProtocolError):
        smtp.parse_ret("ALL")
    assert smtp.parse_envid("a" * 100) == "a" * 100
    with pytest.raises(LocalProtocolError):
        smtp.parse_envid("a" * 101)


def test_server_accepts_dsn_params() -> None:
    conn = greeted_server()
    events, out = run_server(
        conn,
        b"EHLO a\r\nMAIL FROM:<a@b.example> RET=FULL ENVID=QQ314159\r\n"
        b"RCPT TO:<c@d.example> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;c@d.example\r\n",
    )
    assert codes(out) == [250, 250, 250]
    assert b"250-DSN\r\n" in out
    rcpt = of_type(events, Rcpt)[0]
    assert isinstance(rcpt, Rcpt) and smtp.parse_notify(rcpt.param("NOTIFY") or "") == {"SUCCESS", "DELAY"}


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (b"MAIL FROM:<a@b.example> RET=ALL\r\n", 501),
        (b"MAIL FROM:<a@b.example> RET\r\n", 501),
        (b"MAIL FROM:<a@b.example> ENVID=a+zz\r\n", 501),
    ],
)
def test_server_bad_dsn_mail_params(command: bytes, code: int) -> None:
    conn = greeted_server()
    _, out = run_server(conn, b"EHLO a\r\n" + command)
    assert codes(out) == [250, code]


@pytest.mark.parametrize("param", [b"NOTIFY=NEVER,DELAY", b"ORCPT=nosemicolon", b"NOTIFY"])
def test_server_bad_dsn_rcpt_params(param: bytes) -> None:
    conn = greeted_server()
    _, out = run_server(conn, b"EHLO a\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example> " + param + b"\r\n")
    assert codes(out) == [250, 250, 501]


def test_server_without_dsn_refuses_params() -> None:
    conn = greeted_server(Config(dsn=False))
    _, out = run_server(conn, b"EHLO a\r\nMAIL FROM:<a@b.example> RET=FULL\r\nMAIL FROM:<a@b.example>\r\n"
                              b"RCPT TO:<c@d.example> NOTIFY=NEVER\r\n")
    assert b"DSN" not in out
    assert codes(out) == [250, 555, 250, 555]


def test_mail_params_for_chooses_from_extensions() -> None:
    full = ready_client().extensions
    params = smtp.mail_params_for(full, size=1234, smtputf8=True, body="8BITMIME", ret="hdrs", envid="x y")
    assert params == (("SIZE", "1234"), ("BODY", "8BITMIME"), ("SMTPUTF8", None), ("RET", "HDRS"), ("ENVID", "x+20y"))
    bare = ready_client("PIPELINING").extensions
    assert smtp.mail_params_for(bare, size=1234, ret="FULL", envid="x", body="7BIT") == ()
    with pytest.raises(LocalProtocolError):
        smtp.mail_params_for(bare, smtputf8=True)
    with pytest.raises(LocalProtocolError):
        smtp.mail_params_for(bare, body="8BITMIME")
    with pytest.raises(LocalProtocolError):
        smtp.mail_params_for(full, size=2_000_000)  # over SIZE 1000000
    with pytest.raises(LocalProtocolError):
        smtp.mail_params_for(full, body="QUANTUM")
    assert smtp.rcpt_params_for(full, notify=["success", "failure"],
                                orcpt=smtp.OriginalRecipient(addr_type="rfc822", address="a@b")) == (
        ("NOTIFY", "SUCCESS,FAILURE"), ("ORCPT", "rfc822;a@b"))
    assert smtp.rcpt_params_for(bare, notify=["NEVER"]) == ()
    assert Mail(reverse_path="a@b.example", params=params).size == 1234


def test_extensions_parse() -> None:
    ext = smtp.Extensions.parse(["PIPELINING", "size 1000", "AUTH PLAIN  login", "bad_line here", "SIZE 5", "X-FOO a b"])
    assert ext.pipelining and ext.size == 1000 and ext.auth_mechanisms == ("PLAIN", "LOGIN")
    assert ext.params("x-foo") == ("a", "b") and "X-FOO" in ext and "BAD" not in ext
    assert smtp.Extensions.parse(["SIZE"]).size == 0
    assert smtp.Extensions().size is None
    assert not smtp.Extensions.parse(["BINARYMIME"]).binarymime
