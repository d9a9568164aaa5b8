"""rfcmail.sasl server mechanisms against real SMTP clients: msmtp (GNU SASL), swaks and curl.

The SMTP side is a few lines of framing written here, over a socket, with
:class:`rfcmail.sasl.ServerExchange` doing the SASL part exactly as the
guide shows (the real SMTP adapters have their own interop tests). What is
under test is the server mechanisms: each real client must log in with the
right password, fail with a wrong one, and GNU SASL's SCRAM client must
accept our server signature (it checks it, as RFC 5802 requires).
"""

from __future__ import annotations

import base64
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, cast

import pytest

from rfcmail.sasl import (
    BearerToken,
    ChannelBinding,
    Challenge,
    Failure,
    InMemoryCredentialStore,
    ServerExchange,
    Success,
    create_client,
    create_server,
    derive_scram_credentials,
    format_scram_credentials,
    parse_scram_credentials,
    server_mechanisms,
)
from tests.interop.conftest import TLSMaterial, interop_dir, processes, tls_material
from tests.interop.framework import ProcessManager, require_program

from . import run_exchange

pytestmark = pytest.mark.interop

__all__ = ["interop_dir", "processes", "tls_material"]  # fixtures imported for this module

STORE = InMemoryCredentialStore({"alice": "secret"})
BEARER_TOKEN = "ya29.a0AfH6SMBx-token_for.alice~1"
MESSAGE = b"From: alice@example.test\r\nTo: bob@example.test\r\nSubject: sasl\r\n\r\nhello\r\n"


class AuthSMTPServer:
    """A minimal SMTP server on 127.0.0.1 that does STARTTLS and AUTH through rfcmail.sasl."""

    def __init__(self, context: ssl.SSLContext, store: InMemoryCredentialStore = STORE,
                 only: frozenset[str] | None = None) -> None:
        self.context = context
        self.store = store
        self.only = only
        self.results: list[Success | Failure] = []
        self.tokens: list[BearerToken] = []
        self.lines: list[bytes] = []
        self.mechanisms_seen: list[str] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)  # so that close() is seen promptly
        self.stopping = threading.Event()
        self.port: int = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=15)
        self.listener.close()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with connection:
                connection.settimeout(10)
                try:
                    self._session(connection)
                except (OSError, ssl.SSLError):
                    pass

    def _session(self, connection: socket.socket) -> None:
        sock: socket.socket = connection
        stream = cast(BinaryIO, sock.makefile("rwb"))
        binding: ChannelBinding | None = None
        identity: str | None = None
        tls = False

        def send(line: bytes) -> None:
            stream.write(line + b"\r\n")
            stream.flush()

        send(b"220 localhost ESMTP rfcmail-sasl-test")
        while True:
            line = stream.readline(4096)
            if not line:
                return
            verb, _, argument = line.rstrip(b"\r\n").partition(b" ")
            verb = verb.upper()
            if verb in (b"EHLO", b"HELO"):
                names = server_mechanisms(self.store, tls=tls, channel_binding=binding is not None,
                                          external=identity is not None, bearer=True)
                names = tuple(name for name in names if self.only is None or name in self.only)
                lines = [b"localhost", b"AUTH " + " ".join(names).encode()]
                if not tls:
                    lines.append(b"STARTTLS")
                for index, text in enumerate(lines):
                    send((b"250 " if index == len(lines) - 1 else b"250-") + text)
            elif verb == b"STARTTLS":
                send(b"220 2.0.0 go ahead")
                sock = self.context.wrap_socket(sock, server_side=True)
                stream = cast(BinaryIO, sock.makefile("rwb"))
                tls = True
                identity = _certificate_identity(sock)
            elif verb == b"AUTH":
                self._auth(argument, stream, send, binding, identity)
            elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                send(b"250 2.0.0 ok")
            elif verb == b"DATA":
                send(b"354 go on")
                while stream.readline(65536) not in (b".\r\n", b""):
                    pass
                send(b"250 2.0.0 accepted")
            elif verb == b"QUIT":
                send(b"221 2.0.0 bye")
                return
            else:
                send(b"502 5.5.1 not here")

    def _validate(self, token: BearerToken) -> str | None:
        self.tokens.append(token)
        return "alice" if token.token == BEARER_TOKEN else None

    def _auth(self, argument: bytes, stream: BinaryIO, send: Callable[[bytes], None],
              binding: ChannelBinding | None, identity: str | None) -> None:
        name, _, initial_text = argument.partition(b" ")
        mechanism = name.decode("ascii", "replace").upper()
        self.mechanisms_seen.append(mechanism)
        exchange = ServerExchange(create_server(
            mechanism, self.store, channel_binding=binding, external_identity=identity,
            token_validator=self._validate))
        initial = None if not initial_text else (b"" if initial_text == b"=" else base64.b64decode(initial_text))
        step = exchange.start(initial)
        while isinstance(step, Challenge):
            send(b"334 " + base64.b64encode(step.data))
            line = stream.readline(16384).rstrip(b"\r\n")
            self.lines.append(line)
            step = exchange.cancel() if line == b"*" else exchange.step(base64.b64decode(line))
        self.results.append(step)
        if isinstance(step, Success):
            send(b"235 2.7.0 Authentication successful")
        elif step.malformed:
            send(b"501 5.5.2 " + step.reason.encode())
        else:
            send(b"535 5.7.8 Authentication credentials invalid")


