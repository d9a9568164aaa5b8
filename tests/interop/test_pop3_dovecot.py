"""rfcmail's POP3 clients (blocking and asyncio) against Dovecot's POP3 server on loopback.

Messages are written into dave's Maildir (owned by uid 5000, as Dovecot
expects); each test removes only what it put there.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rfcmail import pop3
from rfcmail._tls import TLSMode
from rfcmail.aio.pop3 import POP3Client as AsyncPOP3Client
from rfcmail.blocking.pop3 import InsecureAuthError, POP3Client

from .realworld import RealWorld

USER = "dave"
PASSWORD = "secret"


def put(world: RealWorld, messages: list[bytes]) -> list[Path]:
    """Deliver messages straight into dave's Maildir/new, owned by uid 5000."""
    maildir = world.maildir(USER)
    paths = []
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
        os.chown(maildir / sub, 5000, 5000)
    for parent in (maildir, maildir.parent):
        os.chown(parent, 5000, 5000)
    for index, message in enumerate(messages):
        name = f"{int(time.time())}.rfcmail{os.getpid()}_{index}_{time.monotonic_ns()}.test"
        path = maildir / "new" / name
        path.write_bytes(message)
        os.chown(path, 5000, 5000)
        paths.append(path)
    return paths


@dataclass
class Mailbox:
    """What a test put into dave's Maildir, and where Dovecot numbers it.

    Other tests may deliver to dave too (LMTP tests), so nothing here assumes
    the maildrop holds only these messages: ``numbers`` are found by Subject.
    """

    messages: list[bytes]
    numbers: list[int]
    total: int


def locate(world: RealWorld, messages: list[bytes]) -> tuple[list[int], int]:
    with POP3Client.connect("localhost", world.ports["POP3_PORT"], ssl_context=context(world)) as client:
        client.login(USER, PASSWORD)
        count, _ = client.stat()
        subjects = {client.top(n, 0).split(b"\r\n", 1)[0]: n for n in range(1, count + 1)}
    return [subjects[message.split(b"\n", 1)[0]] for message in messages], count


@pytest.fixture
def mailbox(realworld: RealWorld) -> Iterator[Mailbox]:
    """Three messages for dave, one with dot-leading lines; removed afterwards."""
    token = secrets.token_hex(6)
    messages = [b"Subject: one %s\n\nfirst body\n" % token.encode(),
                b"Subject: dots %s\n\n.\n..\n.leading\nend\n" % token.encode(),
                b"Subject: three %s\n\n" % token.encode() + b"x" * 70 + b"\n" * 3]
    put(realworld, messages)
    numbers, total = locate(realworld, messages)
    yield Mailbox(messages, numbers, total)
    maildir = realworld.maildir(USER)
    for sub in ("new", "cur"):
        for path in (maildir / sub).iterdir():
            if ".rfcmail" in path.name:
                path.unlink()


def crlf(message: bytes) -> bytes:
    return message.replace(b"\n", b"\r\n")


def context(world: RealWorld) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(world.ca))


def test_blocking_client_stls_scram_and_commands(realworld: RealWorld, mailbox: Mailbox) -> None:
    port = realworld.ports["POP3_PORT"]
    with POP3Client.connect("localhost", port, ssl_context=context(realworld)) as client:
        assert client.conn.tls_active
        assert "SASL" in client.capabilities
        assert client.login(USER, PASSWORD) == "SCRAM-SHA-256"
        count, total = client.stat()
        assert count == mailbox.total
        sizes = client.list()
        assert sum(sizes.values()) == total
        received = [client.retrieve(n) for n in mailbox.numbers]
        assert received == [crlf(m) for m in mailbox.messages]
        assert [sizes[n] for n in mailbox.numbers] == [len(r) for r in received]
        assert len(set(client.uidl().values())) == count
        header = client.top(mailbox.numbers[0], 0)
        assert header == crlf(mailbox.messages[0]).split(b"\r\n\r\n")[0] + b"\r\n\r\n"
        streamed = b"".join(client.retrieve_stream(mailbox.numbers[1]))
        assert streamed == received[1]
        assert "PIPELINING" in client.capabilities  # so retrieve_many pipelines
        assert client.retrieve_many(mailbox.numbers) == received


