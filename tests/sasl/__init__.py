"""Tests of rfcmail.sasl, and an in-memory driver shared by them."""

from __future__ import annotations

from collections import Counter

from rfcmail.sasl import Challenge, ClientMechanism, Failure, ScramHash, ServerMechanism, Step, Success


def run_exchange(
    client: ClientMechanism,
    server: ServerMechanism,
    *,
    use_initial_response: bool = True,
    max_round_trips: int = 10,
) -> tuple[Step, list[tuple[str, bytes]]]:
    """Run one exchange in memory, the way a protocol adapter would.

    Returns the final server step and the transcript as ("C"|"S", bytes) pairs.
    Success with additional data is checked by the client with
    ``verify_success``, so a bad server signature raises SASLError here.
    """
    transcript: list[tuple[str, bytes]] = []
    initial = client.initial_response() if (use_initial_response and client.has_initial_response) else None
    if initial is not None:
        transcript.append(("C", initial))
    step = server.start(initial)
    for _ in range(max_round_trips):
        if not isinstance(step, Challenge):
            break
        transcript.append(("S", step.data))
        response = client.respond(step.data)
        transcript.append(("C", response))
        step = server.step(response)
    else:  # pragma: no cover - a bug in a mechanism
        raise AssertionError("exchange did not end")
    if isinstance(step, Success):
        client.verify_success(step.additional_data)
    assert isinstance(step, Success | Failure)
    return step, transcript


def counting_hash(hash_name: str) -> tuple[ScramHash, Counter[str]]:
    """A ScramHash that counts its calls (h, hmac, hi), for equal-work tests (SECURITY A6.2)."""
    calls: Counter[str] = Counter()

    class CountingHash(ScramHash):
        __slots__ = ()

        def h(self, data: bytes) -> bytes:
            calls["h"] += 1
            return super().h(data)

        def hmac(self, key: bytes, data: bytes) -> bytes:
            calls["hmac"] += 1
            return super().hmac(key, data)

        def hi(self, password: bytes, salt: bytes, iterations: int) -> bytes:
            calls["hi"] += 1
            return super().hi(password, salt, iterations)

    return CountingHash(hash_name), calls