def _certificate_identity(sock: socket.socket) -> str | None:
    """The verified client certificate's common name: the EXTERNAL identity."""
    getpeercert = getattr(sock, "getpeercert", None)
    certificate = getpeercert() if getpeercert is not None else None
    for rdn in (certificate or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


def server_context(tls: TLSMaterial, *, client_certificates: bool = False) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls.chain, tls.key)
    if client_certificates:
        context.verify_mode = ssl.CERT_OPTIONAL
        context.load_verify_locations(tls.ca)
    return context


@pytest.fixture
def smtp_server(tls_material: TLSMaterial) -> Iterator[AuthSMTPServer]:
    server = AuthSMTPServer(server_context(tls_material))
    yield server
    server.close()


def run_msmtp(processes: ProcessManager, directory: Path, tls: TLSMaterial, port: int, mechanism: str,
              password: str, *, client_certificate: bool = False) -> int:
    msmtp = require_program("msmtp")
    config = directory / "msmtprc"
    config.write_text(
        "defaults\n"
        f"logfile {directory / 'msmtp.log'}\n"
        "account test\n"
        "host 127.0.0.1\n"
        f"port {port}\n"
        "tls on\n"
        "tls_starttls on\n"
        f"tls_trust_file {tls.ca}\n"
        "auth " + mechanism.lower() + "\n"
        "user alice\n"
        f"passwordeval printf %s {password}\n"
        "from alice@example.test\n"
        + (f"tls_cert_file {tls.cert}\ntls_key_file {tls.key}\n" if client_certificate else "")
    )
    config.chmod(0o600)
    result = processes.run([msmtp, "-C", str(config), "-a", "test", "bob@example.test"], input=MESSAGE,
                           check=False, timeout=30)
    return result.returncode


MSMTP_MECHANISMS = ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"]


@pytest.mark.parametrize("mechanism", MSMTP_MECHANISMS)
def test_msmtp_logs_in_with_each_mechanism(smtp_server: AuthSMTPServer, processes: ProcessManager,
                                           interop_dir: Path, tls_material: TLSMaterial, mechanism: str) -> None:
    code = run_msmtp(processes, interop_dir, tls_material, smtp_server.port, mechanism, "secret")
    log = (interop_dir / "msmtp.log").read_text() if (interop_dir / "msmtp.log").exists() else ""
    assert code == 0, (smtp_server.results, log)
    assert smtp_server.mechanisms_seen == [mechanism]
    assert smtp_server.results == [Success(authcid="alice", authzid="")]


