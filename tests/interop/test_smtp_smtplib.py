"""Python's smtplib as the client of rfcmail's asyncio SMTP server (and the threaded one).

Plain SMTP, STARTTLS, implicit TLS, AUTH PLAIN / LOGIN / CRAM-MD5, SMTPUTF8,
``send_message``, LMTP, the relay decision a backend makes from the session
facts, and a backend that crashes. Each message must reach the backend byte
for byte.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from email.message import EmailMessage
from email.policy import SMTPUTF8 as SMTPUTF8_POLICY

import pytest

from rfcmail.smtp import Config

from ..aio.support import (
    MESSAGE,
    CrashingBackend,
    RecordingBackend,
    RelayPolicyBackend,
    ServerThread,
    credentials,
)
from .conftest import TLSMaterial

pytestmark = pytest.mark.interop


def _client_context(tls: TLSMaterial) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(tls.ca))


def test_plain_sendmail_arrives_byte_for_byte() -> None:
    backend = RecordingBackend()
    with ServerThread(backend) as server, smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        code, _ = client.ehlo("client.example")
        assert code == 250
        assert client.has_extn("pipelining") and client.has_extn("8bitmime")
        refused = client.sendmail("a@example.test", ["b@example.test", "c@example.test"], MESSAGE)
        assert refused == {}
    message = backend.only_message()
    assert message.content == MESSAGE
    assert message.sender == "a@example.test"
    assert message.recipients == ["b@example.test", "c@example.test"]
    assert message.helo == "client.example"
    assert not message.tls and message.authenticated is None


def test_threaded_server_with_smtplib() -> None:
    backend = RecordingBackend()
    with ServerThread(backend, blocking=True) as server, smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        client.sendmail("a@example.test", ["b@example.test"], MESSAGE)
        client.sendmail("a@example.test", ["d@example.test"], MESSAGE)
    assert [m.recipients for m in backend.messages] == [["b@example.test"], ["d@example.test"]]
    assert all(m.content == MESSAGE for m in backend.messages)


def test_starttls_then_send(tls_material: TLSMaterial) -> None:
    backend = RecordingBackend()
    with ServerThread(backend, tls=tls_material) as server, \
            smtplib.SMTP("localhost", server.port, timeout=10) as client:
        client.ehlo()
        assert client.has_extn("starttls")
        assert not client.has_extn("auth"), "no AUTH is advertised before TLS"
        code, _ = client.starttls(context=_client_context(tls_material))
        assert code == 220
        client.ehlo()
        assert not client.has_extn("starttls")
        client.sendmail("a@example.test", ["b@example.test"], MESSAGE)
    message = backend.only_message()
    assert message.tls and message.content == MESSAGE
    assert message.tls_version in ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize("blocking", [False, True], ids=["aio", "threaded"])
def test_implicit_tls(tls_material: TLSMaterial, blocking: bool) -> None:
    backend = RecordingBackend()
    with ServerThread(backend, tls=tls_material, implicit_tls=True, blocking=blocking) as server, \
            smtplib.SMTP_SSL("localhost", server.port, timeout=10,
                             context=_client_context(tls_material)) as client:
        client.ehlo()
        assert not client.has_extn("starttls")
        client.sendmail("a@example.test", ["b@example.test"], MESSAGE)
    assert backend.only_message().tls
    assert backend.only_message().tls_version in ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_auth_after_starttls(tls_material: TLSMaterial, mechanism: str) -> None:
    backend = RecordingBackend()
    with ServerThread(backend, tls=tls_material, credentials=credentials()) as server, \
            smtplib.SMTP("localhost", server.port, timeout=10) as client:
        client.starttls(context=_client_context(tls_material))
        client.ehlo()
        offered = client.esmtp_features["auth"].upper().split()
        assert mechanism in offered
        client.user, client.password = "alice", "secret"
        method = {"PLAIN": client.auth_plain, "LOGIN": client.auth_login, "CRAM-MD5": client.auth_cram_md5}
        code, _ = client.auth(mechanism, method[mechanism])  # type: ignore[arg-type]
        assert code == 235
        client.sendmail("alice@example.test", ["bob@example.test"], MESSAGE)
    message = backend.only_message()
    assert message.authenticated == "alice" and message.tls


def test_wrong_password_is_535_and_the_connection_goes_on(tls_material: TLSMaterial) -> None:
    backend = RecordingBackend()
    with ServerThread(backend, tls=tls_material, credentials=credentials()) as server, \
            smtplib.SMTP("localhost", server.port, timeout=10) as client:
        client.starttls(context=_client_context(tls_material))
        client.ehlo()
        client.user, client.password = "alice", "wrong"
        with pytest.raises(smtplib.SMTPAuthenticationError) as caught:
            client.auth("PLAIN", client.auth_plain)
        assert (caught.value.smtp_code, caught.value.smtp_error[:5]) == (535, b"5.7.8")
        assert client.noop()[0] == 250
        client.user, client.password = "alice", "secret"
        assert client.auth("PLAIN", client.auth_plain)[0] == 235
        client.sendmail("alice@example.test", ["bob@example.test"], MESSAGE)
    assert backend.only_message().authenticated == "alice"


def test_auth_refused_over_plaintext(tls_material: TLSMaterial) -> None:
    backend = RecordingBackend()
    with ServerThread(backend, tls=tls_material, credentials=credentials()) as server, \
            smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        client.ehlo()
        assert not client.has_extn("auth")
        code, reply = client.docmd("AUTH", "PLAIN AGFsaWNlAHNlY3JldA==")
        assert code == 538, reply
        assert reply.startswith(b"5.7.11")


def test_smtputf8_and_send_message() -> None:
    backend = RecordingBackend()
    message = EmailMessage(policy=SMTPUTF8_POLICY)
    message["From"] = "José <josé@exämple.test>"
    message["To"] = "Zoë <zoë@exämple.test>"
    message["Subject"] = "Grüße"
    message.set_content("Ünïcödé body\n.leading dot\n")
    with ServerThread(backend) as server, smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        client.ehlo()
        assert client.has_extn("smtputf8")
        client.send_message(message)
    received = backend.only_message()
    assert received.sender == "josé@exämple.test"
    assert received.recipients == ["zoë@exämple.test"]
    assert received.smtputf8
    expected = message.as_bytes(policy=SMTPUTF8_POLICY.clone(linesep="\r\n"))
    assert received.content == expected


def test_backend_refuses_relay_with_554_unless_authenticated(tls_material: TLSMaterial) -> None:
    backend = RelayPolicyBackend(local_domains={"example.test"})
    with ServerThread(backend, tls=tls_material, credentials=credentials()) as server:
        with smtplib.SMTP("localhost", server.port, timeout=10) as client:
            client.starttls(context=_client_context(tls_material))
            client.ehlo()
            with pytest.raises(smtplib.SMTPRecipientsRefused) as caught:
                client.sendmail("x@elsewhere.test", ["victim@remote.test"], MESSAGE)
            code, text = caught.value.recipients["victim@remote.test"]
            assert code == 554 and text.startswith(b"5.7.1")
            assert client.sendmail("x@elsewhere.test", ["bob@example.test"], MESSAGE) == {}
        with smtplib.SMTP("localhost", server.port, timeout=10) as client:
            client.starttls(context=_client_context(tls_material))
            client.login("alice", "secret")
            assert client.sendmail("alice@example.test", ["victim@remote.test"], MESSAGE) == {}
    assert [m.recipients for m in backend.messages] == [["bob@example.test"], ["victim@remote.test"]]
    first = backend.decisions[0]
    assert first[:4] == ("victim@remote.test", "127.0.0.1", True, None)
    assert first[4]  # the HELO name smtplib sent
    assert backend.decisions[-1][:4] == ("victim@remote.test", "127.0.0.1", True, "alice")


def test_backend_crash_is_451_and_the_connection_goes_on() -> None:
    backend = CrashingBackend(crash_on="rcpt")
    with ServerThread(backend) as server, smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        client.ehlo()
        client.mail("a@example.test")
        code, text = client.rcpt("boom@example.test")
        assert (code, text[:5]) == (451, b"4.3.0")
        code, _ = client.rcpt("fine@example.test")
        assert code == 250
        client.data(MESSAGE)
    assert backend.only_message().recipients == ["fine@example.test"]


def test_lmtp_per_recipient_replies() -> None:
    backend = RecordingBackend(refuse_at_data={"full@example.test"})
    with ServerThread(backend, config=Config(hostname="lmtp.example", lmtp=True)) as server:
        client = smtplib.LMTP("127.0.0.1", server.port, timeout=10)
        try:
            code, _ = client.ehlo("client.example")  # smtplib's LMTP says LHLO here
            assert code == 250
            assert client.mail("a@example.test")[0] == 250
            assert client.rcpt("ok@example.test")[0] == 250
            assert client.rcpt("full@example.test")[0] == 250
            code, _ = client.docmd("DATA")
            assert code == 354
            client.send(re.sub(rb"(?m)^\.", b"..", MESSAGE) + b".\r\n")  # dot-stuffed by hand
            # RFC 2033 section 4.2: one reply per accepted recipient, in order.
            first = client.getreply()
            second = client.getreply()
            assert first[0] == 250
            assert (second[0], second[1][:5]) == (452, b"4.2.2")
            assert client.noop()[0] == 250
        finally:
            client.close()
    message = backend.only_message()
    assert message.recipients == ["ok@example.test", "full@example.test"]
    assert message.content == MESSAGE
    assert message.lmtp_replies == {"ok@example.test": 250, "full@example.test": 452}
