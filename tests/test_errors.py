from __future__ import annotations

import pytest

import rfcmail
from rfcmail.errors import (
    LimitExceeded,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    RfcmailError,
)


def test_hierarchy() -> None:
    assert issubclass(ProtocolError, RfcmailError)
    assert issubclass(LocalProtocolError, ProtocolError)
    assert issubclass(RemoteProtocolError, ProtocolError)
    assert issubclass(LimitExceeded, ProtocolError)
    assert not issubclass(LocalProtocolError, RemoteProtocolError)
    assert rfcmail.LimitExceeded is LimitExceeded


def test_reply_hint_is_kept() -> None:
    err = RemoteProtocolError("bad command", reply_hint="500 5.5.2 Syntax error")
    assert err.reply_hint == "500 5.5.2 Syntax error"
    assert str(err) == "bad command"
    assert "500 5.5.2" in repr(err)
    assert LocalProtocolError("x").reply_hint is None


def test_limit_exceeded_names_the_limit_and_values() -> None:
    err = LimitExceeded("max_command_line", 512, 513, reply_hint="500 5.5.2 Line too long")
    assert err.limit_name == "max_command_line"
    assert err.limit == 512
    assert err.actual == 513
    assert "max_command_line=512" in str(err)
    assert "513" in str(err)
    with pytest.raises(ProtocolError):
        raise err


def test_limit_exceeded_without_actual() -> None:
    err = LimitExceeded("max_parts", 10, what="number of MIME parts")
    assert str(err) == "number of MIME parts exceeds the limit max_parts=10"
    assert err.actual is None
