"""OAUTHBEARER (RFC 7628) and XOAUTH2 clients: RFC examples, the error challenge, argument checks."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfcmail.errors import LocalProtocolError
from rfcmail.sasl import SASLError, create_client
from rfcmail.sasl.xoauth2 import OAuthBearerClient, XOAuth2Client

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
