"""Driving a server mechanism from a protocol's framing (RFC 4422 section 5, RFC 4954 section 4).

:class:`ServerExchange` wraps a :class:`~rfcmail.sasl.ServerMechanism` for
a protocol adapter and settles the two points each protocol otherwise gets
wrong on its own:

- Success with additional data (SCRAM's server-final-message) in a protocol
  that cannot carry data with its success reply (SMTP ``235``, POP3 ``+OK``,
  IMAP4rev1 ``OK``): the data goes out as one more challenge, the client
  must answer it with an empty response, and only then is the success
  reported (RFC 4422 section 5 item 7).
- A bound on the number of round trips, so a mechanism bug or a peer can
  never keep an exchange open forever.

Client cancellation (``*``) is recognised by the protocol; it calls
:meth:`ServerExchange.cancel`.
"""

from __future__ import annotations

from ._base import Challenge, Failure, ServerMechanism, Step, Success

__all__ = ["DEFAULT_MAX_ROUND_TRIPS", "ServerExchange"]

DEFAULT_MAX_ROUND_TRIPS = 8
"""Most client responses one exchange takes (SCRAM needs three, LOGIN two)."""


class ServerExchange:
    """One server-side exchange, as a protocol adapter drives it.

    Example, for SMTP AUTH (base64 and reply codes are the adapter's)::

        exchange = ServerExchange(create_server(name, store))
        step = exchange.start(initial_response)      # None when the client sent none
        while isinstance(step, Challenge):
            send(b"334 " + base64.b64encode(step.data))
            line = read_line()
            step = exchange.cancel() if line == b"*" else exchange.step(base64.b64decode(line))
        if isinstance(step, Success): send(b"235 2.7.0 Authentication successful")
        elif step.temporary: send(b"454 4.7.0 Temporary authentication failure")
        elif step.malformed: send(b"501 5.5.2 Cannot decode response")
        else: send(b"535 5.7.8 Authentication credentials invalid")

    Args:
        mechanism: a fresh server mechanism.
        success_data: the protocol can send additional data with its success
            reply (IMAP4rev2 ``OK [SASL-IR]``-style, or a custom protocol);
            when false (the default) additional data becomes a last challenge.
        max_round_trips: most responses taken before failing the exchange.
    """

    def __init__(
        self,
        mechanism: ServerMechanism,
        *,
        success_data: bool = False,
        max_round_trips: int = DEFAULT_MAX_ROUND_TRIPS,
    ) -> None:
        if max_round_trips < 1:
            raise ValueError(f"max_round_trips must be at least 1, got {max_round_trips}")
        self.mechanism = mechanism
        self.success_data = success_data
        self.max_round_trips = max_round_trips
        self._round_trips = 0
        self._pending: Success | None = None
        self._result: Success | Failure | None = None

    @property
    def result(self) -> Success | Failure | None:
        """The final outcome, once there is one."""
        return self._result

    def start(self, initial_response: bytes | None) -> Step:
        """Begin with the client's initial response (``None`` if it sent none)."""
        return self._settle(self.mechanism.start(initial_response))

    def step(self, response: bytes) -> Step:
        """Take the client's (base64-decoded) response to the last challenge."""
        if self._result is not None:
            return self._result
        self._round_trips += 1
        if self._round_trips > self.max_round_trips:
            return self._end(
                Failure(reason=f"more than max_round_trips={self.max_round_trips} responses", malformed=True)
            )
        if self._pending is not None:
            pending, self._pending = self._pending, None
            if response:
                return self._end(Failure(reason="non-empty response to the final server data", malformed=True))
            return self._end(pending)
        return self._settle(self.mechanism.step(response))

    def cancel(self) -> Failure:
        """The client cancelled (``*``): end the exchange (RFC 4954 section 4 answers 501)."""
        if not self.mechanism.complete:
            self.mechanism.abort()
        self._pending = None
        failure = Failure(reason="authentication cancelled", malformed=True)
        self._result = failure
        return failure

    def _settle(self, step: Step) -> Step:
        if isinstance(step, Success) and step.additional_data is not None and not self.success_data:
            self._pending = Success(authcid=step.authcid, authzid=step.authzid)
            return Challenge(data=step.additional_data)
        if isinstance(step, Success | Failure):
            return self._end(step)
        return step

    def _end(self, result: Success | Failure) -> Success | Failure:
        self._result = result
        return result
