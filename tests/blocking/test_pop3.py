"""The blocking POP3 client and server over loopback sockets (no external program)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from rfcmail import pop3
from rfcmail._tls import TLSMode
from rfcmail.blocking.pop3 import InsecureAuthError, POP3Client, POP3Server
from rfcmail.errors import LocalProtocolError, RemoteProtocolError
from rfcmail.limits import DEFAULT_LIMITS
from rfcmail.store import MemoryStore

USERS = {"alice": "secret"}


@pytest.fixture
def store() -> MemoryStore:
    store = MemoryStore()
    store.deliver("alice", b"Subject: a\n\n.dot\nbody\n")
    store.deliver("alice", b"Subject: b\n\nsecond\n")
    return store


@pytest.fixture
def server(store: MemoryStore) -> Iterator[POP3Server]:
    config = pop3.Config(allow_plaintext_auth=True, enable_apop=True, auth_failure_delay=0.01,
                         limits=DEFAULT_LIMITS.clone(max_auth_failures=2))
    with POP3Server(store, USERS, config=config) as server:
        yield server


def test_tls_required_but_not_offered_fails_before_credentials(server: POP3Server) -> None:
    with pytest.raises(InsecureAuthError, match="STLS"):
        POP3Client.connect("127.0.0.1", server.port)


def test_plaintext_methods_refused_without_tls_and_scram_chosen(server: POP3Server, store: MemoryStore) -> None:
    with POP3Client.connect("127.0.0.1", server.port, tls=TLSMode.NONE) as client:
        for mechanism in ("USER", "PLAIN", "LOGIN", "APOP"):
            with pytest.raises(InsecureAuthError):
                client.login("alice", "secret", mechanism=mechanism)
        assert client.login("alice", "secret") == "SCRAM-SHA-256"
        assert client.stat() == (2, sum(len(m) + m.count(b"\n") for m in store.messages("alice")))
        assert client.retrieve(1) == b"Subject: a\r\n\r\n.dot\r\nbody\r\n"
        assert client.size(2) == len(b"Subject: b\r\n\r\nsecond\r\n")
        assert client.top(2, 0) == b"Subject: b\r\n\r\n"
        assert list(client.retrieve_stream(2)) == [b"Subject: b\r\n\r\nsecond\r\n"]
        client.noop()
        client.delete(1)
        client.reset()
        client.delete(2)
    assert store.messages("alice") == [b"Subject: a\n\n.dot\nbody\n"]


@pytest.mark.parametrize("mechanism", ["USER", "APOP", "PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1"])
def test_every_login_method_with_allow_insecure(server: POP3Server, mechanism: str) -> None:
    with POP3Client.connect("127.0.0.1", server.port, tls=TLSMode.NONE) as client:
        assert client.login("alice", "secret", mechanism=mechanism, allow_insecure_auth=True) == mechanism
        assert client.uidl() == {1: "m1", 2: "m2"}


def test_wrong_password_then_hang_up_after_the_limit(server: POP3Server) -> None:
    client = POP3Client.connect("127.0.0.1", server.port, tls=TLSMode.NONE)
    with pytest.raises(pop3.ResponseError) as caught:
        client.login("alice", "nope", mechanism="USER", allow_insecure_auth=True)
    assert caught.value.response.code == "AUTH"
    with pytest.raises(pop3.ResponseError):
        client.login("alice", "nope", mechanism="USER", allow_insecure_auth=True)
    # max_auth_failures=2: the server has closed the connection.
    with pytest.raises((RemoteProtocolError, OSError)):
        client.login("alice", "secret", mechanism="USER", allow_insecure_auth=True)
    client.close()


def test_in_use_for_a_second_session(server: POP3Server) -> None:
    with POP3Client.connect("127.0.0.1", server.port, tls=TLSMode.NONE) as first:
        first.login("alice", "secret")
        second = POP3Client.connect("127.0.0.1", server.port, tls=TLSMode.NONE)
        with pytest.raises(pop3.ResponseError) as caught:
            second.login("alice", "secret")
        assert caught.value.response.code == "IN-USE"
        second.close()


def test_crlf_in_credentials_sends_nothing(server: POP3Server) -> None:
    with POP3Client.connect("127.0.0.1", server.port, tls=TLSMode.NONE) as client:
        with pytest.raises(LocalProtocolError):
            client.login("alice\r\nDELE 1", "secret", allow_insecure_auth=True)
        with pytest.raises(LocalProtocolError):
            client.login("alice", "x\0y", allow_insecure_auth=True)
        assert client.conn.pending_commands == 0


def fake_server(script: list[bytes]) -> tuple[socket.socket, threading.Thread]:
    """A socket server that sends each scripted chunk after reading one line."""
    listener = socket.create_server(("127.0.0.1", 0))

    def run() -> None:
        sock, _ = listener.accept()
        with sock:
            sock.sendall(script[0])
            for chunk in script[1:]:
                sock.recv(1024)
                sock.sendall(chunk)
            sock.recv(1024)
        listener.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return listener, thread


def test_client_refuses_bytes_injected_after_stls_ok() -> None:
    """A2.2 over a real socket: '+OK' and a forged reply arrive together after STLS."""
    listener, thread = fake_server([b"+OK hi\r\n", b"+OK\r\nSTLS\r\nUSER\r\n.\r\n",
                                    b"+OK begin TLS\r\n+OK forged\r\n"])
    with pytest.raises(RemoteProtocolError, match="after the STLS"):
        POP3Client.connect("127.0.0.1", listener.getsockname()[1], timeout=5)
    thread.join(5)


def test_err_greeting_raises() -> None:
    listener, thread = fake_server([b"-ERR [SYS/TEMP] go away\r\n"])
    with pytest.raises(pop3.ResponseError) as caught:
        POP3Client.connect("127.0.0.1", listener.getsockname()[1], tls=TLSMode.NONE, timeout=5)
    assert caught.value.response.code == "SYS/TEMP"
    thread.join(5)


def test_server_needs_a_context_for_tls(store: MemoryStore) -> None:
    with pytest.raises(ValueError):
        POP3Server(store, USERS, implicit_tls=True)
    with pytest.raises(ValueError):
        POP3Server(store, USERS, config=pop3.Config(stls=True))


def test_idle_connection_is_closed_by_the_server(store: MemoryStore) -> None:
    """RFC 1939 section 3 autologout: a silent client is disconnected, nothing committed."""
    with POP3Server(store, USERS, config=pop3.Config(allow_plaintext_auth=True), idle_timeout=0.2) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
            assert raw.recv(1024).startswith(b"+OK")
            raw.sendall(b"USER alice\r\nPASS secret\r\nDELE 1\r\n")
            received = b""
            while True:
                data = raw.recv(1024)
                if not data:
                    break
                received += data
    assert received.count(b"+OK") == 3
    assert len(store.messages("alice")) == 2


def test_retrieve_many_with_a_sink_and_a_small_window(server: POP3Server) -> None:
    with POP3Client.connect("127.0.0.1", server.port, tls=TLSMode.NONE) as client:
        client.login("alice", "secret")
        seen: list[tuple[int, bytes]] = []
        assert client.retrieve_many([2, 1, 2], window=2, sink=lambda n, data: seen.append((n, data))) == []
        assert [n for n, _ in seen] == [2, 1, 2] and seen[0][1] == seen[2][1] == client.retrieve(2)
