"""Remote delivery: from the queue to the next hop over SMTP.

For each destination (a recipient domain, or the smart host that takes
everything) the agent finds the hosts to try (RFC 5321 section 5.1 through
:func:`rfcmail.mx.resolve_targets_async`: MX records in preference order,
implicit MX, null MX, address literals), tries each address of each host in
turn until one answers, and sends every message bound for that destination
over that one connection (RSET-free: each transaction ends with its own
reply). Per recipient:

* 2xx after the data: delivered (``relayed`` for DSN purposes);
* 5xx (to RCPT, MAIL or the data): failed, bounced by the caller;
* 4xx, a dropped connection, or no host answering: pending, retried later
  (RFC 5321 section 4.5.4.1).

TLS: opportunistic STARTTLS by default, with certificate checks off, since
MTA-to-MTA TLS without DANE or MTA-STS cannot expect certificates to verify
(RFC 3207 section 4.1, RFC 7435); it protects against passive listeners
only. ``tls_mode=TLSMode.STARTTLS_REQUIRED`` and a verifying context make it
mandatory, as a smart host configuration usually should be.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from .._tls import TLSMode, client_context
from ..aio.smtp import SMTPClient, SMTPClientError
from ..blocking.smtp import ClientTimeouts, SendResult
from ..errors import ProtocolError
from ..mx import (
    DEFAULT_MX_CONFIG,
    AsyncResolver,
    MXConfig,
    MXFailure,
    MXLookupError,
    RandomSource,
    resolve_targets_async,
)
from ..smtp import OriginalRecipient, Reply
from .queue import DeliveryState, QueueEntry, RecipientOutcome, RecipientStatus

__all__ = ["DeliveryJob", "RemoteDelivery", "SmartHost", "reply_line"]

log = logging.getLogger("rfcmail.mta.delivery")


def reply_line(reply: Reply) -> str:
    """A reply as one line, ``"550 5.1.1 User unknown"``, for logs, queue state and DSNs."""
    text = " ".join(line.strip() for line in reply.lines if line.strip())
    enhanced = f" {reply.enhanced}" if reply.enhanced is not None else ""
    return f"{reply.code}{enhanced} {text}".strip()


@dataclass(frozen=True, slots=True, kw_only=True)
class SmartHost:
    """A relay host that takes every remote message (the classic "smart relay host").

    Attributes:
        host: its name or address.
        port: its port (25 or 587 usually).
        username: for AUTH, when the relay wants it.
        password: for AUTH.
        tls_mode: STARTTLS required by default when credentials are given.
        tls_context: the context to verify it with (system trust by default).
    """

    host: str
    port: int = 25
    username: str | None = None
    password: str | None = None
    tls_mode: TLSMode | None = None
    tls_context: ssl.SSLContext | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryJob:
    """One queued message and the recipients to try for it now.

    Attributes:
        entry: the queue entry (envelope, DSN parameters).
        recipients: the pending recipients bound for this destination.
        open_message: returns a fresh binary stream of the message (called
            once per attempt, so a retry on another host starts over).
    """

    entry: QueueEntry
    recipients: tuple[RecipientStatus, ...]
    open_message: Callable[[], BinaryIO]


@dataclass
class RemoteDelivery:
    """Delivers jobs to remote hosts over SMTP.

    Attributes:
        hostname: our EHLO name.
        resolver: the asynchronous MX resolver (unused with a smart host).
        smart_host: send everything there instead of looking up MX records.
        port: the SMTP port of MX hosts (25; tests use another).
        tls_mode: how to use TLS with MX hosts.
        tls_context: the context for STARTTLS with MX hosts; by default one
            that does not verify certificates (opportunistic TLS).
        mx_config: caps, local names and the address policy for MX plans.
        timeouts: the client's timeouts (RFC 5321 section 4.5.3.2).
        rng: the random source that orders MX hosts of equal preference.
    """

    hostname: str
    resolver: AsyncResolver | None = None
    smart_host: SmartHost | None = None
    port: int = 25
    tls_mode: TLSMode = TLSMode.STARTTLS_OPPORTUNISTIC
    tls_context: ssl.SSLContext | None = None
    mx_config: MXConfig = DEFAULT_MX_CONFIG
    timeouts: ClientTimeouts = field(default_factory=ClientTimeouts)
    rng: RandomSource | None = None

    def _mx_context(self) -> ssl.SSLContext:
        if self.tls_context is None:
            self.tls_context = client_context(verify=False)
        return self.tls_context

    async def _targets(self, domain: str) -> list[tuple[str, str, int, TLSMode, ssl.SSLContext]]:
        """(server name, address, port, TLS mode, context) in the order to try."""
        if self.smart_host is not None:
            smart = self.smart_host
            mode = smart.tls_mode or (TLSMode.STARTTLS_REQUIRED if smart.username
                                      else TLSMode.STARTTLS_OPPORTUNISTIC)
            # Verify the smart host when TLS is required of it; opportunistic TLS
            # without verification otherwise (RFC 7435), as with MX hosts.
            context = smart.tls_context or client_context(verify=mode is not TLSMode.STARTTLS_OPPORTUNISTIC)
            return [(smart.host, smart.host, smart.port, mode, context)]
        if self.resolver is None:
            raise MXLookupError(f"{domain}: no resolver configured and no smart host",
                                failure=MXFailure.SERVFAIL, name=domain)
        plan = await resolve_targets_async(domain, self.resolver, config=self.mx_config,
                                           rng=self.rng)
        return [(host, address, self.port, self.tls_mode, self._mx_context())
                for host, address in plan.addresses()]

    async def deliver(self, destination: str, jobs: Sequence[DeliveryJob]) -> dict[str, list[RecipientOutcome]]:
        """Deliver ``jobs`` (all bound for ``destination``); return outcomes per queue id."""
        outcomes: dict[str, list[RecipientOutcome]] = {job.entry.queue_id: [] for job in jobs}
        try:
            targets = await self._targets(destination)
        except MXLookupError as exc:
            state = DeliveryState.FAILED if exc.permanent else DeliveryState.PENDING
            for job in jobs:
                outcomes[job.entry.queue_id] = [
                    RecipientOutcome(address=r.recipient.address, state=state, reply=exc.reply_hint)
                    for r in job.recipients]
            return outcomes
        remaining = list(jobs)
        last_error = "451 4.4.1 No answer from any host"
        for server_name, address, port, mode, context in targets:
            if not remaining:
                break
            client = SMTPClient(address, port, tls_mode=mode, tls_context=context,
                                server_hostname=server_name, local_hostname=self.hostname,
                                timeouts=self.timeouts)
            try:
                await client.connect()
                if self.smart_host is not None and self.smart_host.username:
                    await client.login(self.smart_host.username, self.smart_host.password or "")
            except (OSError, SMTPClientError, ProtocolError, asyncio.TimeoutError) as exc:
                last_error = f"451 4.4.1 {server_name} [{address}]:{port}: {_describe(exc)}"
                log.info("delivery to %s failed: %s", destination, last_error)
                client.close()
                continue
            try:
                while remaining:
                    job = remaining[0]
                    outcomes[job.entry.queue_id] = await self._send(client, job, server_name)
                    remaining.pop(0)
            except (OSError, SMTPClientError, ProtocolError, asyncio.TimeoutError) as exc:
                last_error = f"451 4.4.2 {server_name} [{address}]:{port}: {_describe(exc)}"
                log.info("connection to %s lost: %s", server_name, last_error)
                client.close()
                continue
            await client.quit()
        for job in remaining:
            outcomes[job.entry.queue_id] = [
                RecipientOutcome(address=r.recipient.address, state=DeliveryState.PENDING, reply=last_error)
                for r in job.recipients]
        return outcomes

    async def _send(self, client: SMTPClient, job: DeliveryJob, server_name: str) -> list[RecipientOutcome]:
        envelope = job.entry.envelope
        recipients = [r.recipient for r in job.recipients]
        notify_sets = {frozenset(r.notify) for r in recipients}
        notify = next(iter(notify_sets)) if len(notify_sets) == 1 and recipients[0].notify else None
        orcpt = [_orcpt(r.orcpt) for r in recipients]
        stream = job.open_message()
        try:
            result: SendResult = await client.send_message(
                stream, envelope.reverse_path, [r.address for r in recipients],
                size=job.entry.size, notify=notify, ret=envelope.ret, envid=envelope.envid,
                orcpt=orcpt if any(orcpt) else None,
            )
        except SMTPClientError as exc:
            reply = getattr(exc, "reply", None)
            if isinstance(reply, Reply):
                state = DeliveryState.FAILED if reply.is_permanent else DeliveryState.PENDING
                return [RecipientOutcome(address=r.address, state=state, reply=reply_line(reply),
                                         remote_mta=server_name) for r in recipients]
            raise
        finally:
            stream.close()
        outcomes = []
        for item in result.recipients:
            settled = item.data_reply if item.reply.is_completion else item.reply
            if item.accepted:
                state = DeliveryState.DELIVERED
            elif settled is not None and settled.is_permanent:
                state = DeliveryState.FAILED
            elif settled is None and result.mail_reply.is_permanent:
                state = DeliveryState.FAILED
                settled = result.mail_reply
            else:
                state = DeliveryState.PENDING
            shown = settled or result.data_reply or result.mail_reply
            outcomes.append(RecipientOutcome(address=item.address, state=state,
                                             reply=reply_line(shown), remote_mta=server_name))
        return outcomes


def _orcpt(value: str | None) -> OriginalRecipient | None:
    if not value or ";" not in value:
        return None
    addr_type, _, address = value.partition(";")
    try:
        return OriginalRecipient(addr_type=addr_type, address=address)
    except ProtocolError:
        return None


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())[:200]
