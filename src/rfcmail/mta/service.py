"""A complete store-and-forward MTA assembled from the library's pieces.

:class:`MTA` runs:

* an inbound SMTP server (MX-style: accepts mail for the local domains, and
  relays only for trusted networks or authenticated clients, SECURITY A6.4),
* optionally a submission server (RFC 6409: AUTH required, STARTTLS),
* the durable queue (every 250 is sent only after the message is on disk,
  fsync'ed, RFC 5321 section 6.1),
* the queue runner: local recipients go into Maildir, remote ones to their
  MX hosts (or a smart host), temporary failures are retried with back-off
  (RFC 5321 section 4.5.4.1), permanent ones and expired messages are
  bounced with RFC 3464 DSNs to the reverse path (never to ``<>``).

Every server connection adds a ``Received`` field (RFC 5321 section 4.4) and
refuses a message that already has :data:`~rfcmail.mta.local.DEFAULT_MAX_HOPS`
of them (``554 5.4.6``, RFC 5321 section 6.3). ``rfcmail serve`` and
``examples/mta.py`` are thin front ends to this class.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import re
import socket
import ssl
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..aio.smtp import ServerSettings, SMTPServer
from ..errors import LimitExceeded, ProtocolError
from ..limits import DEFAULT_LIMITS, Limits
from ..mx import AsyncResolver, MXConfig
from ..sasl import InMemoryCredentialStore
from ..smtp import (
    Config,
    Mail,
    PeerInfo,
    Rcpt,
    SessionContext,
    SMTPReplyError,
    parse_envid,
    parse_notify,
    parse_orcpt,
    parse_ret,
)
from ..store.maildir import MaildirStore
from ._due import DueIndex
from .delivery import DeliveryJob, RemoteDelivery, SmartHost
from .dsn import Action, RecipientReport, build_dsn_for_entry
from .local import DEFAULT_MAX_HOPS, LocalDelivery, count_received, received_field
from .policy import InMemoryUserDirectory, RelayPolicy, Route
from .queue import (
    DeliveryState,
    Envelope,
    Queue,
    QueueEntry,
    QueueError,
    QueueResourceError,
    ReceivedFrom,
    Recipient,
    RecipientOutcome,
    RecipientStatus,
)
from .schedule import DEFAULT_RETRY_POLICY, RetryAction, RetryPolicy, RetrySchedule

__all__ = ["MTA", "MTAConfig"]

log = logging.getLogger("rfcmail.mta")

_ENHANCED_RE = re.compile(r"[245]\d\d [45]\.(\d{1,3})\.(\d{1,3})\b")

_SPOOL_IN_MEMORY = 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class MTAConfig:
    """What an :class:`MTA` is and does.

    Attributes:
        hostname: our name (greeting, EHLO, Received, Reporting-MTA).
        data_dir: where the queue (``queue/``) and the mailboxes
            (``mail/<user>/``) live.
        local_domains: the domains delivered here.
        users: local users and their passwords (mailboxes, and AUTH on the
            submission server).
        relay_networks: client networks (CIDR) allowed to relay without AUTH.
        smart_host: send all remote mail there instead of MX hosts.
        resolver: the MX resolver for remote mail (none: remote mail waits
            for a smart host, temporary failure).
        delivery_port: the port of MX hosts (25).
        mx_config: MX plan settings (caps, local names, address policy).
        retry: the retry policy.
        max_hops: Received fields after which a message is a loop.
        limits: protocol limits of the servers and the queue.
        tls_context: server TLS context: STARTTLS on both servers.
        queue_interval: seconds between queue scans when nothing wakes the runner.
        hold: accept and queue mail but deliver nothing (a maintenance
            window, or measuring the accept path alone); queued mail is
            delivered after a start without it.
        queue_name: the spool directory under ``data_dir``. The default
            ``"queue"`` is the main one: at start it adopts the spools of
            worker processes (``queue-<n>``) left from an earlier run; a
            worker process has its own (see ``rfcmail serve --workers``).
    """

    hostname: str
    data_dir: Path
    local_domains: tuple[str, ...] = ("localhost",)
    users: Mapping[str, str] = field(default_factory=dict)
    relay_networks: tuple[str, ...] = ()
    smart_host: SmartHost | None = None
    resolver: AsyncResolver | None = None
    delivery_port: int = 25
    mx_config: MXConfig = field(default_factory=MXConfig)
    retry: RetryPolicy = DEFAULT_RETRY_POLICY
    max_hops: int = DEFAULT_MAX_HOPS
    limits: Limits = DEFAULT_LIMITS
    tls_context: ssl.SSLContext | None = None
    queue_interval: float = 30.0
    hold: bool = False
    queue_name: str = "queue"


class _InboundSession:
    """One SMTP connection: policy at RCPT, spool the data, queue at the end."""

    def __init__(self, mta: MTA, peer: PeerInfo) -> None:
        self.mta = mta
        self.peer = peer
        self.client_ip = peer.address[0] if peer.address else None
        # The trace data of this connection changes only with EHLO and AUTH.
        self._received_from: tuple[str | None, str | None, ReceivedFrom] | None = None
        self._reset_transaction()

    def _trace_source(self, context: SessionContext) -> ReceivedFrom:
        """The client's part of the Received field (RFC 5321 section 4.4), kept while EHLO and AUTH stay."""
        known = self._received_from
        if known is not None and known[0] == context.helo and known[1] == context.authenticated_as:
            return known[2]
        received_from = ReceivedFrom(
            helo=_printable(context.helo), address=self.client_ip,
            protocol="ESMTP", authenticated=context.authenticated_as)
        self._received_from = (context.helo, context.authenticated_as, received_from)
        return received_from

    def _reset_transaction(self) -> None:
        self.reverse_path: str | None = None
        self.ret: str | None = None
        self.envid: str | None = None
        self.recipients: list[Recipient] = []
        # Content is kept as a list of chunks up to _SPOOL_IN_MEMORY octets,
        # then in a file of the spool directory.
        self.chunks: list[bytes] = []
        self.spool: IO[bytes] | None = None
        self.size = 0

    def mail(self, mail: Mail, context: SessionContext) -> None:
        self._discard_spool()
        self._reset_transaction()
        try:
            ret = mail.param("RET")
            envid = mail.param("ENVID")
            self.ret = parse_ret(ret) if ret else None
            self.envid = parse_envid(envid) if envid else None
        except ProtocolError as exc:
            raise SMTPReplyError(501, "5.5.4", f"Bad DSN parameter: {exc}") from None
        self.reverse_path = mail.reverse_path

    def rcpt(self, rcpt: Rcpt, context: SessionContext) -> None:
        decision = self.mta.policy.check_recipient(
            rcpt.forward_path, client_address=self.client_ip,
            authenticated_user=context.authenticated_as)
        if not decision.accepted:
            raise SMTPReplyError(decision.code, decision.status, decision.text)
        try:
            notify = rcpt.param("NOTIFY")
            orcpt = rcpt.param("ORCPT")
            recipient = Recipient(
                address=rcpt.forward_path,
                notify=parse_notify(notify) if notify else frozenset(),
                orcpt=(lambda o: f"{o.addr_type};{o.address}")(parse_orcpt(orcpt)) if orcpt else None,
            )
        except (ProtocolError, ValueError) as exc:
            raise SMTPReplyError(501, "5.5.4", f"Bad DSN parameter: {exc}") from None
        self.recipients.append(recipient)

    def data(self, chunk: bytes, context: SessionContext) -> None:
        self.size += len(chunk)
        if self.spool is None and self.size <= _SPOOL_IN_MEMORY:
            self.chunks.append(chunk)
            return
        if self.spool is None:
            self.spool = tempfile.TemporaryFile(dir=str(self.mta.spool_dir))
            self.spool.writelines(self.chunks)
            self.chunks = []
        self.spool.write(chunk)

    async def end(self, context: SessionContext) -> str | None:
        spool, self.spool = self.spool, None
        content = b"".join(self.chunks) if spool is None else b""
        self.chunks = []
        try:
            if spool is not None:
                spool.seek(0)
                head = spool.read(DEFAULT_LIMITS.max_header_size)
            else:
                head = content[: DEFAULT_LIMITS.max_header_size]
            if count_received(head) >= self.mta.config.max_hops - 1:
                raise SMTPReplyError(554, "5.4.6", "Too many hops: this message is looping")
            received_from = self._trace_source(context)
            trace = received_field(
                by_host=self.mta.config.hostname, received_from=received_from,
                recipient=self.recipients[0].address if len(self.recipients) == 1 else None,
                tls=context.tls)
            envelope = Envelope(reverse_path=self.reverse_path or "", recipients=tuple(self.recipients),
                                ret=self.ret, envid=self.envid, received_from=received_from)
            # A message held in memory goes to the queue as bytes (group
            # commit through the journal); a larger one as a stream.
            message: bytes | _Prefixed
            if spool is None:
                message = trace + content
            else:
                spool.seek(0)
                message = _Prefixed(trace, spool)
            try:
                queue_id = await self.mta.queue.enqueue_async(envelope, message)  # type: ignore[arg-type]
                self.mta.track(queue_id, envelope, len(trace) + self.size)
            except QueueResourceError:
                raise SMTPReplyError(452, "4.3.1", "Insufficient system storage") from None
            except LimitExceeded:
                raise SMTPReplyError(552, "5.3.4", "Message too big") from None
            except QueueError:
                raise SMTPReplyError(451, "4.3.0", "Queue unavailable, try again later") from None
        finally:
            if spool is not None:
                spool.close()
            self._reset_transaction()
        self.mta.wake()
        return f"Queued as {queue_id}"

    def _discard_spool(self) -> None:
        self.chunks = []
        if self.spool is not None:
            self.spool.close()
            self.spool = None

    def reset(self, context: SessionContext) -> None:
        self._discard_spool()
        self._reset_transaction()

    def close(self, context: SessionContext) -> None:
        self._discard_spool()


