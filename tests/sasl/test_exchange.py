"""ServerExchange: a server mechanism driven from a protocol's framing, as adapters do."""

from __future__ import annotations

import base64

import pytest

from rfcmail.sasl import (
    DEFAULT_MAX_ROUND_TRIPS,
    Challenge,
    Failure,
    InMemoryCredentialStore,
    SASLError,
    ServerExchange,
    Success,
    create_client,
    create_server,
)

STORE = InMemoryCredentialStore({"alice": "secret"})


def smtp_auth(mechanism: str, password: str, *, initial: bool = True) -> list[bytes]:
    """A toy SMTP AUTH server and client joined by base64 lines: the framing a real adapter does."""
    client = create_client(mechanism, username="alice", password=password)
    exchange = ServerExchange(create_server(mechanism, STORE))
    wire: list[bytes] = []
    first = client.initial_response() if initial and client.has_initial_response else None
    wire.append(b"AUTH " + mechanism.encode() + (b" " + (base64.b64encode(first) or b"=") if first is not None else b""))
    step = exchange.start(first)
    while isinstance(step, Challenge):
        wire.append(b"334 " + base64.b64encode(step.data))
        try:
            line = base64.b64encode(client.respond(step.data))
        except SASLError:
            line = b"*"
        wire.append(line)
        step = exchange.cancel() if line == b"*" else exchange.step(base64.b64decode(line))
    if isinstance(step, Success):
        client.verify_success(None)
        wire.append(b"235 2.7.0 Authentication successful")
    elif step.malformed:
        wire.append(b"501 5.5.2 Cannot decode response")
    else:
        wire.append(b"535 5.7.8 Authentication credentials invalid")
    assert exchange.result is step
    return wire


def test_scram_server_final_goes_out_as_a_last_challenge() -> None:
    wire = smtp_auth("SCRAM-SHA-256", "secret")
    assert [line[:4] for line in wire] == [b"AUTH", b"334 ", b"Yz1i", b"334 ", b"", b"235 "]  # "Yz1i" = b64("c=b")
    assert base64.b64decode(wire[3][4:]).startswith(b"v=")
    assert wire[4] == b""


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1"])
def test_each_mechanism_through_smtp_framing(mechanism: str) -> None:
    assert smtp_auth(mechanism, "secret")[-1].startswith(b"235 ")
    assert smtp_auth(mechanism, "wrong")[-1].startswith(b"535 ")
    assert smtp_auth(mechanism, "secret", initial=False)[-1].startswith(b"235 ")


def test_success_data_allowed_passes_it_with_success() -> None:
    client = create_client("SCRAM-SHA-1", username="alice", password="secret")
    exchange = ServerExchange(create_server("SCRAM-SHA-1", STORE), success_data=True)
    step = exchange.start(client.initial_response())
    assert isinstance(step, Challenge)
    result = exchange.step(client.respond(step.data))
    assert isinstance(result, Success) and result.additional_data is not None
    client.verify_success(result.additional_data)


def test_non_empty_answer_to_final_data_fails() -> None:
    client = create_client("SCRAM-SHA-1", username="alice", password="secret")
    exchange = ServerExchange(create_server("SCRAM-SHA-1", STORE))
    step = exchange.start(client.initial_response())
    assert isinstance(step, Challenge)
    final = exchange.step(client.respond(step.data))
    assert isinstance(final, Challenge)
    result = exchange.step(b"junk")
    assert isinstance(result, Failure) and result.malformed
    assert exchange.step(b"") is result  # finished: the result stays


def test_cancel_and_cancel_during_final_data() -> None:
    exchange = ServerExchange(create_server("LOGIN", STORE))
    exchange.start(None)
    assert exchange.cancel() == Failure(reason="authentication cancelled", malformed=True)
    assert exchange.mechanism.complete
    client = create_client("SCRAM-SHA-256", username="alice", password="secret")
    exchange = ServerExchange(create_server("SCRAM-SHA-256", STORE))
    step = exchange.start(client.initial_response())
    assert isinstance(step, Challenge)
    assert isinstance(exchange.step(client.respond(step.data)), Challenge)
    assert exchange.cancel().malformed
    assert isinstance(exchange.result, Failure)


class _Chatty:
    """A mechanism that never ends, to prove the round-trip bound."""

    name = "CHATTY"
    complete = False

    def start(self, initial_response: bytes | None) -> Challenge:
        return Challenge(data=b"more")

    def step(self, response: bytes) -> Challenge:
        return Challenge(data=b"more")

    def abort(self) -> Failure:
        return Failure(reason="aborted")


@pytest.mark.parametrize(("limit", "responses", "ended"), [(3, 2, False), (3, 3, False), (3, 4, True)])
def test_round_trip_limit_boundary(limit: int, responses: int, ended: bool) -> None:
    exchange = ServerExchange(_Chatty(), max_round_trips=limit)
    step = exchange.start(None)
    for _ in range(responses):
        step = exchange.step(b"x")
    assert isinstance(step, Failure) is ended
    if ended:
        assert isinstance(step, Failure) and f"max_round_trips={limit}" in step.reason


def test_round_trip_limit_default_and_validation() -> None:
    assert DEFAULT_MAX_ROUND_TRIPS >= 3
    with pytest.raises(ValueError):
        ServerExchange(_Chatty(), max_round_trips=0)