def test_deletions_only_at_quit(realworld: RealWorld, mailbox: Mailbox) -> None:
    port = realworld.ports["POP3_PORT"]
    first, second, _ = mailbox.numbers
    client = POP3Client.connect("localhost", port, ssl_context=context(realworld))
    client.login(USER, PASSWORD, mechanism="PLAIN")
    client.delete(first)
    client.close()  # dropped without QUIT: nothing is deleted
    client = POP3Client.connect("localhost", port, ssl_context=context(realworld))
    client.login(USER, PASSWORD, mechanism="USER")
    assert client.stat()[0] == mailbox.total
    client.delete(first)
    client.reset()
    client.delete(second)
    client.quit()
    client = POP3Client.connect("localhost", port, ssl_context=context(realworld))
    client.login(USER, PASSWORD)
    assert client.stat()[0] == mailbox.total - 1
    client.quit()


def test_implicit_tls_and_wrong_password(realworld: RealWorld, mailbox: Mailbox) -> None:
    port = realworld.ports["POP3S_PORT"]
    with POP3Client.connect("localhost", port, tls=TLSMode.IMPLICIT, ssl_context=context(realworld)) as client:
        with pytest.raises(pop3.ResponseError) as caught:
            client.login(USER, "wrong", mechanism="USER")
        assert caught.value.response.code == "AUTH"
    with POP3Client.connect("localhost", port, tls=TLSMode.IMPLICIT, ssl_context=context(realworld)) as client:
        assert client.login(USER, PASSWORD, mechanism="SCRAM-SHA-1") == "SCRAM-SHA-1"
        assert client.stat()[0] == mailbox.total


def test_plaintext_login_refused_without_tls(realworld: RealWorld, mailbox: Mailbox) -> None:
    """A6.1: over plain TCP the client uses SCRAM (no reusable secret) or refuses."""
    port = realworld.ports["POP3_PORT"]
    with POP3Client.connect("127.0.0.1", port, tls=TLSMode.NONE) as client:
        assert not client.conn.tls_active
        with pytest.raises(InsecureAuthError):
            client.login(USER, PASSWORD, mechanism="USER")
        with pytest.raises(InsecureAuthError):
            client.login(USER, PASSWORD, mechanism="PLAIN")
        assert client.conn.pending_commands == 0
        assert client.login(USER, PASSWORD) == "SCRAM-SHA-256"
        assert client.stat()[0] == mailbox.total
    with POP3Client.connect("127.0.0.1", port, tls=TLSMode.NONE) as client:
        assert client.login(USER, PASSWORD, mechanism="USER", allow_insecure_auth=True) == "USER"


def test_asyncio_client(realworld: RealWorld, mailbox: Mailbox) -> None:
    async def run() -> list[bytes]:
        client = await AsyncPOP3Client.connect("localhost", realworld.ports["POP3_PORT"],
                                               ssl_context=context(realworld))
        async with client:
            assert await client.login(USER, PASSWORD) == "SCRAM-SHA-256"
            assert (await client.stat())[0] == mailbox.total
            assert len(await client.uidl()) == mailbox.total
            many = await client.retrieve_many(mailbox.numbers)
            streamed = b"".join([chunk async for chunk in client.retrieve_stream(mailbox.numbers[2])])
            assert streamed == many[2]
            dots = crlf(mailbox.messages[1])
            header_end = dots.index(b"\r\n\r\n") + 4
            assert await client.top(mailbox.numbers[1], 1) == dots[:header_end] + b".\r\n"
            return many

    assert asyncio.run(run()) == [crlf(m) for m in mailbox.messages]


def test_retrieve_message_parses(realworld: RealWorld, mailbox: Mailbox) -> None:
    with POP3Client.connect("localhost", realworld.ports["POP3_PORT"], ssl_context=context(realworld)) as client:
        client.login(USER, PASSWORD)
        message = client.retrieve_message(mailbox.numbers[0])
        assert bytes(message) == crlf(mailbox.messages[0])