def _printable(text: str | None) -> str | None:
    if text is None:
        return None
    return "".join(ch if 0x20 < ord(ch) < 0x7F else "?" for ch in text)[:255] or None


async def _listen(server: SMTPServer, where: tuple[str, int] | socket.socket) -> None:
    if isinstance(where, socket.socket):
        await server.listen(None, None, sock=where)
    else:
        await server.listen(where[0], where[1])


class _Prefixed:
    """A read-only binary stream: a prefix, then the rest of a file."""

    def __init__(self, prefix: bytes, rest: IO[bytes]) -> None:
        self._prefix = prefix
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        if self._prefix:
            if size is None or size < 0:
                data, self._prefix = self._prefix + self._rest.read(), b""
                return data
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            if len(data) < size:
                data += self._rest.read(size - len(data))
            return data
        return self._rest.read(size)

    def readable(self) -> bool:
        return True


class _InboundBackend:
    def __init__(self, mta: MTA, credentials: InMemoryCredentialStore | None) -> None:
        self.mta = mta
        self._credentials = credentials

    def session(self, peer: PeerInfo) -> _InboundSession:
        return _InboundSession(self.mta, peer)

    def sasl_credentials(self) -> object:
        return self._credentials


class MTA:
    """An MTA: inbound and submission servers, the durable queue and its runner.

    Args:
        config: what the MTA is (see :class:`MTAConfig`).
        clock: the time source for the queue and the retry schedule.

    Use it from asyncio::

        mta = MTA(MTAConfig(hostname="mx.example", data_dir=Path("data"),
                            local_domains=("example.org",), users={"alice": "pw"}))
        await mta.start(smtp=("127.0.0.1", 2525), submission=("127.0.0.1", 2587))
        ...
        await mta.stop()
    """

    def __init__(self, config: MTAConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        data = Path(config.data_dir)
        data.mkdir(parents=True, exist_ok=True)
        self.spool_dir = data / "spool"
        self.spool_dir.mkdir(exist_ok=True)
        self.queue = Queue(data / config.queue_name, clock=clock, max_message_size=config.limits.max_message_size,
                           journal=True, journal_max_message=_SPOOL_IN_MEMORY)
        self.store = MaildirStore(data / "mail")
        users = {name.lower() for name in config.users}
        self.policy = RelayPolicy(local_domains=frozenset(config.local_domains),
                                  users=InMemoryUserDirectory(users=users),
                                  relay_networks=config.relay_networks)
        self.local = LocalDelivery(self.store, hostname=config.hostname, max_hops=config.max_hops)
        self.remote = RemoteDelivery(hostname=config.hostname, resolver=config.resolver,
                                     smart_host=config.smart_host, port=config.delivery_port,
                                     mx_config=config.mx_config)
        self.schedule = RetrySchedule(config.retry, clock=clock)
        self.credentials = InMemoryCredentialStore(dict(config.users)) if config.users else None
        self.servers: list[tuple[str, SMTPServer]] = []
        self.pop3_servers: list[Any] = []
        self._wakeup = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._stopping = False
        # The runner schedules from memory: the queue on disk is read at start
        # (recover) and for each delivery, never scanned per pass.
        self._entries: dict[str, QueueEntry] = {}
        # What is due next, so that a pass never looks at the whole queue.
        self._due = DueIndex()
        # One local delivery at a time, its record included: a crash can then
        # repeat at most the one delivery in flight (at least once, never more).
        self._local_slots = asyncio.Semaphore(1)
        self._critical: set[asyncio.Future[None]] = set()
        self.delivered = 0
        self.bounced = 0

    # -- lifetime

    async def start(self, *, smtp: tuple[str, int] | socket.socket | None = ("127.0.0.1", 2525),
                    submission: tuple[str, int] | socket.socket | None = None,
                    pop3: tuple[str, int] | None = None) -> None:
        """Recover the queue, start the listeners, start the queue runner.

        Args:
            smtp: where the inbound SMTP server listens (None: not at all),
                or a listening socket to serve (shared by worker processes).
            submission: where the submission server listens (AUTH required),
                or a listening socket.
            pop3: where a POP3 server (RFC 1939) serves the local Maildirs to
                their users (STLS when the MTA has a TLS context).
        """
        if self.config.queue_name == "queue":
            await self.adopt_worker_spools()
        report = await asyncio.to_thread(self.queue.recover)
        self._entries = {}
        self._due = DueIndex()
        for entry in report.entries:
            self._put(entry)
        if report.quarantined:
            log.warning("quarantined damaged queue entries: %s", report.quarantined)
        server_config = Config(hostname=self.config.hostname, limits=self.config.limits)
        if smtp is not None:
            server = SMTPServer(
                _InboundBackend(self, self.credentials), config=server_config,
                settings=ServerSettings(tls_context=self.config.tls_context,
                                        credentials=self.credentials))
            await _listen(server, smtp)
            self.servers.append(("smtp", server))
        if submission is not None:
            if self.credentials is None:
                raise ValueError("a submission server needs at least one user")
            server = SMTPServer(
                _InboundBackend(self, self.credentials),
                config=server_config.clone(require_auth=True,
                                           require_tls_for_auth=self.config.tls_context is not None),
                settings=ServerSettings(tls_context=self.config.tls_context, credentials=self.credentials))
            await _listen(server, submission)
            self.servers.append(("submission", server))
        if pop3 is not None:
            if not self.config.users:
                raise ValueError("a POP3 server needs at least one user")
            from ..aio.pop3 import POP3Server
            from ..pop3 import Config as POP3Config

            pop3_server = POP3Server(self.store, self.credentials or dict(self.config.users),
                                     host=pop3[0], port=pop3[1], ssl_context=self.config.tls_context,
                                     config=POP3Config(hostname=self.config.hostname,
                                                       limits=self.config.limits))
            await pop3_server.start()
            self.pop3_servers.append(pop3_server)
        if not self.config.hold:
            self._runner = asyncio.create_task(self._run_queue())

    async def adopt_worker_spools(self) -> int:
        """Move the mail queued by worker processes (``queue-<n>``) into this MTA's queue.

        Only for the main MTA, and only while no worker runs: at start, and
        after the workers stopped. Returns how many messages moved; they are
        delivered after the next :meth:`start` (which recovers the queue).
        """
        adopted = 0
        for spool in sorted(Path(self.config.data_dir).glob("queue-*")):
            adopted += await asyncio.to_thread(self.queue.adopt, spool)
        if adopted:
            log.info("adopted %d queued message(s) from worker spools", adopted)
        return adopted

    async def adopt_spool(self, spool: Path) -> int:
        """Take over the queue of a worker process that has exited, while this MTA runs.

        The spool's journals are replayed, its entries move into this
        MTA's queue (as :meth:`Queue.adopt <rfcmail.mta.queue.Queue.adopt>`
        does) and are scheduled for delivery at once. The caller makes
        sure that no process uses ``spool`` any more. A local delivery the
        worker had in flight when it died is made again (the at-least-once
        window of a crash). Returns how many messages moved.
        """
        def move() -> list[QueueEntry]:
            before = set(self.queue.ids())
            self.queue.adopt(spool)
            entries = []
            for queue_id in sorted(set(self.queue.ids()) - before):
                with contextlib.suppress(QueueError):
                    entries.append(self.queue.load(queue_id))
            return entries

        entries = await asyncio.to_thread(move)
        for entry in entries:
            self._put(entry)
        if entries:
            log.info("adopted %d queued message(s) from %s", len(entries), spool)
            self.wake()
        return len(entries)

    def listening(self) -> list[tuple[str, str, int]]:
        """(name, host, port) of every listener."""
        found = []
        for name, server in self.servers:
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                found.append((name, str(host), int(port)))
        for pop3_server in self.pop3_servers:
            found.append(("pop3", pop3_server.host, int(pop3_server.port)))
        return found

    async def stop(self) -> None:
        """Stop listening and stop the runner; queued mail stays on disk for the next start."""
        self._stopping = True
        for _name, server in self.servers:
            server.close()
        for _name, server in self.servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        for pop3_server in self.pop3_servers:
            with contextlib.suppress(Exception):
                await pop3_server.stop()
        self.wake()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        if self._critical:
            # A local delivery that had begun is finished and recorded.
            await asyncio.gather(*self._critical, return_exceptions=True)
        self.queue.close()

    def wake(self) -> None:
        """Make the queue runner look at the queue now."""
        self._wakeup.set()

    def track(self, queue_id: str, envelope: Envelope, size: int) -> None:
        """Schedule a message just queued (durably) for delivery now."""
        now = self.clock()
        self._put(QueueEntry(
            queue_id=queue_id, envelope=envelope, arrival_time=now, size=size, next_attempt=now,
            recipients=tuple(RecipientStatus(recipient=r) for r in envelope.recipients)))
        self.wake()

    def _put(self, entry: QueueEntry) -> None:
        """Add or update an entry of the runner, and note when it is due."""
        self._entries[entry.queue_id] = entry
        self._due.push(entry)

    @property
    def queued(self) -> int:
        """Messages in the queue (accepted, not finished)."""
        return len(self._entries)

    # -- the queue runner

    async def _run_queue(self) -> None:
        while not self._stopping:
            self._wakeup.clear()
            due = self._due.take_due(self.clock(), self._entries)
            try:
                if due:
                    await self.run_once(due)
            except asyncio.CancelledError:
                raise
            except Exception:  # a runner must survive one bad pass
                log.exception("queue run failed")
            finally:
                # Whatever the pass left as it was (a failure) is due again.
                for entry in due:
                    if self._entries.get(entry.queue_id) is entry:
                        self._due.push(entry)
            timeout = self._next_wait()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout)

    def _next_wait(self) -> float:
        upcoming = self._due.next_attempt(self._entries)
        if upcoming is None:
            return self.config.queue_interval
        return max(0.05, min(self.config.queue_interval, upcoming - self.clock()))

    async def run_once(self, entries: Sequence[QueueEntry]) -> None:
        """Try every pending recipient of ``entries`` once and record the results.

        Messages for local recipients only are delivered one at a time, each
        recorded (removed, or its state written) before the next starts, so
        a crash repeats at most the one local delivery in flight; remote
        destinations are tried in parallel, each recorded when its
        destination is done.
        """
        by_destination: dict[str, list[DeliveryJob]] = {}
        results: dict[str, list[RecipientOutcome]] = {}
        local_only: list[tuple[QueueEntry, list[RecipientStatus]]] = []
        # Queue id -> when the destinations it could not try now may be tried.
        held: dict[str, float] = {}
        for entry in entries:
            local = [r for r in entry.pending if self._is_local(r.recipient.address)]
            remote = [r for r in entry.pending if not self._is_local(r.recipient.address)]
            if local and not remote:
                local_only.append((entry, local))
                continue
            groups: dict[str, list[RecipientStatus]] = {}
            for status in remote:
                groups.setdefault(self._destination(status.recipient.address), []).append(status)
            attempted = bool(local)
            for key, statuses in groups.items():
                if not self.schedule.is_ready(key):
                    # RFC 5321 section 4.5.4.1: a destination that just failed
                    # is left alone, for every message bound to it.
                    held[entry.queue_id] = max(held.get(entry.queue_id, 0.0), self.schedule.ready_at(key))
                    continue
                attempted = True
                by_destination.setdefault(key, []).append(DeliveryJob(
                    entry=entry, recipients=tuple(statuses),
                    open_message=functools.partial(self.queue.open_message, entry.queue_id)))
            if not attempted:
                # Nothing tried: no attempt counts, the entry just waits.
                self._put(dataclasses.replace(
                    entry, next_attempt=max(entry.next_attempt, held[entry.queue_id])))
                continue
            results[entry.queue_id] = await self._deliver_local(entry, local) if local else []
        remote_run = asyncio.gather(*(
            self.remote.deliver(destination, jobs) for destination, jobs in by_destination.items()))
        await asyncio.gather(remote_run, *(self._deliver_and_settle(e, local) for e, local in local_only))
        for destination, per_entry in zip(by_destination, remote_run.result()):
            for queue_id, items in per_entry.items():
                results[queue_id] += items
            self._note_destination(destination, [o for items in per_entry.values() for o in items])
        for entry in entries:
            if entry.queue_id in results:
                await self._settle(entry, results[entry.queue_id], not_before=held.get(entry.queue_id, 0.0))

    def _destination(self, address: str) -> str:
        """The destination whose back-off applies to a remote recipient: its domain, or the smart host."""
        return "smart-host" if self.config.smart_host else address.rpartition("@")[2].lower()

    def _note_destination(self, destination: str, outcomes: list[RecipientOutcome]) -> None:
        """Back a destination off when no host of it answered at all; clear it when one did."""
        if not outcomes:
            return
        if all(o.state is DeliveryState.PENDING and o.remote_mta is None for o in outcomes):
            ready = self.schedule.record_failure(destination)
            log.info("destination %s unreachable; not tried again for %.0f s", destination,
                     ready - self.clock())
        else:
            self.schedule.record_success(destination)

    async def _deliver_local(self, entry: QueueEntry, local: list[RecipientStatus]) -> list[RecipientOutcome]:
        async with self._local_slots:
            return await self._deliver_local_unlocked(entry, local)

    async def _deliver_local_unlocked(self, entry: QueueEntry,
                                      local: list[RecipientStatus]) -> list[RecipientOutcome]:
        message = self.queue.cached_message(entry.queue_id)
        if message is None:
            message = await asyncio.to_thread(self.queue.read_message, entry.queue_id)
        return await asyncio.to_thread(self.local.deliver, entry, local, message)

    async def _deliver_and_settle(self, entry: QueueEntry, local: list[RecipientStatus]) -> None:
        async with self._local_slots:
            # Shielded: a stop (cancellation) must not fall between the
            # delivery and its record, which would deliver it twice later.
            task = asyncio.ensure_future(self._deliver_then_settle(entry, local))
            self._critical.add(task)
            task.add_done_callback(self._critical.discard)
            await asyncio.shield(task)

    async def _deliver_then_settle(self, entry: QueueEntry, local: list[RecipientStatus]) -> None:
        await self._settle(entry, await self._deliver_local_unlocked(entry, local))

    def _is_local(self, address: str) -> bool:
        return self.policy.is_local_domain(address.rpartition("@")[2])

    async def _settle(self, entry: QueueEntry, outcomes: list[RecipientOutcome], *,
                      not_before: float = 0.0) -> None:
        """Record an attempt's ``outcomes``; recipients still pending wait at least until ``not_before``."""
        pending_after = {r.recipient.address for r in entry.pending} - {
            o.address for o in outcomes if o.state is not DeliveryState.PENDING}
        next_attempt: float | None = None
        warn = False
        if pending_after:
            decision = self.schedule.after_failure(arrival_time=entry.arrival_time,
                                                   attempts=entry.attempts + 1,
                                                   delay_warned=entry.delay_warned)
            if decision.action is RetryAction.GIVE_UP:
                given_up = {o.address: o for o in outcomes}
                outcomes = [o for o in outcomes if o.address not in pending_after] + [
                    RecipientOutcome(address=address, state=DeliveryState.FAILED,
                                     reply=("554 5.4.7 Delivery time expired; last: "
                                            + (given_up[address].reply or "no answer")
                                            if address in given_up else "554 5.4.7 Delivery time expired"),
                                     remote_mta=given_up[address].remote_mta if address in given_up else None)
                    for address in pending_after]
            else:
                assert decision.next_attempt is not None
                next_attempt = max(decision.next_attempt, not_before)
                warn = decision.warn
        delivered_now = not pending_after and all(o.state is DeliveryState.DELIVERED for o in outcomes)
        failed_before = any(r.state is DeliveryState.FAILED for r in entry.recipients)
        wants_success = any("SUCCESS" in r.recipient.notify for r in entry.recipients)
        if delivered_now and not failed_before and not wants_success:
            # Everything delivered and no DSN due: removing the entry is the
            # one durable record needed (a crash before it means a redelivery).
            await self.queue.remove_async(entry.queue_id)
            self._entries.pop(entry.queue_id, None)
            self.delivered += len(outcomes)
            return
        updated = await asyncio.to_thread(self.queue.record_attempt, entry.queue_id, outcomes,
                                          next_attempt=next_attempt)
        self._put(updated)
        self.delivered += sum(1 for o in outcomes if o.state is DeliveryState.DELIVERED)
        if warn:
            await self._notify(updated, delayed=True)
            updated = await asyncio.to_thread(self.queue.mark_delay_warned, entry.queue_id)
            self._put(updated)
        if updated.done:
            await self._notify(updated, delayed=False)
            await self.queue.remove_async(entry.queue_id)
            self._entries.pop(entry.queue_id, None)

    async def _notify(self, entry: QueueEntry, *, delayed: bool) -> None:
        reports: list[RecipientReport] = []
        for status in entry.recipients:
            if delayed and status.state is DeliveryState.PENDING:
                action, code = Action.DELAYED, "4.0.0"
            elif not delayed and status.state is DeliveryState.FAILED:
                action, code = Action.FAILED, _failure_status(status.reply)
            elif not delayed and status.state is DeliveryState.DELIVERED and "SUCCESS" in status.recipient.notify:
                local = self._is_local(status.recipient.address)
                action, code = (Action.DELIVERED if local else Action.RELAYED), "2.0.0"
            else:
                continue
            reports.append(RecipientReport(
                final_recipient=status.recipient.address, action=action, status=code,
                notify=status.recipient.notify, original_recipient=status.recipient.orcpt,
                remote_mta=status.remote_mta, diagnostic_code=status.reply,
                last_attempt=status.last_attempt,
                will_retry_until=entry.arrival_time + self.config.retry.max_age if delayed else None))
        if not reports:
            return
        original = await asyncio.to_thread(self.queue.read_message, entry.queue_id)
        dsn = build_dsn_for_entry(entry, reports, original, reporting_mta=self.config.hostname,
                                  now=self.clock())
        if dsn is None:
            return
        queue_id = await self.queue.enqueue_async(dsn.envelope, dsn.message)
        self.track(queue_id, dsn.envelope, len(dsn.message))
        self.bounced += 1


def _failure_status(reply: str | None) -> str:
    """The RFC 3463 status of a failed recipient: the reply's enhanced code as a
    permanent one (``4.4.7`` after giving up becomes ``5.4.7``), else ``5.0.0``."""
    match = _ENHANCED_RE.match(reply or "")
    return f"5.{match[1]}.{match[2]}" if match else "5.0.0"
