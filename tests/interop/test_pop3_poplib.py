"""Python's poplib against rfcmail's POP3 servers (blocking and asyncio), plain, STLS and implicit TLS."""

from __future__ import annotations

import asyncio
import poplib
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from rfcmail import pop3
from rfcmail._tls import server_context
from rfcmail.aio.pop3 import POP3Server as AsyncPOP3Server
from rfcmail.blocking.pop3 import POP3Server
from rfcmail.store import MaildirStore

from .conftest import TLSMaterial

USERS = {"alice": "secret", "bob": "other"}
MESSAGES = [b"Subject: first\n\n.leading dot\nbody one\n", b"Subject: second\r\n\r\nbody two\r\n"]


@pytest.fixture
def store(tmp_path: Path) -> MaildirStore:
    store = MaildirStore(tmp_path)
    for message in MESSAGES:
        store.deliver("alice", message)
    return store


def client_context(tls: TLSMaterial) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(tls.ca))


@pytest.fixture(params=["blocking", "asyncio"])
def serve(request: pytest.FixtureRequest, store: MaildirStore, tls_material: TLSMaterial) -> Iterator[object]:
    """A factory starting a server of the parametrised kind; returns its port."""
    stoppers: list[object] = []

    def start(*, implicit: bool = False, config: pop3.Config | None = None) -> int:
        context = server_context(str(tls_material.chain), str(tls_material.key))
        if request.param == "blocking":
            server = POP3Server(store, USERS, config=config, ssl_context=context, implicit_tls=implicit)
            server.start()
            stoppers.append(server.stop)
            return server.port
        loop = asyncio.new_event_loop()
        aserver = AsyncPOP3Server(store, USERS, config=config, ssl_context=context, implicit_tls=implicit)
        loop.run_until_complete(aserver.start())
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()

        def stop() -> None:
            asyncio.run_coroutine_threadsafe(aserver.stop(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()

        stoppers.append(stop)
        return aserver.port

    yield start
    for stop in stoppers:
        assert callable(stop)
        stop()


def test_poplib_user_pass_over_stls_top_uidl_and_delete(serve: object, store: MaildirStore,
                                                        tls_material: TLSMaterial) -> None:
    assert callable(serve)
    port = serve()
    client = poplib.POP3("127.0.0.1", port, timeout=10)
    capa = client.capa()
    assert "STLS" in capa and "USER" not in capa  # A6.1: no USER before TLS
    with pytest.raises(poplib.error_proto, match="AUTH"):
        client.user("alice")
    client.stls(client_context(tls_material))
    capa = client.capa()
    assert "USER" in capa and "STLS" not in capa and "SASL" in capa
    client.user("alice")
    client.pass_("secret")
    assert client.stat()[0] == 2
    listing = client.list()[1]
    assert len(listing) == 2
    _, lines, octets = client.retr(1)
    assert lines == [b"Subject: first", b"", b".leading dot", b"body one"]
    assert int(listing[0].split()[1]) == len(b"\r\n".join(lines) + b"\r\n")
    assert client.top(2, 0)[1] == [b"Subject: second", b""]
    uids = client.uidl()[1]
    assert len(uids) == 2
    client.dele(1)
    client.quit()
    assert len(store.maildir("alice")) == 1
    second = poplib.POP3("127.0.0.1", port, timeout=10)
    second.stls(client_context(tls_material))
    second.user("alice")
    second.pass_("secret")
    assert second.uidl()[1][0].split()[1] == uids[1].split()[1]  # UIDL stable across sessions
    second.quit()


def test_poplib_implicit_tls_and_apop(serve: object, tls_material: TLSMaterial) -> None:
    assert callable(serve)
    port = serve(implicit=True, config=pop3.Config(enable_apop=True))
    client = poplib.POP3_SSL("localhost", port, context=client_context(tls_material), timeout=10)
    assert b"<" in client.getwelcome()
    client.apop("alice", "secret")
    assert client.stat()[0] == 2
    client.quit()
    client = poplib.POP3_SSL("localhost", port, context=client_context(tls_material), timeout=10)
    with pytest.raises(poplib.error_proto, match="AUTH"):
        client.apop("alice", "wrong")
    client.quit()


def test_poplib_second_session_gets_in_use(serve: object, tls_material: TLSMaterial) -> None:
    assert callable(serve)
    port = serve(implicit=True)
    first = poplib.POP3_SSL("localhost", port, context=client_context(tls_material), timeout=10)
    first.user("alice")
    first.pass_("secret")
    second = poplib.POP3_SSL("localhost", port, context=client_context(tls_material), timeout=10)
    second.user("alice")
    with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
        second.pass_("secret")
    first.quit()
    second.quit()


def test_stls_injection_over_a_real_socket(serve: object, tls_material: TLSMaterial) -> None:
    """A2.1: commands pipelined after STLS in the same segment are never answered."""
    import socket
    assert callable(serve)
    port = serve()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        assert raw.recv(1024).startswith(b"+OK")
        raw.sendall(b"STLS\r\nUSER alice\r\n")
        assert raw.recv(1024) == b"+OK Begin TLS negotiation\r\n"
        tls = client_context(tls_material).wrap_socket(raw, server_hostname="localhost")
        tls.sendall(b"NOOP\r\n")
        reply = tls.recv(1024)
        # The injected USER was discarded: NOOP in AUTHORIZATION is the first command answered.
        assert reply == b"-ERR command not valid in this state\r\n"
        tls.sendall(b"QUIT\r\n")
        assert tls.recv(1024).startswith(b"+OK")
