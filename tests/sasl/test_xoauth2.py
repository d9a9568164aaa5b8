"""OAUTHBEARER (RFC 7628) and XOAUTH2: RFC examples both sides, the error challenge, hostile input."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfcmail.errors import LocalProtocolError
from rfcmail.sasl import (
    BearerToken,
    Challenge,
    CredentialsUnavailable,
    Failure,
    InMemoryCredentialStore,
    SASLError,
    Success,
    TokenValidator,
    UnknownMechanismError,
    create_client,
    create_server,
)
from rfcmail.sasl.xoauth2 import DEFAULT_BEARER_ERROR, BearerServer, OAuthBearerClient, XOAuth2Client

from . import run_exchange

TOKEN = "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="


def test_rfc7628_4_1_imap_initial_response() -> None:
    client = create_client("OAUTHBEARER", username="user@example.com", token=TOKEN, host="server.example.com", port=143)
    expected = base64.b64decode(
        "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyI"
        "HZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB"
    )
    assert client.initial_response() == expected
    client.verify_success(None)
    assert client.complete


def test_rfc7628_4_1_smtp_initial_response() -> None:
    client = create_client("OAUTHBEARER", authzid="user@example.com", token=TOKEN, host="server.example.com", port=587)
    assert client.initial_response() == (
        b"n,a=user@example.com,\x01host=server.example.com\x01port=587\x01auth=Bearer " + TOKEN.encode() + b"\x01\x01"
    )


def test_rfc7628_4_3_failed_exchange() -> None:
    """Empty token to discover the scope; the error JSON is answered with the %x01 dummy."""
    client = create_client("OAUTHBEARER", username="user@example.com", host="server.example.com", port=143)
    first = client.initial_response()
    assert first == base64.b64decode("bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9AQE=")
    error = base64.b64decode(
        "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NvcGUiOiJleGFtcGxlX3Njb3BlIiwib3BlbmlkLWNvbmZpZ3VyYXRpb24iOiJodHRwczovL2V4"
        "YW1wbGUuY29tLy53ZWxsLWtub3duL29wZW5pZC1jb25maWd1cmF0aW9uIn0="
    )
    assert client.respond(error) == base64.b64decode("AQ==")
    assert isinstance(client, OAuthBearerClient)
    assert client.error is not None and client.error["status"] == "invalid_token"
    assert client.error["scope"] == "example_scope"
    with pytest.raises(SASLError):
        client.respond(error)
    with pytest.raises(SASLError):
        client.verify_success(None)


def test_oauthbearer_without_host_port_and_escaped_authzid() -> None:
    client = OAuthBearerClient(authzid="a,b=c", token="t")
    assert client.initial_response() == b"n,a=a=2Cb=3Dc,\x01auth=Bearer t\x01\x01"
    assert OAuthBearerClient(token="t").initial_response() == b"n,,\x01auth=Bearer t\x01\x01"


def test_xoauth2_initial_response_and_error() -> None:
    client = create_client("XOAUTH2", username="someuser@example.com", token="ya29.vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg")
    assert client.initial_response() == (
        b"user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg\x01\x01"
    )
    assert client.respond(b'{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}') == b""
    assert isinstance(client, XOAuth2Client) and client.error == {
        "status": "401", "schemes": "bearer", "scope": "https://mail.google.com/"}


def test_bearer_clients_send_on_empty_first_challenge() -> None:
    client = create_client("XOAUTH2", username="u", token="t")
    assert client.respond(b"").startswith(b"user=u\x01")


@pytest.mark.parametrize("challenge", [b"not json", b"[1, 2]", b"\xff\xfe", b"{" * 5000])
def test_error_challenge_that_is_not_a_json_object_is_kept_raw(challenge: bytes) -> None:
    client = XOAuth2Client(username="u", token="t")
    client.initial_response()
    assert client.respond(challenge) == b""
    assert client.error is not None and "raw" in client.error


@pytest.mark.parametrize(
    ("mechanism", "username", "token", "host", "port"),
    [
        ("XOAUTH2", "", "t", "", 0),
        ("XOAUTH2", "u\x01", "t", "", 0),
        ("XOAUTH2", "u\r\n", "t", "", 0),
        ("XOAUTH2", "u", "", "", 0),
        ("XOAUTH2", "u", "bad token", "", 0),
        ("XOAUTH2", "u", "t\x01", "", 0),
        ("OAUTHBEARER", "u", "t\r\n", "", 0),
        ("OAUTHBEARER", "u", "t", "h\x01", 0),
        ("OAUTHBEARER", "u", "t", "h\n", 0),
        ("OAUTHBEARER", "u", "t", "h", 70000),
        ("OAUTHBEARER", "u\x00", "t", "h", 1),
    ],
)
def test_argument_errors(mechanism: str, username: str, token: str, host: str, port: int) -> None:
    with pytest.raises(LocalProtocolError):
        create_client(mechanism, username=username, token=token, host=host, port=port)


@given(st.binary(max_size=200))
def test_clients_raise_only_sasl_error(challenge: bytes) -> None:
    for client in (XOAuth2Client(username="u", token="t"), OAuthBearerClient(token="t")):
        client.initial_response()
        response = client.respond(challenge)
        assert response in (b"", b"\x01")
        with pytest.raises(SASLError):
            client.respond(challenge)


# --- the server side ----------------------------------------------------------------------------

SERVER_STORE = InMemoryCredentialStore({}, authorizations={"svc@example.com": ["user@example.com"]})
SEEN: list[BearerToken] = []


def _validator(token: BearerToken) -> str | None:
    SEEN.append(token)
    return {TOKEN: "user@example.com", "svc-token": "svc@example.com"}.get(token.token)


def _bearer_server(mechanism: str, validator: TokenValidator = _validator) -> BearerServer:
    return BearerServer(mechanism, SERVER_STORE, token_validator=validator)


def test_rfc7628_4_1_server_accepts_and_sees_host_and_port() -> None:
    SEEN.clear()
    client = create_client("OAUTHBEARER", username="user@example.com", token=TOKEN, host="server.example.com", port=143)
    result, transcript = run_exchange(client, create_server("OAUTHBEARER", SERVER_STORE, token_validator=_validator))
    assert result == Success(authcid="user@example.com", authzid="user@example.com")
    assert len(transcript) == 1
    assert SEEN == [BearerToken(mechanism="OAUTHBEARER", user="user@example.com", token=TOKEN,
                                host="server.example.com", port=143)]


def test_rfc7628_4_3_server_sends_error_and_takes_the_dummy() -> None:
    client = create_client("OAUTHBEARER", username="user@example.com", host="server.example.com", port=143)
    result, transcript = run_exchange(client, _bearer_server("OAUTHBEARER"))
    assert result == Failure(reason="invalid token")
    assert transcript[1:] == [("S", DEFAULT_BEARER_ERROR), ("C", b"\x01")]
    assert isinstance(client, OAuthBearerClient) and client.error == {"status": "invalid_token"}


def test_xoauth2_server() -> None:
    client = create_client("XOAUTH2", username="user@example.com", token=TOKEN)
    result, _ = run_exchange(client, _bearer_server("XOAUTH2"))
    assert result == Success(authcid="user@example.com", authzid="")
    client = create_client("XOAUTH2", username="user@example.com", token="expired")
    result, transcript = run_exchange(client, _bearer_server("XOAUTH2"))
    assert result == Failure(reason="invalid token")
    assert transcript[-1] == ("C", b"")


def test_authzid_needs_authorization() -> None:
    allowed = create_client("OAUTHBEARER", authzid="user@example.com", token="svc-token")
    assert run_exchange(allowed, _bearer_server("OAUTHBEARER"))[0] == Success(
        authcid="svc@example.com", authzid="user@example.com")
    refused = create_client("OAUTHBEARER", authzid="other@example.com", token="svc-token")
    result, _ = run_exchange(refused, _bearer_server("OAUTHBEARER"))
    assert isinstance(result, Failure) and "authzid" in result.reason


def test_no_initial_response_and_wrong_dummy() -> None:
    server = _bearer_server("OAUTHBEARER")
    assert server.start(None) == Challenge(data=b"")
    assert server.step(b"n,,\x01auth=Bearer nope\x01\x01") == Challenge(data=DEFAULT_BEARER_ERROR)
    result = server.step(b"\x01\x01")
    assert isinstance(result, Failure) and result.malformed


@pytest.mark.parametrize("mechanism", ["OAUTHBEARER", "XOAUTH2"])
@pytest.mark.parametrize("dummy", [b"\x01", b""])
def test_either_dummy_response_ends_the_refused_exchange(mechanism: str, dummy: bytes) -> None:
    server = _bearer_server(mechanism)
    first = b"n,,\x01auth=Bearer nope\x01\x01" if mechanism == "OAUTHBEARER" else b"user=u\x01auth=Bearer nope\x01\x01"
    assert server.start(first) == Challenge(data=DEFAULT_BEARER_ERROR)
    assert server.step(dummy) == Failure(reason="invalid token")


@pytest.mark.parametrize(
    ("mechanism", "response"),
    [
        ("OAUTHBEARER", b""),
        ("OAUTHBEARER", b"n,,auth=Bearer t\x01\x01"),
        ("OAUTHBEARER", b"p=tls-unique,,\x01auth=Bearer t\x01\x01"),
        ("OAUTHBEARER", b"n,b=x,\x01auth=Bearer t\x01\x01"),
        ("OAUTHBEARER", b"n,a=x=41,\x01auth=Bearer t\x01\x01"),
        ("OAUTHBEARER", b"n,,\x01auth=Bearer t\x01"),
        ("OAUTHBEARER", b"n,,\x01host=h\x01\x01"),
        ("OAUTHBEARER", b"n,,\x01auth=Basic dXNlcjpwdw==\x01\x01"),
        ("OAUTHBEARER", b"n,,\x01auth=Bearer bad token\x01\x01"),
        ("OAUTHBEARER", b"n,,\x01auth=Bearer t\x01port=x\x01\x01"),
        ("OAUTHBEARER", b"n,,\x01auth=Bearer t\x01auth=Bearer u\x01\x01"),
        ("OAUTHBEARER", b"n,,\x011=2\x01auth=Bearer t\x01\x01"),
        ("OAUTHBEARER", b"n,,\x01noequals\x01auth=Bearer t\x01\x01"),
        ("OAUTHBEARER", b"n,,\x01auth=Bearer t\r\n\x01\x01"),
        ("OAUTHBEARER", b"n,,\x01auth=Bearer \xff\x01\x01"),
        ("XOAUTH2", b"user=u\x01auth=Bearer t\x01"),
        ("XOAUTH2", b"user=\x01auth=Bearer t\x01\x01"),
        ("XOAUTH2", b"user=u\x01auth=\x01\x01"),
        ("XOAUTH2", b"user=u\x01\x01"),
        ("XOAUTH2", b"user=u\x01auth=Bearer t\x01host=h\x01\x01"),
    ],
)
def test_server_refuses_malformed_responses(mechanism: str, response: bytes) -> None:
    result = _bearer_server(mechanism).start(response)
    assert isinstance(result, Failure) and result.malformed


def test_bearer_scheme_is_case_insensitive_and_empty_pairs_are_allowed() -> None:
    assert isinstance(_bearer_server("OAUTHBEARER").start(b"n,,\x01auth=bEaReR " + TOKEN.encode() + b"\x01\x01"), Success)
    assert _bearer_server("OAUTHBEARER").start(b"y,,\x01\x01") == Failure(reason="malformed OAUTHBEARER client response",
                                                                           malformed=True)


def test_validator_unavailable_is_temporary() -> None:
    def down(token: BearerToken) -> str | None:
        raise CredentialsUnavailable("token endpoint down")

    result = _bearer_server("XOAUTH2", down).start(b"user=u\x01auth=Bearer t\x01\x01")
    assert isinstance(result, Failure) and result.temporary


def test_server_needs_a_validator_and_a_bearer_name() -> None:
    with pytest.raises(UnknownMechanismError):
        create_server("OAUTHBEARER", SERVER_STORE)
    with pytest.raises(ValueError):
        BearerServer("PLAIN", SERVER_STORE, token_validator=_validator)


@given(st.sampled_from(["OAUTHBEARER", "XOAUTH2"]), st.binary(max_size=120), st.binary(max_size=8))
def test_server_never_raises(mechanism: str, first: bytes, second: bytes) -> None:
    server = _bearer_server(mechanism)
    step = server.start(first)
    if isinstance(step, Challenge):
        step = server.step(second)
    assert isinstance(step, Challenge | Failure | Success)


_tokens = st.from_regex(r"[A-Za-z0-9\-._~+/]{1,20}=*", fullmatch=True)
_users = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters="\x01"), min_size=1, max_size=20)


@given(_users, _tokens, st.integers(0, 65535))
def test_generated_tokens_round_trip(user: str, token: str, port: int) -> None:
    received: list[BearerToken] = []

    def accept(seen: BearerToken) -> str:
        received.append(seen)
        return user

    for mechanism in ("OAUTHBEARER", "XOAUTH2"):
        received.clear()
        client = create_client(mechanism, username=user, token=token, host="h.example", port=port)
        result, _ = run_exchange(client, _bearer_server(mechanism, accept))
        assert isinstance(result, Success) and result.authcid == user
        assert received[0].token == token and received[0].user == user
