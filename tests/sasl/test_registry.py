"""Factories, mechanism choice (SECURITY A6.1) and every client against every server in memory."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfcmail.sasl import (
    BearerToken,
    DEFAULT_MAX_RESPONSE_SIZE,
    PASSWORD_MECHANISMS,
    TOKEN_MECHANISMS,
    ChannelBinding,
    Challenge,
    ClientMechanism,
    Failure,
    InMemoryCredentialStore,
    SASLError,
    ServerMechanism,
    Success,
    UnknownMechanismError,
    choose_mechanism,
    client_mechanisms,
    create_client,
    create_server,
    server_mechanisms,
)

from . import run_exchange

STORE = InMemoryCredentialStore({"alice": "secret"})
CB = ChannelBinding(type="tls-exporter", data=b"\x07" * 32)
SERVER_NAMES = [*PASSWORD_MECHANISMS, *TOKEN_MECHANISMS, "EXTERNAL"]
CLIENT_NAMES = [*PASSWORD_MECHANISMS, *TOKEN_MECHANISMS, "EXTERNAL"]


def _client(name: str) -> ClientMechanism:
    return create_client(name, username="alice", password="secret", token="tok", host="localhost", port=143,
                         channel_binding=CB)


def _validate(token: BearerToken) -> str | None:
    return "alice" if token.token == "tok" else None


def _server(name: str) -> ServerMechanism:
    return create_server(name, STORE, channel_binding=CB if name.endswith("-PLUS") else None,
                         external_identity="alice", token_validator=_validate)


def test_client_and_server_lists() -> None:
    assert client_mechanisms()[:4] == ("SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1")
    assert server_mechanisms(STORE, tls=False) == ("SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5")
    assert server_mechanisms(STORE, tls=True) == ("SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "LOGIN")
    assert server_mechanisms(STORE, tls=False, allow_plaintext=True)[-2:] == ("PLAIN", "LOGIN")
    assert server_mechanisms(STORE, tls=True, channel_binding=True)[:2] == ("SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS")
    assert server_mechanisms(STORE, tls=True, bearer=True)[-2:] == ("OAUTHBEARER", "XOAUTH2")
    assert "OAUTHBEARER" not in server_mechanisms(STORE, tls=False, bearer=True)


@pytest.mark.parametrize(
    ("offered", "tls", "allow_plaintext", "channel_binding", "expected"),
    [
        (["PLAIN", "LOGIN"], False, False, False, None),
        (["PLAIN", "LOGIN"], True, False, False, "PLAIN"),
        (["LOGIN"], False, True, False, "LOGIN"),
        (["plain", "scram-sha-1", "CRAM-MD5"], False, False, False, "SCRAM-SHA-1"),
        (["SCRAM-SHA-1", "SCRAM-SHA-256"], False, False, False, "SCRAM-SHA-256"),
        (["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1"], True, False, False, "SCRAM-SHA-1"),
        (["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1"], True, False, True, "SCRAM-SHA-256-PLUS"),
        (["CRAM-MD5", "PLAIN"], False, False, False, "CRAM-MD5"),
        (["GSSAPI", "DIGEST-MD5"], True, True, True, None),
        ([], True, True, True, None),
    ],
)
def test_choose_mechanism(offered: list[str], tls: bool, allow_plaintext: bool, channel_binding: bool,
                          expected: str | None) -> None:
    assert choose_mechanism(offered, tls=tls, allow_plaintext=allow_plaintext, channel_binding=channel_binding) == expected


def test_choose_token_mechanisms_only_over_tls() -> None:
    assert choose_mechanism(["XOAUTH2", "OAUTHBEARER"], tls=False, candidates=TOKEN_MECHANISMS) is None
    assert choose_mechanism(["XOAUTH2", "OAUTHBEARER"], tls=True, candidates=TOKEN_MECHANISMS) == "OAUTHBEARER"
    assert choose_mechanism(["XOAUTH2"], tls=True, candidates=TOKEN_MECHANISMS) == "XOAUTH2"
    assert choose_mechanism(["EXTERNAL", "PLAIN"], tls=True, candidates=("EXTERNAL",)) == "EXTERNAL"


def test_unknown_names() -> None:
    with pytest.raises(UnknownMechanismError):
        create_client("DIGEST-MD5", username="a", password="b")
    with pytest.raises(UnknownMechanismError):
        create_server("XOAUTH2", STORE)
    with pytest.raises(ValueError):
        create_server("GSSAPI", STORE)


def test_names_are_case_insensitive() -> None:
    assert create_client(" scram-sha-1 ", username="a", password="b").name == "SCRAM-SHA-1"
    assert create_server("plain", STORE).name == "PLAIN"


@pytest.mark.parametrize("name", SERVER_NAMES)
def test_matching_client_and_server_succeed(name: str) -> None:
    result, _ = run_exchange(_client(name), _server(name))
    assert isinstance(result, Success), result
    assert result.authcid == "alice"


@pytest.mark.parametrize(
    ("client_name", "server_name"),
    [pair for pair in itertools.product(CLIENT_NAMES, SERVER_NAMES) if pair[0] != pair[1]],
)
def test_mismatched_pairs_end_cleanly(client_name: str, server_name: str) -> None:
    """A client of one mechanism against a server of another: Failure or SASLError, never a crash.

    One pair succeeds, rightly: LOGIN answers EXTERNAL's empty challenge with
    the user name, which EXTERNAL takes as an authzid equal to the identity
    the adapter already established. SCRAM with and without -PLUS differ in
    the gs2 flag, which each server checks.
    """
    client, server = _client(client_name), _server(server_name)
    initial = client.initial_response() if client.has_initial_response else None
    step = server.start(initial)
    try:
        for _ in range(5):
            if not isinstance(step, Challenge):
                break
            step = server.step(client.respond(step.data))
        if isinstance(step, Success):
            client.verify_success(step.additional_data)
    except SASLError:
        return
    assert isinstance(step, Failure | Success)
    if isinstance(step, Success):
        assert (client_name, server_name) == ("LOGIN", "EXTERNAL")


@given(st.sampled_from(CLIENT_NAMES), st.lists(st.binary(max_size=80), min_size=4, max_size=8))
def test_clients_bound_the_number_of_challenges(name: str, challenges: list[bytes]) -> None:
    """SECURITY A6.3: no client answers more than three challenges, and only SASLError is raised."""
    client = _client(name)
    answered = 0
    with pytest.raises(SASLError):
        for challenge in challenges:
            client.respond(challenge)
            answered += 1
        raise SASLError("all challenges answered")
    assert answered <= 3


@pytest.mark.parametrize("name", SERVER_NAMES)
@pytest.mark.parametrize("size", [DEFAULT_MAX_RESPONSE_SIZE - 1, DEFAULT_MAX_RESPONSE_SIZE, DEFAULT_MAX_RESPONSE_SIZE + 1])
def test_default_max_response_size_boundary(name: str, size: int) -> None:
    """Every server mechanism looks at 8192 octets at most, by default (N-1, N, N+1)."""
    step = _server(name).start(b"x" * size)
    over = isinstance(step, Failure) and "max_response_size" in step.reason
    assert over is (size > DEFAULT_MAX_RESPONSE_SIZE)
    if over:
        assert isinstance(step, Failure) and step.malformed


@given(st.sampled_from(SERVER_NAMES), st.one_of(st.none(), st.binary(max_size=120)),
       st.lists(st.binary(max_size=120), max_size=4))
def test_every_server_takes_arbitrary_bytes_without_raising(name: str, initial: bytes | None,
                                                            responses: list[bytes]) -> None:
    """Server mechanisms never raise on client data (only a Challenge, Success or Failure comes back)."""
    server = _server(name)
    step = server.start(initial)
    for response in responses:
        if not isinstance(step, Challenge):
            break
        step = server.step(response)
    assert isinstance(step, Challenge | Success | Failure)
    assert server.complete is not isinstance(step, Challenge)