@pytest.mark.parametrize("mechanism", ["PLAIN", "CRAM-MD5", "SCRAM-SHA-256"])
def test_msmtp_wrong_password_is_refused(smtp_server: AuthSMTPServer, processes: ProcessManager,
                                         interop_dir: Path, tls_material: TLSMaterial, mechanism: str) -> None:
    code = run_msmtp(processes, interop_dir, tls_material, smtp_server.port, mechanism, "wrong")
    assert code != 0
    assert len(smtp_server.results) == 1 and isinstance(smtp_server.results[0], Failure)
    assert not smtp_server.results[0].malformed


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
@pytest.mark.parametrize("password", ["secret", "wrong"])
def test_swaks(smtp_server: AuthSMTPServer, processes: ProcessManager, tls_material: TLSMaterial,
               mechanism: str, password: str) -> None:
    swaks = require_program("swaks")
    result = processes.run(
        [swaks, "-s", "127.0.0.1", "-p", str(smtp_server.port), "-tls", "--tls-verify",
         "--tls-ca-path", str(tls_material.ca), "-a", mechanism, "-au", "alice", "-ap", password,
         "-f", "alice@example.test", "-t", "bob@example.test", "--hide-all"],
        check=False, timeout=30,
    )
    assert (result.returncode == 0) is (password == "secret"), result
    assert smtp_server.mechanisms_seen == [mechanism]
    assert isinstance(smtp_server.results[0], Success) is (password == "secret")


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_curl(smtp_server: AuthSMTPServer, processes: ProcessManager, interop_dir: Path,
              tls_material: TLSMaterial, mechanism: str) -> None:
    curl = require_program("curl")
    message = interop_dir / "message.eml"
    message.write_bytes(MESSAGE)
    result = processes.run(
        [curl, "-sS", f"smtp://127.0.0.1:{smtp_server.port}", "--ssl-reqd", "--cacert", str(tls_material.ca),
         "--login-options", f"AUTH={mechanism}", "-u", "alice:secret",
         "--mail-from", "alice@example.test", "--mail-rcpt", "bob@example.test", "-T", str(message)],
        check=False, timeout=30,
    )
    assert result.returncode == 0, result
    assert smtp_server.mechanisms_seen == [mechanism]
    assert smtp_server.results == [Success(authcid="alice", authzid="")]


@pytest.mark.parametrize("authorized", [True, False])
def test_msmtp_external_with_a_tls_client_certificate(processes: ProcessManager, interop_dir: Path,
                                                     tls_material: TLSMaterial, authorized: bool) -> None:
    """EXTERNAL (RFC 4422 appendix A): the identity is the certificate's CN, set by the adapter.

    msmtp sends its configured user as the authzid, so the certificate's
    identity ("localhost") must be allowed to act as "alice".
    """
    store = InMemoryCredentialStore({"alice": "secret"}, authorizations={"localhost": ["alice"]} if authorized else {})
    server = AuthSMTPServer(server_context(tls_material, client_certificates=True), store)
    try:
        code = run_msmtp(processes, interop_dir, tls_material, server.port, "EXTERNAL", "unused",
                         client_certificate=True)
    finally:
        server.close()
    assert server.mechanisms_seen == ["EXTERNAL"]
    if authorized:
        assert code == 0, server.results
        assert server.results == [Success(authcid="localhost", authzid="alice")]
    else:
        assert code != 0
        assert server.results == [Failure(reason="not authorized to act as the requested authzid")]


