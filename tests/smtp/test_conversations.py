"""Random whole conversations between a client and a server machine (hypothesis stateful testing).

The client tries commands in any order (the machine refuses what the tables
forbid, before any byte is written), the server accepts or refuses each
command at random, and after every step both sides must agree on the state
of the session whenever no reply is outstanding. Message content must arrive
exactly as sent (after CRLF normalisation).
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from rfcmail import smtp
from rfcmail.errors import LimitExceeded, LocalProtocolError
from rfcmail.smtp import State
from rfcmail.testing import ConnectionPair

COMMANDS = [
    smtp.Ehlo(domain="c.example"), smtp.Helo(domain="c.example"), smtp.Mail(reverse_path="a@b.example"),
    smtp.Mail(reverse_path="", params=(("BODY", "8BITMIME"),)), smtp.Rcpt(forward_path="c@d.example"),
    smtp.Rcpt(forward_path="Postmaster"), smtp.Data(), smtp.Rset(), smtp.Noop(), smtp.Vrfy(argument="bob"),
    smtp.Help(), smtp.StartTLS(), smtp.Auth(mechanism="PLAIN", initial_response=b"\x00a\x00b"),
    smtp.Auth(mechanism="LOGIN"), smtp.Quit(),
]
BODIES = st.binary(max_size=120).map(lambda b: b.replace(b"\x00", b""))


class Conversation(RuleBasedStateMachine):
    server_config = smtp.Config(
        hostname="mx.example", starttls=True, auth_mechanisms=("PLAIN", "LOGIN"), require_tls_for_auth=False)
    chunk_size: int | None = None

    def __init__(self) -> None:
        super().__init__()
        self.client = smtp.Connection(smtp.CLIENT)
        self.server = smtp.Connection(smtp.SERVER, self.server_config)
        self.pair = ConnectionPair(self.client, self.server, chunk_size=self.chunk_size)
        self.pair.server_send(self.server.greeting())
        self.sent_content = bytearray()
        self.in_message = False

    def _closed(self) -> bool:
        return State.CLOSED in (self.client.our_state, self.client.their_state, self.server.our_state)

    @precondition(lambda self: not self._closed() and not self.in_message)
    @rule(command=st.sampled_from(COMMANDS))
    def client_sends(self, command: smtp.Event) -> None:
        before = (self.client.our_state, self.client.pending_commands, len(self.pair.client_wire))
        try:
            self.pair.client_send(command)
        except LocalProtocolError:
            assert (self.client.our_state, self.client.pending_commands, len(self.pair.client_wire)) == before
        except LimitExceeded as exc:
            # A limit that ends the connection (here: AUTH failures): 421 and close.
            assert self.server.their_state is State.ERROR and exc.reply_hint is not None
            self.pair.server_send(smtp.Reply.from_text(exc.reply_hint))
            assert self.server.our_state is State.CLOSED and self.client.their_state is State.CLOSED

    @precondition(lambda self: not self._closed() and not self.in_message and not self.client.pending_commands)
    @rule()
    def client_takes_next_step(self) -> None:
        """The usual next command, so that random walks reach the message often."""
        step = {
            State.HELLO: smtp.Ehlo(domain="c.example"), State.READY: smtp.Mail(reverse_path="a@b.example"),
            State.MAIL: smtp.Rcpt(forward_path="c@d.example"), State.RCPT: smtp.Data(),
        }.get(self.client.our_state)
        if step is not None:
            self.client_sends(step)

    @precondition(lambda self: self.server.pending_reply_to is not None and self.server.our_state is not State.CLOSED)
    @rule(accept=st.sampled_from([True, True, True, False]), code=st.sampled_from([451, 550, 554]))
    def server_replies(self, accept: bool, code: int) -> None:
        pending = self.server.pending_reply_to
        assert pending is not None
        if isinstance(pending, smtp.Auth | smtp.AuthResponse) and accept:
            reply: smtp.Event = smtp.Reply.standard("auth_ok")
        elif accept or isinstance(pending, smtp.BadCommand | smtp.MessageRejected | smtp.AuthCancel):
            reply = self.server.default_reply(pending)
        else:
            reply = smtp.Reply(code=code, lines=("refused",))
        self.pair.server_send(reply)
        self.pair.server_events_now()
        if self.server.our_state is State.STARTTLS:
            assert self.client.their_state is State.STARTTLS
            self.client.tls_established()
            self.server.tls_established()

    @precondition(lambda self: self.client.their_state is State.DATA and self.client.our_state is State.DATA
                  and not self.client.pending_commands)
    @rule(body=BODIES, split=st.integers(min_value=0, max_value=120))
    def client_sends_message(self, body: bytes, split: int) -> None:
        self.in_message = True
        before = len(self.pair.server_events)
        self.pair.client_send(smtp.MessageChunk(data=body[:split]), smtp.MessageChunk(data=body[split:]),
                              smtp.EndOfMessage())
        self.in_message = False
        received = b"".join(e.data for e in self.pair.server_events[before:] if isinstance(e, smtp.MessageChunk))
        expected = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
        if expected and not expected.endswith(b"\r\n"):
            expected += b"\r\n"
        assert received == expected
        assert isinstance(self.pair.server_events[-1], smtp.EndOfMessage)

    @precondition(lambda self: self.server.our_state is State.CLOSED)
    @rule()
    def finished(self) -> None:
        assert self.client.their_state is State.CLOSED

    @precondition(lambda self: self.client.our_state in (State.RCPT, State.BDAT) and not self._closed()
                  and self.client.extensions.chunking)
    @rule(chunk=BODIES, last=st.booleans())
    def client_sends_bdat(self, chunk: bytes, last: bool) -> None:
        before = len(self.pair.server_events)
        try:
            self.pair.client_send(smtp.Bdat(size=len(chunk), last=last))
        except LocalProtocolError:
            return  # without PIPELINING the client waits for the previous reply
        self.pair.client_send(smtp.MessageChunk(data=chunk))
        events = self.pair.server_events[before:]
        if events and isinstance(events[0], smtp.Bdat):
            # Accepted chunks arrive unchanged (no stuffing, no line-ending checks).
            assert b"".join(e.data for e in events if isinstance(e, smtp.MessageChunk)) == chunk

    @invariant()
    def sides_agree(self) -> None:
        if self._closed() or self.client.pending_commands:
            return
        if self.server.pending_reply_to is not None:
            return
        assert self.client.their_state is self.server.our_state, (self.client.their_state, self.server.our_state)
        assert self.client.our_state is self.client.their_state
        assert self.client.recipients == self.server.recipients


class BytewiseConversation(Conversation):
    """The same, every byte delivered alone, with a server that offers neither PIPELINING nor CHUNKING."""

    server_config = Conversation.server_config.clone(pipelining=False, chunking=False)
    chunk_size = 1


TestConversation = Conversation.TestCase
TestConversation.settings = settings(max_examples=120, stateful_step_count=30, deadline=None)
TestBytewiseConversation = BytewiseConversation.TestCase
TestBytewiseConversation.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
