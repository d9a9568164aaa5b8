"""CR, LF and NUL injection through every client argument (SECURITY A3.1).

Whatever the caller passes, either the event cannot be built
(LocalProtocolError, before any byte exists) or what goes on the wire is
exactly one line.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfcmail import smtp
from rfcmail.errors import LocalProtocolError
from rfcmail.smtp import (
    Auth,
    AuthResponse,
    Ehlo,
    EnhancedStatus,
    Expn,
    Helo,
    Help,
    Lhlo,
    Mail,
    Noop,
    Rcpt,
    Reply,
    Vrfy,
)
from rfcmail.smtp._writers import write_command, write_reply

from . import ready_client

BAD = ["\r", "\n", "\x00", "\r\n"]

BUILDERS: dict[str, Callable[[str], object]] = {
    "ehlo": lambda s: Ehlo(domain=s),
    "helo": lambda s: Helo(domain=s),
    "lhlo": lambda s: Lhlo(domain=s),
    "mail": lambda s: Mail(reverse_path=s),
    "rcpt": lambda s: Rcpt(forward_path=s),
    "mail_param_value": lambda s: Mail(reverse_path="a@b.example", params=(("X-K", s),)),
    "mail_param_key": lambda s: Mail(reverse_path="a@b.example", params=((s, "v"),)),
    # A mapping is accepted at run time as well as pairs.
    "rcpt_param_value": lambda s: Rcpt(forward_path="a@b.example", params={"NOTIFY": s}),  # type: ignore[arg-type]
    "vrfy": lambda s: Vrfy(argument=s),
    "expn": lambda s: Expn(argument=s),
    "help": lambda s: Help(argument=s),
    "noop": lambda s: Noop(argument=s),
    "auth_mechanism": lambda s: Auth(mechanism=s),
    "reply_line": lambda s: Reply(code=250, lines=(s,)),
}

VALID = {
    "ehlo": "client.example", "helo": "client.example", "lhlo": "client.example",
    "mail": "alice@example.org", "rcpt": "bob@example.net",
    "mail_param_value": "value", "mail_param_key": "X-KEY", "rcpt_param_value": "SUCCESS",
    "vrfy": "bob", "expn": "staff", "help": "MAIL", "noop": "hello", "auth_mechanism": "PLAIN",
    "reply_line": "Ok",
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
@pytest.mark.parametrize("bad", BAD, ids=repr)
@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_every_argument_rejects_controls(name: str, bad: str, where: str) -> None:
    valid = VALID[name]
    BUILDERS[name](valid)  # the valid value builds
    middle = len(valid) // 2
    value = {"start": bad + valid, "middle": valid[:middle] + bad + valid[middle:], "end": valid + bad}[where]
    with pytest.raises(LocalProtocolError):
        BUILDERS[name](value)


@given(
    name=st.sampled_from(sorted(BUILDERS)),
    bad=st.sampled_from(BAD),
    position=st.integers(min_value=0, max_value=100),
    extra=st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=10),
)
def test_random_insertion_positions(name: str, bad: str, position: int, extra: str) -> None:
    valid = VALID[name] + extra
    position = position % (len(valid) + 1)
    with pytest.raises(LocalProtocolError):
        BUILDERS[name](valid[:position] + bad + valid[position:])


@given(st.text(max_size=60))
def test_any_built_command_is_one_line(text: str) -> None:
    for name, builder in BUILDERS.items():
        try:
            event = builder(text)
        except LocalProtocolError:
            continue
        if isinstance(event, Reply):
            wire = write_reply(event)
            assert wire.count(b"\r\n") == max(1, len(event.lines))
        else:
            assert isinstance(event, smtp.Event)
            wire = write_command(event)
            assert wire.endswith(b"\r\n") and wire.count(b"\n") == 1 and wire.count(b"\r") == 1, name
        assert b"\x00" not in wire


@given(st.binary(max_size=200), st.binary(max_size=200))
def test_auth_data_is_base64_one_line(initial: bytes, response: bytes) -> None:
    wire = write_command(Auth(mechanism="PLAIN", initial_response=initial))
    assert wire.count(b"\n") == 1 and wire.count(b"\r") == 1
    wire = write_command(AuthResponse(data=response))
    assert wire.count(b"\n") == 1 and wire.count(b"\r") == 1


def test_auth_data_must_be_bytes() -> None:
    with pytest.raises(LocalProtocolError):
        Auth(mechanism="PLAIN", initial_response="text\r\n")  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        AuthResponse(data="text")  # type: ignore[arg-type]


def test_helpers_encode_or_refuse() -> None:
    ext = ready_client().extensions
    params = smtp.mail_params_for(ext, envid="id\r\nRCPT TO:<x@y>", ret="HDRS")
    wire = write_command(Mail(reverse_path="a@b.example", params=params))
    assert wire.count(b"\r\n") == 1 and b"ENVID=id+0D+0ARCPT" in wire
    with pytest.raises(LocalProtocolError):
        smtp.mail_params_for(ext, ret="FULL\r\n")
    with pytest.raises(LocalProtocolError):
        smtp.rcpt_params_for(ext, notify=["SUCCESS\r\nDATA"])
    orcpt = smtp.OriginalRecipient(addr_type="rfc822", address="x@y\r\nQUIT")
    wire = write_command(Rcpt(forward_path="a@b.example", params=smtp.rcpt_params_for(ext, orcpt=orcpt)))
    assert wire.count(b"\r\n") == 1
    with pytest.raises(LocalProtocolError):
        smtp.OriginalRecipient(addr_type="rfc822\r\n", address="x@y")


def test_nothing_sent_when_refused() -> None:
    conn = ready_client()
    before = (conn.our_state, conn.their_state, conn.pending_commands)
    with pytest.raises(LocalProtocolError):
        conn.send(Mail(reverse_path="a@b.example\r\nRSET"))
    assert (conn.our_state, conn.their_state, conn.pending_commands) == before


def test_non_ascii_needs_smtputf8_before_sending() -> None:
    conn = ready_client()
    with pytest.raises(LocalProtocolError):
        conn.send(Mail(reverse_path="jöe@example.org"))
    conn.send(Mail(reverse_path="jöe@example.org", params=smtp.mail_params_for(conn.extensions, smtputf8=True)))
    conn.send(Rcpt(forward_path="δοκιμή@παράδειγμα.δοκιμή"))
    conn2 = ready_client()
    conn2.send(Mail(reverse_path="a@example.org"))
    with pytest.raises(LocalProtocolError):
        conn2.send(Rcpt(forward_path="δοκιμή@παράδειγμα.δοκιμή"))


def test_enhanced_status_validation() -> None:
    for text in ("6.0.0", "2.01.0", "2.0", "2.0.1000", "x.y.z", "2.0.0 "):
        with pytest.raises(LocalProtocolError):
            EnhancedStatus.parse(text)
    with pytest.raises(LocalProtocolError):
        Reply(code=250, lines=("x",), enhanced=EnhancedStatus.parse("5.0.0"))
    with pytest.raises(LocalProtocolError):
        Reply(code=600, lines=("x",))
