"""CRAM-MD5 (RFC 2195): the RFC example, both sides, hostile input, equal work."""

from __future__ import annotations

import hmac

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
    derive_scram_credentials,
    server_mechanisms,
)
from rfcmail.sasl.cram_md5 import CramMD5Server, cram_md5_digest

from . import run_exchange

# RFC 2195 section 2.
CHALLENGE = b"<1896.697170952@postoffice.reston.mci.net>"
RESPONSE = b"tim b913a602c7eda7a495b4e6e7334d3890"
STORE = InMemoryCredentialStore({"tim": "tanstaaftanstaaf"})


def _server(store: CredentialStore = STORE) -> CramMD5Server:
    return CramMD5Server(store, nonce=lambda: "1896.697170952", hostname="postoffice.reston.mci.net")


def test_rfc2195_example_client() -> None:
    client = create_client("CRAM-MD5", username="tim", password="tanstaaftanstaaf")
    assert not client.has_initial_response and client.initial_response() is None
    assert client.respond(CHALLENGE) == RESPONSE
    client.verify_success(None)
    assert client.complete


def test_rfc2195_example_server() -> None:
    server = _server()
    assert server.start(None) == Challenge(data=CHALLENGE)
    assert server.step(RESPONSE) == Success(authcid="tim", authzid="")


def test_both_sides_in_memory() -> None:
    client = create_client("CRAM-MD5", username="tim", password="tanstaaftanstaaf")
    result, transcript = run_exchange(client, create_server("CRAM-MD5", STORE, hostname="mx.example"))
    assert isinstance(result, Success)
    challenge = transcript[0][1]
    assert challenge.startswith(b"<") and challenge.endswith(b"@mx.example>")


@pytest.mark.parametrize(
    "response",
    [
        b"tim b913a602c7eda7a495b4e6e7334d3891",
        b"tom b913a602c7eda7a495b4e6e7334d3890",
        b"TIM b913a602c7eda7a495b4e6e7334d3890",
    ],
)
def test_wrong_digest_and_unknown_user(response: bytes) -> None:
    server = _server()
    server.start(None)
    assert server.step(response) == Failure(reason="invalid credentials")


@pytest.mark.parametrize(
    "response",
    [b"", b"tim", b"timb913a602c7eda7a495b4e6e7334d3890", b" b913a602c7eda7a495b4e6e7334d3890",
     b"tim B913A602C7EDA7A495B4E6E7334D3890", b"tim b913a602c7eda7a495b4e6e7334d389",
     b"tim b913a602c7eda7a495b4e6e7334d3890 ", b"t\xffim b913a602c7eda7a495b4e6e7334d3890",
     b"t\r\nim b913a602c7eda7a495b4e6e7334d3890", b"ti\x00m b913a602c7eda7a495b4e6e7334d3890",
     b"ti\x07m b913a602c7eda7a495b4e6e7334d3890"],
)
def test_malformed_responses(response: bytes) -> None:
    server = _server()
    server.start(None)
    result = server.step(response)
    assert isinstance(result, Failure) and result.malformed


def test_user_names_with_spaces_split_at_the_last_space() -> None:
    store = InMemoryCredentialStore({"tim smith": "pw"})
    server = _server(store)
    server.start(None)
    digest = cram_md5_digest(b"pw", CHALLENGE).encode()
    assert server.step(b"tim smith " + digest) == Success(authcid="tim smith", authzid="")


def test_user_name_is_prepared_with_saslprep() -> None:
    server = _server()
    server.start(None)
    digest = cram_md5_digest(b"tanstaaftanstaaf", CHALLENGE).encode()
    assert server.step("t\u00adim ".encode() + digest) == Success(authcid="tim", authzid="")


def test_initial_response_is_refused() -> None:
    result = _server().start(b"tim")
    assert isinstance(result, Failure) and result.malformed


def test_no_password_in_store_fails_like_unknown() -> None:
    keys = derive_scram_credentials("pw", "SCRAM-SHA-256", salt=b"x" * 16)
    store = InMemoryCredentialStore(scram={"eve": {"SCRAM-SHA-256": keys}})
    assert "CRAM-MD5" not in server_mechanisms(store, tls=True)
    assert "CRAM-MD5" in server_mechanisms(STORE, tls=True)
    server = _server(store)
    server.start(None)
    assert server.step(b"eve " + cram_md5_digest(b"pw", CHALLENGE).encode()) == Failure(reason="invalid credentials")


def test_unknown_user_does_one_hmac_and_one_compare(monkeypatch: pytest.MonkeyPatch) -> None:
    """SECURITY A6.2: count compare_digest calls on both paths."""
    calls: list[int] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append(len(a))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    for user in [b"tim", b"ghost"]:
        server = _server()
        server.start(None)
        assert server.step(user + b" " + b"0" * 32) == Failure(reason="invalid credentials")
    assert calls == [32, 32]


class _Down(CredentialStore):
    def get_password(self, authcid: str) -> str | None:
        raise CredentialsUnavailable("down")

    def get_scram(self, authcid: str, mechanism: str) -> ScramCredentials | None:
        raise CredentialsUnavailable("down")


def test_unavailable_store_is_temporary() -> None:
    server = _server(_Down())
    server.start(None)
    result = server.step(RESPONSE)
    assert isinstance(result, Failure) and result.temporary


def test_client_refuses_empty_and_second_challenge() -> None:
    client = create_client("CRAM-MD5", username="tim", password="pw")
    with pytest.raises(SASLError):
        client.respond(b"")
    with pytest.raises(SASLError):
        client.verify_success(None)
    client.respond(CHALLENGE)
    with pytest.raises(SASLError):
        client.respond(CHALLENGE)


def test_argument_and_configuration_errors() -> None:
    for username, password in [("", "pw"), ("tim", ""), ("t\rim", "pw"), ("tim", "p\nw")]:
        with pytest.raises(LocalProtocolError):
            create_client("CRAM-MD5", username=username, password=password)
    for hostname in ["", "a b", "x@y", "<h>"]:
        with pytest.raises(LocalProtocolError):
            CramMD5Server(STORE, hostname=hostname)
    server = CramMD5Server(STORE, nonce=lambda: "bad nonce")
    with pytest.raises(LocalProtocolError):
        server.start(None)


@given(st.binary(max_size=100))
def test_server_never_raises(response: bytes) -> None:
    server = _server()
    server.start(None)
    result = server.step(response)
    assert isinstance(result, Failure) or response == RESPONSE


@given(st.binary(max_size=100))
def test_client_raises_only_sasl_error(challenge: bytes) -> None:
    client = create_client("CRAM-MD5", username="tim", password="pw")
    try:
        response = client.respond(challenge)
    except SASLError:
        assert challenge == b""
    else:
        assert response.startswith(b"tim ") and len(response) == 4 + 32
