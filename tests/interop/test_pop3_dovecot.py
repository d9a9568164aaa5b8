"""rfcmail's POP3 clients (blocking and asyncio) against Dovecot's POP3 server on loopback.

Messages are written into dave's Maildir (owned by uid 5000, as Dovecot
expects); each test removes only what it put there.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import time
from collections.abc import Iterator
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


@pytest.fixture
def mailbox(realworld: RealWorld) -> Iterator[list[bytes]]:
    """Three messages for dave, one with dot-leading lines; removed afterwards."""
    messages = [b"Subject: one\n\nfirst body\n",
                b"Subject: dots\n\n.\n..\n.leading\nend\n",
                b"Subject: three\n\n" + b"x" * 70 + b"\n" * 3]
    put(realworld, messages)
    yield messages
    maildir = realworld.maildir(USER)
    for sub in ("new", "cur"):
        for path in (maildir / sub).iterdir():
            if ".rfcmail" in path.name:
                path.unlink()


def crlf(message: bytes) -> bytes:
    return message.replace(b"\n", b"\r\n")


def context(world: RealWorld) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(world.ca))


def test_blocking_client_stls_scram_and_commands(realworld: RealWorld, mailbox: list[bytes]) -> None:
    port = realworld.ports["POP3_PORT"]
    with POP3Client.connect("localhost", port, ssl_context=context(realworld)) as client:
        assert client.conn.tls_active
        assert "SASL" in client.capabilities
        assert client.login(USER, PASSWORD) == "SCRAM-SHA-256"
        count, total = client.stat()
        assert count == 3
        sizes = client.list()
        assert sum(sizes.values()) == total
        received = [client.retrieve(n) for n in range(1, 4)]
        assert sorted(received) == sorted(crlf(m) for m in mailbox)
        assert [sizes[n] for n in range(1, 4)] == [len(r) for r in received]
        assert len(set(client.uidl().values())) == 3
        header = client.top(1, 0)
        assert header.endswith(b"\r\n\r\n") and header.startswith(b"Subject: ")
        streamed = b"".join(client.retrieve_stream(2))
        assert streamed == received[1]
        assert client.retrieve_many([1, 2, 3]) == received  # pipelined: Dovecot offers PIPELINING
        assert "PIPELINING" in client.capabilities


def test_deletions_only_at_quit(realworld: RealWorld, mailbox: list[bytes]) -> None:
    port = realworld.ports["POP3_PORT"]
    client = POP3Client.connect("localhost", port, ssl_context=context(realworld))
    client.login(USER, PASSWORD, mechanism="PLAIN")
    client.delete(1)
    client.close()  # dropped without QUIT: nothing is deleted
    client = POP3Client.connect("localhost", port, ssl_context=context(realworld))
    client.login(USER, PASSWORD, mechanism="USER")
    assert client.stat()[0] == 3
    client.delete(1)
    client.reset()
    client.delete(2)
    client.quit()
    client = POP3Client.connect("localhost", port, ssl_context=context(realworld))
    client.login(USER, PASSWORD)
    assert client.stat()[0] == 2
    client.quit()


def test_implicit_tls_and_wrong_password(realworld: RealWorld, mailbox: list[bytes]) -> None:
    port = realworld.ports["POP3S_PORT"]
    with POP3Client.connect("localhost", port, tls=TLSMode.IMPLICIT, ssl_context=context(realworld)) as client:
        with pytest.raises(pop3.ResponseError) as caught:
            client.login(USER, "wrong", mechanism="USER")
        assert caught.value.response.code == "AUTH"
    with POP3Client.connect("localhost", port, tls=TLSMode.IMPLICIT, ssl_context=context(realworld)) as client:
        assert client.login(USER, PASSWORD, mechanism="SCRAM-SHA-1") == "SCRAM-SHA-1"
        assert client.stat()[0] == 3


def test_plaintext_login_refused_without_tls(realworld: RealWorld, mailbox: list[bytes]) -> None:
    """A6.1: over plain TCP the client uses SCRAM (no reusable secret) or refuses."""
    port = realworld.ports["POP3_PORT"]
    with POP3Client.connect("127.0.0.1", port, tls=TLSMode.NONE) as client:
        assert not client.conn.tls_active
        with pytest.raises(InsecureAuthError):
            client.login(USER, PASSWORD, mechanism="USER")
        with pytest.raises(InsecureAuthError):
            client.login(USER, PASSWORD, mechanism="PLAIN")
        assert client.login(USER, PASSWORD) == "SCRAM-SHA-256"
        assert client.stat()[0] == 3
    with POP3Client.connect("127.0.0.1", port, tls=TLSMode.NONE) as client:
        assert client.login(USER, PASSWORD, mechanism="USER", allow_insecure_auth=True) == "USER"


def test_asyncio_client(realworld: RealWorld, mailbox: list[bytes]) -> None:
    async def run() -> list[bytes]:
        client = await AsyncPOP3Client.connect("localhost", realworld.ports["POP3_PORT"],
                                               ssl_context=context(realworld))
        async with client:
            assert await client.login(USER, PASSWORD) == "SCRAM-SHA-256"
            assert (await client.stat())[0] == 3
            assert len(await client.uidl()) == 3
            many = await client.retrieve_many([1, 2, 3])
            streamed = b"".join([chunk async for chunk in client.retrieve_stream(3)])
            assert streamed == many[2]
            assert (await client.top(2, 1)).count(b"\r\n") >= 2
            return many

    received = asyncio.run(run())
    assert sorted(received) == sorted(crlf(m) for m in mailbox)


def test_retrieve_message_parses_when_available(realworld: RealWorld, mailbox: list[bytes]) -> None:
    with POP3Client.connect("localhost", realworld.ports["POP3_PORT"], ssl_context=context(realworld)) as client:
        client.login(USER, PASSWORD)
        message = client.retrieve_message(1)
        assert bytes(message).startswith(b"Subject: ")
