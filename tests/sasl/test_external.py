"""EXTERNAL (RFC 4422 appendix A): identity from the adapter, authzid from the client."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfcmail.errors import LocalProtocolError
from rfcmail.sasl import (
    Challenge,
    CredentialStore,
    CredentialsUnavailable,
    Failure,
    InMemoryCredentialStore,
    SASLError,
    ScramCredentials,
    Success,
    create_client,
    create_server,
    server_mechanisms,
)

from . import run_exchange

STORE = InMemoryCredentialStore({}, authorizations={"CN=gateway": ["alice"]})


def test_empty_authzid_acts_as_the_external_identity() -> None:
    client = create_client("EXTERNAL")
    assert client.has_initial_response and client.initial_response() == b""
    result, transcript = run_exchange(create_client("EXTERNAL"), create_server("EXTERNAL", STORE, external_identity="CN=alice"))
    assert transcript == [("C", b"")]
    assert result == Success(authcid="CN=alice", authzid="")


def test_rfc4422_a2_exchange_without_initial_response() -> None:
    """Appendix A.2: empty challenge, then the client sends its authzid."""
    server = create_server("EXTERNAL", STORE, external_identity="CN=gateway")
    assert server.start(None) == Challenge(data=b"")
    assert server.step(b"alice") == Success(authcid="CN=gateway", authzid="alice")


def test_authzid_needs_authorization() -> None:
    server = create_server("EXTERNAL", STORE, external_identity="CN=alice")
    result = server.start(b"bob")
    assert isinstance(result, Failure) and not result.malformed


def test_no_external_identity_fails() -> None:
    result = create_server("EXTERNAL", STORE).start(b"")
    assert result == Failure(reason="no external identity on this connection")
    assert "EXTERNAL" not in server_mechanisms(STORE, tls=True)
    assert server_mechanisms(STORE, tls=True, external=True)[0] == "EXTERNAL"


@pytest.mark.parametrize("response", [b"\xff", b"a\r\nb", b"a\x00b"])
def test_malformed_authzid(response: bytes) -> None:
    result = create_server("EXTERNAL", STORE, external_identity="x").start(response)
    assert isinstance(result, Failure) and result.malformed


class _Down(CredentialStore):
    def get_password(self, authcid: str) -> str | None:
        return None

    def get_scram(self, authcid: str, mechanism: str) -> ScramCredentials | None:
        return None

    def authorize(self, authcid: str, authzid: str) -> bool:
        raise CredentialsUnavailable("down")


def test_unavailable_store_is_temporary() -> None:
    result = create_server("EXTERNAL", _Down(), external_identity="x").start(b"y")
    assert isinstance(result, Failure) and result.temporary


def test_client_rules() -> None:
    with pytest.raises(LocalProtocolError):
        create_client("EXTERNAL", authzid="a\nb")
    client = create_client("EXTERNAL", authzid="alice")
    assert client.respond(b"") == b"alice"
    with pytest.raises(SASLError):
        client.respond(b"")
    with pytest.raises(SASLError):
        create_client("EXTERNAL").respond(b"challenge")


@given(st.binary(max_size=64))
def test_server_never_raises(response: bytes) -> None:
    result = create_server("EXTERNAL", STORE, external_identity="CN=gateway").start(response)
    assert isinstance(result, Success | Failure)
    if isinstance(result, Success):
        assert response in (b"", b"CN=gateway", b"alice")
