"""The assembled MTA in process: smtplib in, Maildir out, relaying by MX between two MTAs, bounces."""

from __future__ import annotations

import asyncio
import email
import email.policy
import smtplib
import socket
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import pytest

from rfcmail.mta.local import count_received, received_field
from rfcmail.mta.queue import QueueEntry, ReceivedFrom
from rfcmail.mta.service import MTA, MTAConfig
from rfcmail.mx import AsyncStaticResolver, MXConfig, MXRecord, StaticResolver


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def maildir_messages(root: Path, user: str) -> list[bytes]:
    new = root / "mail" / user / "new"
    return [p.read_bytes() for p in sorted(new.iterdir())] if new.is_dir() else []


async def wait_for(predicate: object, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def send(port: int, sender: str, recipients: list[str], body: bytes) -> dict[str, tuple[int, bytes]]:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        return client.sendmail(sender, recipients, body)


MESSAGE = b"From: bob@remote.test\r\nTo: alice@local.test\r\nSubject: hello\r\n\r\nHi Alice.\r\n"


def with_mta(tmp_path: Path, scenario: Callable[[MTA], Awaitable[None]]) -> None:
    """Run ``scenario`` against a fresh MTA on a free loopback port."""

    async def main() -> None:
        server = MTA(MTAConfig(hostname="mx.local.test", data_dir=tmp_path / "a",
                               local_domains=("local.test",), users={"alice": "pw", "bob": "pw"}))
        await server.start(smtp=("127.0.0.1", 0))
        try:
            await scenario(server)
        finally:
            await server.stop()

    asyncio.run(main())


def test_local_delivery_into_maildir(tmp_path: Path) -> None:
    with_mta(tmp_path, local_delivery_into_maildir)


def test_relay_refused_and_unknown_user(tmp_path: Path) -> None:
    with_mta(tmp_path, relay_refused_and_unknown_user)


def test_loop_is_refused_at_the_end_of_data(tmp_path: Path) -> None:
    with_mta(tmp_path, loop_is_refused_at_the_end_of_data)


async def local_delivery_into_maildir(mta: MTA) -> None:
    port = mta.listening()[0][2]
    refused = await asyncio.to_thread(send, port, "bob@remote.test", ["alice@local.test"], MESSAGE)
    assert refused == {}
    root = mta.config.data_dir
    await wait_for(lambda: maildir_messages(root, "alice"))
    [stored] = maildir_messages(root, "alice")
    assert stored.startswith(b"Return-Path: <bob@remote.test>\r\nDelivered-To: alice@local.test\r\nReceived: from ")
    assert stored.endswith(MESSAGE)
    parsed = email.message_from_bytes(stored, policy=email.policy.default)
    assert "by mx.local.test with ESMTP" in str(parsed["Received"])
    await wait_for(lambda: not mta.queue.ids())


async def relay_refused_and_unknown_user(mta: MTA) -> None:
    port = mta.listening()[0][2]
    for victim in ("victim@elsewhere.test", "victim%elsewhere.test@local.test",
                   '"victim@elsewhere.test"@local.test', "elsewhere.test!victim@local.test"):
        with pytest.raises(smtplib.SMTPRecipientsRefused) as info:
            await asyncio.to_thread(send, port, "x@remote.test", [victim], MESSAGE)
        code, text = info.value.recipients[victim]
        assert (code, text[:5]) == (554, b"5.7.1"), victim
    with pytest.raises(smtplib.SMTPRecipientsRefused) as info:
        await asyncio.to_thread(send, port, "x@remote.test", ["nobody@local.test"], MESSAGE)
    assert info.value.recipients["nobody@local.test"][0] == 550


HOP = b"Received: from a by b; Thu, 1 Jan 2026 00:00:00 +0000\r\n"


async def loop_is_refused_at_the_end_of_data(mta: MTA) -> None:
    """With max_hops=100 (the default) a message may arrive with 98 Received
    fields (ours makes 99); with 99 (ours would make 100) it is refused."""
    port = mta.listening()[0][2]
    limit = mta.config.max_hops
    assert limit == 100
    with pytest.raises(smtplib.SMTPDataError) as info:
        await asyncio.to_thread(send, port, "x@remote.test", ["alice@local.test"],
                                HOP * (limit - 1) + MESSAGE)
    assert info.value.smtp_code == 554 and "5.4.6" in str(info.value.smtp_error)
    assert await asyncio.to_thread(send, port, "x@remote.test", ["alice@local.test"],
                                   HOP * (limit - 2) + MESSAGE) == {}


def test_max_hops_is_configurable(tmp_path: Path) -> None:
    async def main() -> None:
        mta = MTA(MTAConfig(hostname="mx.local.test", data_dir=tmp_path / "h", local_domains=("local.test",),
                            users={"alice": "pw"}, max_hops=5))
        await mta.start(smtp=("127.0.0.1", 0))
        try:
            port = mta.listening()[0][2]
            for arriving, accepted in ((3, True), (4, False), (5, False)):
                body = HOP * arriving + MESSAGE
                if accepted:
                    assert await asyncio.to_thread(send, port, "x@remote.test", ["alice@local.test"], body) == {}
                else:
                    with pytest.raises(smtplib.SMTPDataError) as info:
                        await asyncio.to_thread(send, port, "x@remote.test", ["alice@local.test"], body)
                    assert info.value.smtp_code == 554, arriving
            # Local delivery applies the same bound to mail already queued (e.g. before a config change).
            await wait_for(lambda: maildir_messages(mta.config.data_dir, "alice"))
            [stored] = maildir_messages(mta.config.data_dir, "alice")
            assert count_received(stored) == 4
        finally:
            await mta.stop()

    asyncio.run(main())


def test_two_mtas_relay_by_mx_with_failover_and_bounce(tmp_path: Path) -> None:
    asyncio.run(two_mtas_relay_by_mx_with_failover_and_bounce(tmp_path))


async def two_mtas_relay_by_mx_with_failover_and_bounce(tmp_path: Path) -> None:
    port = free_port("127.0.0.2")
    dead = free_port("127.0.0.3")
    resolver = AsyncStaticResolver(StaticResolver(
        mx={"far.test": [MXRecord(preference=10, exchange="dead.far.test"),
                         MXRecord(preference=20, exchange="mx.far.test")]},
        addresses={"dead.far.test": ["127.0.0.3"], "mx.far.test": ["127.0.0.2"]}))
    mx_config = MXConfig(allowed_networks=("127.0.0.0/8",))
    near = MTA(MTAConfig(hostname="mx.near.test", data_dir=tmp_path / "near", local_domains=("near.test",),
                         users={"carol": "pw"}, relay_networks=("127.0.0.1/32",), resolver=resolver,
                         delivery_port=port, mx_config=mx_config))
    far = MTA(MTAConfig(hostname="mx.far.test", data_dir=tmp_path / "far", local_domains=("far.test",),
                        users={"dave": "pw"}))
    del dead
    await far.start(smtp=("127.0.0.2", port))
    await near.start(smtp=("127.0.0.1", 0))
    try:
        near_port = near.listening()[0][2]
        body = b"From: carol@near.test\r\nTo: dave@far.test\r\nSubject: hop\r\n\r\nover two MTAs\r\n"
        assert await asyncio.to_thread(send, near_port, "carol@near.test", ["dave@far.test"], body) == {}
        await wait_for(lambda: maildir_messages(far.config.data_dir, "dave"))
        [stored] = maildir_messages(far.config.data_dir, "dave")
        assert stored.endswith(body)
        assert count_received(stored) == 2  # one per MTA
        # A recipient the far MTA refuses permanently bounces to the sender, in near's Maildir.
        result = await asyncio.to_thread(send, near_port, "carol@near.test", ["nobody@far.test"], body)
        assert result == {}
        await wait_for(lambda: maildir_messages(near.config.data_dir, "carol"), timeout=15)
        [bounce] = maildir_messages(near.config.data_dir, "carol")
        report = email.message_from_bytes(bounce, policy=email.policy.default)
        assert report.get_content_type() == "multipart/report"
        status = [p for p in report.walk() if p.get_content_type() == "message/delivery-status"][0]
        text = status.as_string()
        assert "Action: failed" in text and "Status: 5.1.1" in text
        assert report["To"] is None or "carol@near.test" in str(report["To"])
    finally:
        await near.stop()
        await far.stop()


def test_received_field_sanitises_a_hostile_helo() -> None:
    field = received_field(by_host="mx.test", received_from=ReceivedFrom(
        helo="evil)(\\\x01 Bcc: x", address="192.0.2.1"), queue_id="abc", recipient="a@b.test")
    text = field.decode()
    assert text.count("\r\n") == text.count("\r\n\t") + 1  # every line but the last is folded
    assert text.startswith("Received: from unknown ([192.0.2.1] helo=evil???? Bcc: x)")


class FakeClock:
    """Simulated time for the queue and the retry schedule."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_temporary_failures_retry_then_expire_into_a_bounce(tmp_path: Path) -> None:
    asyncio.run(temporary_failures_retry_then_expire(tmp_path))


async def temporary_failures_retry_then_expire(tmp_path: Path) -> None:
    from rfcmail.mta.delivery import SmartHost

    clock = FakeClock()
    closed_port = free_port()  # nothing listens: every attempt fails with a connection error
    mta = MTA(MTAConfig(hostname="mx.near.test", data_dir=tmp_path / "near", local_domains=("near.test",),
                        users={"carol": "pw"}, relay_networks=("127.0.0.1/32",),
                        smart_host=SmartHost(host="127.0.0.1", port=closed_port)), clock=clock)
    await mta.start(smtp=("127.0.0.1", 0))
    try:
        port = mta.listening()[0][2]
        body = b"From: carol@near.test\r\nSubject: will expire\r\n\r\nsorry\r\n"
        assert await asyncio.to_thread(send, port, "carol@near.test", ["dave@far.test"], body) == {}
        await wait_for(lambda: any(e.attempts >= 1 for e in mta._entries.values()))
        [entry] = mta._entries.values()
        assert entry.pending and entry.next_attempt > clock.now  # retried later, not now
        assert "451 4.4.1" in (entry.recipients[0].reply or "")
        # A retry before the deadline fails again and is rescheduled further out.
        clock.now = entry.next_attempt + 1
        mta.wake()
        await wait_for(lambda: any(e.attempts >= 2 for e in mta._entries.values()))
        [second] = mta._entries.values()
        assert second.next_attempt - clock.now >= entry.next_attempt - entry.arrival_time
        # Past the maximum age (5 days) the message is given up and bounced to its sender.
        clock.now = entry.arrival_time + mta.config.retry.max_age + 1
        mta.wake()
        await wait_for(lambda: maildir_messages(mta.config.data_dir, "carol"), timeout=15)
        [bounce] = maildir_messages(mta.config.data_dir, "carol")
        report = email.message_from_bytes(bounce, policy=email.policy.default)
        assert report.get_content_type() == "multipart/report"
        status = [p for p in report.walk() if p.get_content_type() == "message/delivery-status"][0]
        text = status.as_string()
        assert "Action: failed" in text and "Status: 5.4.7" in text
        await wait_for(lambda: mta.queued == 0)
    finally:
        await mta.stop()


def test_an_unreachable_destination_holds_its_other_messages(tmp_path: Path) -> None:
    """RFC 5321 section 4.5.4.1: after a failure the destination waits, not only the message that failed."""
    asyncio.run(unreachable_destination_holds_its_other_messages(tmp_path))


async def unreachable_destination_holds_its_other_messages(tmp_path: Path) -> None:
    import socket
    import threading

    from rfcmail.mta.delivery import SmartHost

    # A smart host that accepts each connection and closes it without a greeting.
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[int] = []
    closing = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not closing.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            accepted.append(1)
            connection.close()

    thread = threading.Thread(target=serve)
    thread.start()
    clock = FakeClock()
    mta = MTA(MTAConfig(hostname="mx.near.test", data_dir=tmp_path / "near", local_domains=("near.test",),
                        users={"carol": "pw"}, relay_networks=("127.0.0.1/32",),
                        smart_host=SmartHost(host="127.0.0.1", port=listener.getsockname()[1])),
              clock=clock)
    await mta.start(smtp=("127.0.0.1", 0))
    try:
        port = mta.listening()[0][2]
        body = b"From: carol@near.test\r\nSubject: held\r\n\r\nwait\r\n"
        await asyncio.to_thread(send, port, "carol@near.test", ["dave@far.test"], body)
        await wait_for(lambda: any(e.attempts >= 1 for e in mta._entries.values()))
        assert len(accepted) == 1
        ready = mta.schedule.ready_at("smart-host")
        assert ready > clock.now and not mta.schedule.is_ready("smart-host")
        # A second message for the same destination is not tried before then.
        await asyncio.to_thread(send, port, "carol@near.test", ["erin@far.test"], body)
        await wait_for(lambda: len(mta._entries) == 2
                       and all(e.next_attempt >= ready for e in mta._entries.values()))
        await asyncio.sleep(0.3)
        assert len(accepted) == 1
        held = [e for e in mta._entries.values() if e.recipients[0].recipient.address == "erin@far.test"]
        assert held[0].attempts == 0 and held[0].next_attempt == ready
        # Once the destination is due, both are tried (over one connection), and it backs off further.
        clock.now = ready + 1
        mta.wake()
        await wait_for(lambda: all(e.attempts >= 1 for e in mta._entries.values())
                       and held[0].queue_id in mta._entries
                       and mta._entries[held[0].queue_id].attempts == 1)
        assert len(accepted) == 2
        assert mta.schedule.failures("smart-host") == 2
        assert mta.schedule.ready_at("smart-host") - clock.now > ready - 1_800_000_000.0
    finally:
        await mta.stop()
        closing.set()
        thread.join()
        listener.close()


def test_a_full_disk_is_a_452_and_nothing_is_queued(tmp_path: Path) -> None:
    """SECURITY R7: a resource shortage while spooling is a temporary 452 4.3.1, not a 250."""
    import errno

    from rfcmail.mta import queue as queue_module

    async def scenario(mta: MTA) -> None:
        class FullDisk(queue_module._FileOps):
            def write(self, fd: int, data: bytes | memoryview) -> None:
                raise OSError(errno.ENOSPC, "No space left on device")

        # Every write fails: the journal's and the plain path's alike.
        mta.queue._ops = FullDisk()
        port = mta.listening()[0][2]
        with pytest.raises(smtplib.SMTPDataError) as info:
            await asyncio.to_thread(send, port, "x@remote.test", ["alice@local.test"], MESSAGE)
        assert info.value.smtp_code == 452 and "4.3.1" in str(info.value.smtp_error)
        assert mta.queued == 0 and mta.queue.ids() == []

    with_mta(tmp_path, scenario)


def test_local_delivery_bounces_a_queued_loop_at_max_hops(tmp_path: Path) -> None:
    from rfcmail.mta.local import LocalDelivery
    from rfcmail.mta.queue import DeliveryState, Envelope, Recipient, RecipientStatus
    from rfcmail.store.maildir import MaildirStore

    delivery = LocalDelivery(MaildirStore(tmp_path / "mail"), hostname="mx.test", max_hops=5)
    recipient = Recipient(address="alice@local.test")
    entry = QueueEntry(queue_id="q1", envelope=Envelope(reverse_path="x@remote.test", recipients=(recipient,)),
                       arrival_time=0.0, size=0, recipients=(RecipientStatus(recipient=recipient),))
    [refused] = delivery.deliver(entry, entry.recipients, HOP * 5 + MESSAGE)
    assert refused.state is DeliveryState.FAILED and refused.reply and refused.reply.startswith("554 5.4.6")
    [delivered] = delivery.deliver(entry, entry.recipients, HOP * 4 + MESSAGE)
    assert delivered.state is DeliveryState.DELIVERED
    assert len(maildir_messages(tmp_path, "alice")) == 1


def test_a_failed_queue_pass_leaves_its_messages_due(tmp_path: Path) -> None:
    """A pass that raises is logged; the messages it held are taken again by the next one."""

    async def scenario(mta: MTA) -> None:
        original = mta.run_once
        passes: list[int] = []

        async def failing_once(entries: Sequence[QueueEntry]) -> None:
            passes.append(len(entries))
            if len(passes) == 1:
                raise RuntimeError("a bug in this pass")
            await original(entries)

        mta.run_once = failing_once  # type: ignore[method-assign]
        port = mta.listening()[0][2]
        await asyncio.to_thread(send, port, "bob@remote.test", ["alice@local.test"], MESSAGE)
        await wait_for(lambda: maildir_messages(mta.config.data_dir, "alice"))
        assert passes[:2] == [1, 1]
        await wait_for(lambda: not mta.queue.ids())

    with_mta(tmp_path, scenario)
