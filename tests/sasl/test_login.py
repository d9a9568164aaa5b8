"""LOGIN (draft-murchison-sasl-login): both sides, prompts, hostile input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfcmail.errors import LocalProtocolError
from rfcmail.sasl import Challenge, Failure, InMemoryCredentialStore, SASLError, Success, create_client, create_server
from rfcmail.sasl.login import LoginServer

from . import run_exchange

STORE = InMemoryCredentialStore({"alice": "secret"})


def test_exchange_and_transcript() -> None:
    client = create_client("LOGIN", username="alice", password="secret")
    assert not client.has_initial_response
    assert client.initial_response() is None
    result, transcript = run_exchange(client, create_server("LOGIN", STORE))
    assert transcript == [("S", b"Username:"), ("C", b"alice"), ("S", b"Password:"), ("C", b"secret")]
    assert result == Success(authcid="alice", authzid="")


def test_user_name_as_initial_response() -> None:
    """Clients such as Outlook send AUTH LOGIN <base64 user>; only the password is asked."""
    server = create_server("LOGIN", STORE)
    assert server.start(b"alice") == Challenge(data=b"Password:")
    assert server.step(b"secret") == Success(authcid="alice", authzid="")


def test_client_answers_prompts_in_order_whatever_their_text() -> None:
    client = create_client("LOGIN", username="alice", password="secret")
    assert client.respond(b"User Name\x00") == b"alice"
    assert client.respond(b"") == b"secret"
    with pytest.raises(SASLError):
        client.respond(b"Password:")


@pytest.mark.parametrize(("username", "password"), [("alice", "wrong"), ("mallory", "secret")])
def test_wrong_password_and_unknown_user_fail_alike(username: str, password: str) -> None:
    result, _ = run_exchange(create_client("LOGIN", username=username, password=password), create_server("LOGIN", STORE))
    assert result == Failure(reason="invalid credentials")


@pytest.mark.parametrize(
    ("username", "password"),
    [(b"", b"secret"), (b"alice", b""), (b"al\xffice", b"secret"), (b"alice", b"sec\xc3"),
     (b"ali\r\nce", b"secret"), (b"alice", b"sec\x00ret"), (b"alice\n", b"secret")],
)
def test_malformed_responses(username: bytes, password: bytes) -> None:
    server = create_server("LOGIN", STORE)
    server.start(None)
    step = server.step(username)
    if isinstance(step, Challenge):
        step = server.step(password)
    assert isinstance(step, Failure) and step.malformed


@pytest.mark.parametrize("bad", ["\r", "\n", "\x00"])
def test_client_refuses_control_characters(bad: str) -> None:
    with pytest.raises(LocalProtocolError):
        create_client("LOGIN", username="a" + bad, password="secret")
    with pytest.raises(LocalProtocolError):
        create_client("LOGIN", username="alice", password="s" + bad)


def test_client_refuses_empty_arguments() -> None:
    with pytest.raises(LocalProtocolError):
        create_client("LOGIN", username="", password="secret")
    with pytest.raises(LocalProtocolError):
        create_client("LOGIN", username="alice", password="")


@pytest.mark.parametrize(("size", "accepted"), [(31, True), (32, True), (33, False)])
def test_max_response_size_boundary(size: int, accepted: bool) -> None:
    store = InMemoryCredentialStore({"alice": "x" * size})
    server = LoginServer(store, max_response_size=32)
    server.start(None)
    server.step(b"alice")
    result = server.step(b"x" * size)
    assert isinstance(result, Success) is accepted
    if not accepted:
        assert isinstance(result, Failure) and "max_response_size=32" in result.reason


@given(st.lists(st.binary(max_size=64), min_size=1, max_size=3))
def test_arbitrary_responses_never_raise(responses: list[bytes]) -> None:
    server = create_server("LOGIN", STORE)
    step = server.start(None)
    for response in responses:
        if not isinstance(step, Challenge):
            break
        step = server.step(response)
    assert isinstance(step, Challenge | Failure | Success)
    if isinstance(step, Success):
        assert responses[:2] == [b"alice", b"secret"]
