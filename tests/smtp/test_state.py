"""The transition tables: every (state, event) pair behaves as the tables say."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfcmail import smtp
from rfcmail.errors import LocalProtocolError
from rfcmail.smtp import COMMANDS, OUTCOMES, Outcome, State
from rfcmail.smtp._state import GROUP_ENDERS, Opening

from . import our, ready_client

SAMPLE_EVENTS: list[smtp.Event] = [
    smtp.Ehlo(domain="c.example"), smtp.Helo(domain="c.example"), smtp.Mail(reverse_path="a@b.example"),
    smtp.Rcpt(forward_path="c@d.example"), smtp.Data(), smtp.Bdat(size=3), smtp.Bdat(size=0, last=True),
    smtp.Rset(), smtp.Noop(), smtp.Help(), smtp.Vrfy(argument="x"), smtp.Expn(argument="x"),
    smtp.Quit(), smtp.StartTLS(), smtp.Auth(mechanism="PLAIN"), smtp.AuthResponse(data=b"x"),
    smtp.AuthCancel(), smtp.MessageChunk(data=b"abc"), smtp.EndOfMessage(),
]

# Client-side recipes that bring a connection to each state with nothing pending.
PREFIX: dict[State, list[tuple[smtp.Event, bytes]]] = {
    State.READY: [],
    State.MAIL: [(smtp.Mail(reverse_path="a@b.example"), b"250 ok\r\n")],
    State.RCPT: [(smtp.Mail(reverse_path="a@b.example"), b"250 ok\r\n"),
                 (smtp.Rcpt(forward_path="c@d.example"), b"250 ok\r\n")],
    State.DATA: [(smtp.Mail(reverse_path="a@b.example"), b"250 ok\r\n"),
                 (smtp.Rcpt(forward_path="c@d.example"), b"250 ok\r\n"), (smtp.Data(), b"354 go\r\n")],
    State.BDAT: [(smtp.Mail(reverse_path="a@b.example"), b"250 ok\r\n"),
                 (smtp.Rcpt(forward_path="c@d.example"), b"250 ok\r\n")],
    State.AUTH: [(smtp.Auth(mechanism="LOGIN"), b"334 VXNlcm5hbWU6\r\n")],
}


def client_in(state: State) -> smtp.Connection:
    conn = ready_client("PIPELINING\r\n250-CHUNKING\r\n250 AUTH LOGIN")
    for event, reply in PREFIX[state]:
        conn.send(event)
        conn.receive_data(reply)
        while conn.next_event() is not smtp.NEED_DATA:
            pass
    if state is State.BDAT:
        conn.send(smtp.Bdat(size=1))
        conn.send(smtp.MessageChunk(data=b"x"))
        conn.receive_data(b"250 ok\r\n")
        conn.next_event()
    assert our(conn) is state and conn.their_state is state
    return conn


def test_tables_only_name_real_states() -> None:
    for (state, event_type), target in COMMANDS.items():
        assert isinstance(state, State) and isinstance(target, State)
        assert issubclass(event_type, smtp.Event)
    for (state, event_type, outcome), target in OUTCOMES.items():
        assert isinstance(outcome, Outcome) and isinstance(target, State)
    # Nothing leaves CLOSED or ERROR; nothing but QUIT leaves REFUSED.
    assert not [k for k in COMMANDS if k[0] in (State.CLOSED, State.ERROR)]
    assert [k[1] for k in COMMANDS if k[0] is State.REFUSED] == [smtp.Quit]
    # Every intermediate outcome is a DATA or AUTH exchange.
    assert {k[1] for k in OUTCOMES if k[2] is Outcome.INTERMEDIATE} == {
        smtp.Data, smtp.Auth, smtp.AuthResponse}
    assert (State.GREETING, Opening, Outcome.COMPLETED) in OUTCOMES
    assert smtp.Data in GROUP_ENDERS and smtp.Mail not in GROUP_ENDERS


@given(state=st.sampled_from(sorted(PREFIX, key=lambda s: s.value)), event=st.sampled_from(SAMPLE_EVENTS))
def test_client_send_follows_commands_table(state: State, event: smtp.Event) -> None:
    conn = client_in(state)
    allowed = (state, type(event)) in COMMANDS
    try:
        conn.send(event)
    except LocalProtocolError:
        sent = False
    else:
        sent = True
    if not allowed:
        assert not sent, f"{type(event).__name__} was sent in {state}"
        assert our(conn) is state
    elif sent and not isinstance(event, (smtp.MessageChunk, smtp.EndOfMessage, smtp.Bdat)):
        assert our(conn) is COMMANDS[(state, type(event))]


def test_client_allowed_pairs_mostly_send() -> None:
    # Allowed pairs only fail for reasons outside the table (a reason is given).
    refused = []
    for state in PREFIX:
        for event in SAMPLE_EVENTS:
            if (state, type(event)) not in COMMANDS:
                continue
            conn = client_in(state)
            try:
                conn.send(event)
            except LocalProtocolError as exc:
                refused.append((state, type(event).__name__, exc.message))
    reasons = {r[2] for r in refused}
    assert all(("BDAT" in reason or "chunk" in reason or "SASL" in reason) for reason in reasons), refused


@given(state=st.sampled_from([State.GREETING, State.HELLO, State.READY]), data=st.sampled_from([
    b"EHLO a\r\n", b"HELO a\r\n", b"MAIL FROM:<a@b.example>\r\n", b"RCPT TO:<c@d.example>\r\n", b"DATA\r\n",
    b"RSET\r\n", b"NOOP\r\n", b"QUIT\r\n", b"VRFY x\r\n", b"HELP\r\n", b"BDAT 0 LAST\r\n"]))
def test_server_sequence_follows_tables(state: State, data: bytes) -> None:
    conn = smtp.Connection(smtp.SERVER)
    if state is not State.GREETING:
        conn.send(conn.greeting())
    if state is State.READY:
        conn.receive_data(b"EHLO x\r\n")
        conn.send(conn.default_reply(conn.next_event()))  # type: ignore[arg-type]
    conn.receive_data(data)
    event = conn.next_event()
    if state is State.GREETING:
        assert event is smtp.PAUSED  # the greeting goes first
        return
    assert isinstance(event, smtp.Event)
    if isinstance(event, smtp.BadCommand):
        assert event.reply_hint.code in (503, 554)
        return
    assert (state, type(event)) in COMMANDS
    assert conn.their_state is COMMANDS[(state, type(event))] or isinstance(event, smtp.Bdat)


@pytest.mark.parametrize("state", list(State))
def test_states_have_docs(state: State) -> None:
    assert state.__doc__


SERVER_CONFIG = smtp.Config(starttls=True, auth_mechanisms=("LOGIN",), require_tls_for_auth=False)
ENVELOPE = b"EHLO a\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n"
# (setup bytes answered with default replies, then the bytes of the command left pending)
SERVER_SITUATIONS: list[tuple[bytes, bytes]] = [
    (b"", b"EHLO a\r\n"), (b"", b"HELO a\r\n"), (b"", b"NOOP\r\n"), (b"", b"RSET\r\n"), (b"", b"QUIT\r\n"),
    (b"", b"VRFY x\r\n"), (b"", b"MAIL FROM:<a@b.example>\r\n"),
    (b"EHLO a\r\n", b"MAIL FROM:<a@b.example>\r\n"), (b"EHLO a\r\n", b"STARTTLS\r\n"),
    (b"EHLO a\r\n", b"AUTH LOGIN\r\n"), (b"EHLO a\r\n", b"EHLO b\r\n"), (b"EHLO a\r\n", b"HELP\r\n"),
    (b"EHLO a\r\nMAIL FROM:<a@b.example>\r\n", b"RCPT TO:<c@d.example>\r\n"),
    (b"EHLO a\r\nMAIL FROM:<a@b.example>\r\n", b"DATA\r\n"),
    (b"EHLO a\r\nMAIL FROM:<a@b.example>\r\n", b"RSET\r\n"),
    (ENVELOPE, b"DATA\r\n"), (ENVELOPE, b"RCPT TO:<e@f.example>\r\n"), (ENVELOPE, b"BDAT 1\r\nx"),
    (ENVELOPE, b"BDAT 1 LAST\r\nx"), (ENVELOPE + b"DATA\r\n", b"ok\r\n.\r\n"),
    (ENVELOPE + b"DATA\r\n", b"bare\nLF\r\n.\r\n"), (ENVELOPE + b"BDAT 1\r\nx", b"BDAT 1\r\ny"),
]


def server_with_pending(setup: bytes, command: bytes) -> tuple[smtp.Connection, smtp.Event]:
    from . import greeted_server, run_server

    conn = greeted_server(SERVER_CONFIG)
    run_server(conn, setup)
    conn.receive_data(command)
    last: smtp.Event | None = None
    while isinstance(event := conn.next_event(), smtp.Event):
        last = event
    assert last is not None and conn.pending_reply_to is not None
    return conn, conn.pending_reply_to


@given(
    situation=st.sampled_from(SERVER_SITUATIONS),
    code=st.sampled_from([220, 221, 235, 250, 252, 334, 354, 421, 451, 500, 503, 535, 550, 554]),
)
def test_server_replies_follow_outcomes_table(situation: tuple[bytes, bytes], code: int) -> None:
    conn, pending = server_with_pending(*situation)
    before = conn.our_state
    try:
        conn.send(smtp.Reply(code=code, lines=("x",)))
    except LocalProtocolError:
        assert conn.our_state is before and conn.pending_reply_to is pending
        return
    if code == 421:
        assert conn.our_state is State.CLOSED
        return
    expected = OUTCOMES.get((before, type(pending), Outcome.of(code)), before)
    assert conn.our_state is expected
    assert conn.their_state is expected
