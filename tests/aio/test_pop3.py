"""The asyncio POP3 client and server over loopback (no external program)."""

from __future__ import annotations

import asyncio

import pytest

from rfcmail import pop3
from rfcmail._tls import TLSMode
from rfcmail.aio.pop3 import InsecureAuthError, POP3Client, POP3Server
from rfcmail.errors import RemoteProtocolError
from rfcmail.limits import DEFAULT_LIMITS
from rfcmail.store import MemoryStore

USERS = {"alice": "secret"}


def make_store() -> MemoryStore:
    store = MemoryStore()
    store.deliver("alice", b"Subject: a\n\n.dot\nbody\n")
    store.deliver("alice", b"Subject: b\n\nsecond\n")
    return store


def test_session_over_asyncio() -> None:
    store = make_store()

    async def run() -> None:
        config = pop3.Config(allow_plaintext_auth=True)
        async with POP3Server(store, USERS, config=config) as server:
            with pytest.raises(InsecureAuthError):
                await POP3Client.connect("127.0.0.1", server.port)  # STLS required, not offered
            async with await POP3Client.connect("127.0.0.1", server.port, tls=TLSMode.NONE) as client:
                with pytest.raises(InsecureAuthError):
                    await client.login("alice", "secret", mechanism="USER")
                assert await client.login("alice", "secret") == "SCRAM-SHA-256"
                assert await client.stat() == (2, 48)
                assert await client.list() == {1: 26, 2: 22}
                assert await client.uidl() == {1: "m1", 2: "m2"}
                assert await client.retrieve(1) == b"Subject: a\r\n\r\n.dot\r\nbody\r\n"
                assert await client.retrieve_many([2, 1]) == [b"Subject: b\r\n\r\nsecond\r\n",
                                                               b"Subject: a\r\n\r\n.dot\r\nbody\r\n"]
                assert [c async for c in client.retrieve_stream(2)] == [b"Subject: b\r\n\r\nsecond\r\n"]
                assert await client.top(1, 1) == b"Subject: a\r\n\r\n.dot\r\n"
                assert bytes(await client.retrieve_message(2)).startswith(b"Subject: b")
                await client.noop()
                await client.delete(2)
                await client.reset()
                await client.delete(1)
                with pytest.raises(pop3.ResponseError):
                    await client.retrieve(1)

    asyncio.run(run())
    assert store.messages("alice") == [b"Subject: b\n\nsecond\n"]


def test_failures_close_and_dropped_sessions_delete_nothing() -> None:
    store = make_store()

    async def run() -> None:
        config = pop3.Config(allow_plaintext_auth=True, auth_failure_delay=0.01,
                             limits=DEFAULT_LIMITS.clone(max_auth_failures=1))
        async with POP3Server(store, USERS, config=config) as server:
            client = await POP3Client.connect("127.0.0.1", server.port, tls=TLSMode.NONE)
            with pytest.raises(pop3.ResponseError):
                await client.login("alice", "bad", mechanism="USER", allow_insecure_auth=True)
            with pytest.raises((RemoteProtocolError, OSError)):
                await client.login("alice", "secret", mechanism="USER", allow_insecure_auth=True)
            client.close()
            client = await POP3Client.connect("127.0.0.1", server.port, tls=TLSMode.NONE)
            await client.login("alice", "secret")
            await client.delete(1)
            client.close()  # no QUIT

    asyncio.run(run())
    assert len(store.messages("alice")) == 2


def test_client_refuses_bytes_injected_after_stls_ok() -> None:
    """A2.2: a forged reply that arrives with the STLS +OK is never trusted."""

    async def run() -> None:
        async def fake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"+OK hi\r\n")
            await reader.readline()
            writer.write(b"+OK\r\nSTLS\r\n.\r\n")
            await reader.readline()
            writer.write(b"+OK begin TLS\r\n+OK forged\r\n")
            await writer.drain()
            await reader.read()
            writer.close()

        server = await asyncio.start_server(fake, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(RemoteProtocolError, match="after the STLS"):
            await POP3Client.connect("127.0.0.1", port, timeout=5)
        server.close()
        await server.wait_closed()

    asyncio.run(run())