def _handshake(tls: TLSMaterial, maximum: ssl.TLSVersion) -> tuple[ssl.SSLObject, ssl.SSLObject]:
    """A real TLS handshake between two in-memory endpoints."""
    server_context_ = server_context(tls)
    server_context_.maximum_version = maximum
    client_context = ssl.create_default_context(cafile=str(tls.ca))
    client_context.maximum_version = maximum
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    client_out, server_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_context.wrap_bio(to_client, client_out, server_hostname="localhost")
    server = server_context_.wrap_bio(to_server, server_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(20):
        for name, endpoint in (("client", client), ("server", server)):
            if not done[name]:
                try:
                    endpoint.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        to_server.write(client_out.read())
        to_client.write(server_out.read())
        if all(done.values()):
            return client, server
    raise AssertionError("TLS handshake did not finish")


def test_scram_plus_over_real_tls12_tls_unique(tls_material: TLSMaterial) -> None:
    """RFC 5802 section 6 with RFC 5929 tls-unique taken from both ends of a real TLS 1.2 session."""
    client_tls, server_tls = _handshake(tls_material, ssl.TLSVersion.TLSv1_2)
    client_data, server_data = client_tls.get_channel_binding("tls-unique"), server_tls.get_channel_binding("tls-unique")
    assert client_data and client_data == server_data
    client = create_client("SCRAM-SHA-256-PLUS", username="alice", password="secret",
                           channel_binding=ChannelBinding(type="tls-unique", data=client_data))
    server = create_server("SCRAM-SHA-256-PLUS", STORE,
                           channel_binding=ChannelBinding(type="tls-unique", data=server_data))
    result, _ = run_exchange(client, server)
    assert isinstance(result, Success) and result.authcid == "alice"
    assert client.complete

    # Another TLS session has other binding data: a man in the middle relaying SCRAM is caught.
    other_client, _ = _handshake(tls_material, ssl.TLSVersion.TLSv1_2)
    other_data = other_client.get_channel_binding("tls-unique")
    assert other_data and other_data != server_data
    client = create_client("SCRAM-SHA-256-PLUS", username="alice", password="secret",
                           channel_binding=ChannelBinding(type="tls-unique", data=other_data))
    server = create_server("SCRAM-SHA-256-PLUS", STORE,
                           channel_binding=ChannelBinding(type="tls-unique", data=server_data))
    assert run_exchange(client, server)[0] == Failure(reason="channel-bindings-dont-match")


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_stored_keys_move_between_doveadm_and_rfcmail(processes: ProcessManager, mechanism: str) -> None:
    """Keys ``doveadm pw`` makes serve rfcmail's server; keys rfcmail makes pass ``doveadm pw -t``."""
    doveadm = require_program("doveadm")
    made_by_dovecot = processes.run([doveadm, "pw", "-s", mechanism, "-p", "secret"]).stdout.decode().strip()
    parsed_mechanism, keys = parse_scram_credentials(made_by_dovecot)
    assert parsed_mechanism == mechanism
    store = InMemoryCredentialStore(scram={"alice": {mechanism: keys}})
    client = create_client(mechanism, username="alice", password="secret", salted_password_cache=None)
    result, _ = run_exchange(client, create_server(mechanism, store))
    assert isinstance(result, Success) and client.complete
    assert keys == derive_scram_credentials("secret", mechanism, salt=keys.salt, iterations=keys.iterations)

    made_by_rfcmail = format_scram_credentials(mechanism, derive_scram_credentials("secret", mechanism))
    verified = processes.run([doveadm, "pw", "-t", made_by_rfcmail, "-p", "secret"])
    assert b"verified" in verified.stdout + verified.stderr
    refused = processes.run([doveadm, "pw", "-t", made_by_rfcmail, "-p", "wrong"], check=False)
    assert refused.returncode != 0


@pytest.mark.parametrize("mechanism", ["OAUTHBEARER", "XOAUTH2"])
@pytest.mark.parametrize("token", [BEARER_TOKEN, "expired-token"])
def test_msmtp_bearer_tokens(smtp_server: AuthSMTPServer, processes: ProcessManager, interop_dir: Path,
                             tls_material: TLSMaterial, mechanism: str, token: str) -> None:
    """msmtp's built-in OAUTHBEARER/XOAUTH2 against the bearer server (the token is the "password")."""
    code = run_msmtp(processes, interop_dir, tls_material, smtp_server.port, mechanism, token)
    assert smtp_server.mechanisms_seen == [mechanism]
    assert [seen.token for seen in smtp_server.tokens] == [token]
    assert smtp_server.tokens[0].user == "alice"
    if token == BEARER_TOKEN:
        assert code == 0, smtp_server.results
        assert isinstance(smtp_server.results[0], Success) and smtp_server.results[0].authcid == "alice"
    else:
        assert code != 0
        assert smtp_server.results == [Failure(reason="invalid token")], smtp_server.lines


@pytest.mark.parametrize("mechanism", ["OAUTHBEARER", "XOAUTH2"])
def test_curl_bearer_tokens(processes: ProcessManager, interop_dir: Path, tls_material: TLSMaterial,
                            mechanism: str) -> None:
    """curl's --oauth2-bearer; the server offers one mechanism (curl prefers OAUTHBEARER when both are)."""
    curl = require_program("curl")
    message = interop_dir / "message.eml"
    message.write_bytes(MESSAGE)
    server = AuthSMTPServer(server_context(tls_material), only=frozenset({mechanism}))
    try:
        result = processes.run(
            [curl, "-sS", f"smtp://127.0.0.1:{server.port}", "--ssl-reqd", "--cacert", str(tls_material.ca),
             "--user", "alice:", "--oauth2-bearer", BEARER_TOKEN,
             "--mail-from", "alice@example.test", "--mail-rcpt", "bob@example.test", "-T", str(message)],
            check=False, timeout=30,
        )
    finally:
        server.close()
    assert result.returncode == 0, (result, server.results)
    assert server.mechanisms_seen == [mechanism]
    token = server.tokens[0]
    assert token.token == BEARER_TOKEN and token.user == "alice"
    if mechanism == "OAUTHBEARER":
        assert token.host == "127.0.0.1" and token.port == server.port
