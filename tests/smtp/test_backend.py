"""The Backend/Session Protocols and the reference backends, driven by a tiny synchronous adapter.

The open-relay row of SECURITY A6.4: the machine has no relay policy; the
session gets the peer, TLS state, authenticated identity and HELO name, and
refuses with ``554 5.7.1``.
"""

from __future__ import annotations

from rfcmail import smtp
from rfcmail.smtp import SMTPReplyError
from rfcmail.testing import DiscardBackend, MemoryBackend

from . import codes, greeted_server


def serve(backend: smtp.Backend, wire: bytes, *, authenticated_as: str | None = None,
          config: smtp.Config | None = None) -> bytes:
    """What an adapter does, minus sockets: events to session calls, refusals to replies."""
    conn = greeted_server(config)
    peer = smtp.PeerInfo(address=("192.0.2.7", 40000))
    session = backend.session(peer)
    assert isinstance(session, smtp.Session)
    out = bytearray()

    def context() -> smtp.SessionContext:
        hello = conn.hello
        return smtp.SessionContext(peer=peer, helo=hello.domain if hello else None, tls=conn.tls_active,
                                   authenticated_as=authenticated_as)

    conn.receive_data(wire)
    conn.receive_data(b"")
    while True:
        event = conn.next_event()
        if event is smtp.NEED_DATA or event is smtp.PAUSED or isinstance(event, smtp.ConnectionClosed):
            break
        assert isinstance(event, smtp.Event)
        reply = None
        try:
            if isinstance(event, smtp.Mail):
                session.mail(event, context())
            elif isinstance(event, smtp.Rcpt):
                session.rcpt(event, context())
            elif isinstance(event, smtp.MessageChunk):
                session.data(event.data, context())
                continue
            elif isinstance(event, smtp.EndOfMessage):
                queued = session.end(context())
                reply = smtp.Reply(code=250, lines=(f"Ok: {queued}",), enhanced=smtp.EnhancedStatus.parse("2.0.0"))
            elif isinstance(event, (smtp.Rset, smtp.MessageRejected)):
                session.reset(context())
            elif isinstance(event, smtp.Bdat):
                continue
        except SMTPReplyError as refusal:
            reply = refusal.reply
        out += conn.send(reply or conn.default_reply(event))
    session.close(context())
    return bytes(out)


ENVELOPE = (b"EHLO client.example\r\nMAIL FROM:<a@example.org>\r\n"
            b"RCPT TO:<bob@local.example>\r\nRCPT TO:<victim@remote.example>\r\n")


def test_open_relay_refused() -> None:
    backend = MemoryBackend(local_domains=frozenset({"local.example"}))
    out = serve(backend, ENVELOPE + b"DATA\r\nSubject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n")
    assert codes(out) == [250, 250, 250, 554, 354, 250, 221]
    assert b"554 5.7.1 Relay access denied\r\n" in out
    (stored,) = backend.messages
    assert [r.forward_path for r in stored.recipients] == ["bob@local.example"]
    assert stored.content == b"Subject: x\r\n\r\nhi\r\n"
    assert stored.context.helo == "client.example" and stored.context.peer.address == ("192.0.2.7", 40000)


def test_relay_allowed_when_authenticated() -> None:
    backend = MemoryBackend(local_domains=frozenset({"local.example"}))
    out = serve(backend, ENVELOPE, authenticated_as="alice")
    assert codes(out) == [250, 250, 250, 250]


def test_discard_backend_and_bdat() -> None:
    out = serve(DiscardBackend(), ENVELOPE + b"BDAT 5 LAST\r\nhello")
    assert codes(out) == [250, 250, 250, 250, 250]


def test_protocols_are_runtime_checkable() -> None:
    assert isinstance(MemoryBackend(), smtp.Backend)
    assert isinstance(DiscardBackend(), smtp.Backend)
    assert not isinstance(MemoryBackend(), smtp.AuthBackend)
    session = MemoryBackend().session(smtp.PeerInfo())
    assert not isinstance(session, smtp.LMTPSession)
