"""The POP3 machine end to end in memory: transcripts, states, security rows, limits."""

from __future__ import annotations

import pytest

from rfcmail import pop3
from rfcmail.errors import LimitExceeded, LocalProtocolError, RemoteProtocolError
from rfcmail.limits import DEFAULT_LIMITS
from rfcmail.pop3 import State

from .helpers import Pair, drain


def current(conn: pop3.Connection) -> State:
    """The state, through a call so that mypy does not narrow it between steps."""
    return conn.state


def current_caps(conn: pop3.Connection) -> dict[str, tuple[str, ...]] | None:
    return conn.server_capabilities


def ok(event: pop3.Event) -> bool:
    return isinstance(event, pop3.Response) and event.ok


def err(event: pop3.Event) -> bool:
    return isinstance(event, pop3.Response) and not event.ok


# -- RFC 1939 transcripts ------------------------------------------------------------


def test_rfc1939_session_transcript() -> None:
    pair = Pair()
    pair.store.deliver("alice", b"Subject: one\r\n\r\nfirst\r\n")
    pair.store.deliver("alice", b"Subject: two\n\nsecond\n")
    assert isinstance(pair.greeting[0], pop3.Greeting)
    assert pair.greeting[0].timestamp == "<1.2@test>"
    pair.login()
    assert current(pair.client) is State.TRANSACTION
    stat = pair.exchange(pop3.Stat())
    assert stat == [pop3.Response(ok=True, text="2 47")]
    listing = pair.exchange(pop3.List())
    assert listing[1:] == [pop3.ScanListing(message_number=1, size=23),
                           pop3.ScanListing(message_number=2, size=24), pop3.EndOfMultiline()]
    retr = pair.exchange(pop3.Retr(message_number=2))
    assert b"".join(e.data for e in retr if isinstance(e, pop3.MessageChunk)) == b"Subject: two\r\n\r\nsecond\r\n"
    assert pair.exchange(pop3.Dele(message_number=1)) == [pop3.Response(ok=True, text="message 1 deleted")]
    assert err(pair.exchange(pop3.Dele(message_number=1))[0])
    assert err(pair.exchange(pop3.Retr(message_number=1))[0])
    assert pair.exchange(pop3.Stat()) == [pop3.Response(ok=True, text="1 24")]
    quit_events = pair.exchange(pop3.Quit())
    assert ok(quit_events[0])
    assert current(pair.client) is State.CLOSED and current(pair.server) is State.CLOSED
    assert pop3.CLOSE in pair.actions
    assert pair.store.messages("alice") == [b"Subject: two\n\nsecond\n"]


def test_rset_unmarks_deletions() -> None:
    pair = Pair()
    pair.store.deliver("alice", b"a\r\n")
    pair.login()
    pair.exchange(pop3.Dele(message_number=1))
    assert pair.exchange(pop3.Stat()) == [pop3.Response(ok=True, text="0 0")]
    assert ok(pair.exchange(pop3.Rset())[0])
    assert pair.exchange(pop3.Stat()) == [pop3.Response(ok=True, text="1 3")]
    pair.exchange(pop3.Quit())
    assert pair.store.messages("alice") == [b"a\r\n"]


def test_dropped_connection_deletes_nothing() -> None:
    pair = Pair()
    pair.store.deliver("alice", b"keep me\r\n")
    pair.login()
    assert ok(pair.exchange(pop3.Dele(message_number=1))[0])
    pair.server.receive_data(b"")
    events = []
    while True:
        event = pair.server.next_event()
        if isinstance(event, pop3.Sentinel):
            break
        events.append(event)
        pair._deliver(pair.session.handle(event))
    assert isinstance(events[0], pop3.ConnectionClosed)
    assert pair.store.messages("alice") == [b"keep me\r\n"]
    # The lock is released: a new session opens the maildrop.
    again = Pair(store=pair.store)
    again.login()


def test_quit_in_authorization_does_not_enter_update() -> None:
    pair = Pair()
    events = pair.exchange(pop3.Quit())
    assert ok(events[0]) and current(pair.client) is State.CLOSED


def test_uidl_and_top() -> None:
    pair = Pair()
    uid = pair.store.deliver("alice", b"Subject: x\r\n\r\nl1\r\nl2\r\nl3\r\n")
    pair.login()
    uidl = pair.exchange(pop3.Uidl())
    assert uidl[1] == pop3.UniqueIdListing(message_number=1, unique_id=uid)
    assert pair.exchange(pop3.Uidl(message_number=1)) == [pop3.Response(ok=True, text=f"1 {uid}")]
    top = pair.exchange(pop3.Top(message_number=1, lines=2))
    body = b"".join(e.data for e in top if isinstance(e, pop3.MessageChunk))
    assert body == b"Subject: x\r\n\r\nl1\r\nl2\r\n"
    top0 = pair.exchange(pop3.Top(message_number=1, lines=0))
    assert b"".join(e.data for e in top0 if isinstance(e, pop3.MessageChunk)) == b"Subject: x\r\n\r\n"
    assert err(pair.exchange(pop3.List(message_number=5))[0])


def test_capa_lists_only_enabled_capabilities() -> None:
    config = pop3.Config(enable_top=False, pipelining=False, resp_codes=False, login_delay=900,
                         expire="NEVER", implementation=None, stls=True, sasl_mechanisms=("SCRAM-SHA-256", "PLAIN"))
    pair = Pair(config=config)
    events = pair.exchange(pop3.Capa())
    names = {e.name: e.arguments for e in events if isinstance(e, pop3.Capability)}
    assert names == {"LOGIN-DELAY": ("900",), "EXPIRE": ("NEVER",), "UIDL": (),
                     "SASL": ("SCRAM-SHA-256",), "STLS": ()}
    assert pair.client.server_capabilities == names
    # TOP is refused since it is not advertised.
    pair2 = Pair(config=config.clone(allow_plaintext_auth=True))
    pair2.login()
    assert err(pair2.exchange(pop3.Top(message_number=1, lines=0))[0])


def test_commands_in_wrong_state_get_err_and_session_continues() -> None:
    pair = Pair()
    pair.feed_server(b"STAT\r\n")
    assert pair.server_errors[-1].reply_hint == "-ERR command not valid in this state"
    assert pair.wire[-1] == b"-ERR command not valid in this state\r\n"
    assert current(pair.server) is State.AUTHORIZATION
    pair.login()
    pair.feed_server(b"USER alice\r\n")
    assert pair.wire[-1] == b"-ERR command not valid in this state\r\n"
    assert current(pair.server) is State.TRANSACTION


def test_unknown_and_malformed_commands() -> None:
    pair = Pair()
    for line, hint in [(b"XYZZY\r\n", "-ERR unknown command"), (b"RETR\r\n", "-ERR RETR needs a message number"),
                       (b"AUTH\r\n", "-ERR AUTH needs a mechanism"), (b"NOOP x\r\n", "-ERR NOOP takes no argument"),
                       (b"USER a\x00b\r\n", "-ERR invalid characters in command")]:
        pair.feed_server(line)
        assert pair.server_errors[-1].reply_hint == hint
        assert pair.wire[-1].startswith(b"-ERR")
    assert pair.server.their_state is State.AUTHORIZATION


# -- A6.1 plaintext credentials, A6.2 failure delays ----------------------------------


def test_user_pass_refused_before_tls_by_default() -> None:
    pair = Pair(config=pop3.Config(stls=True))
    capa = pair.exchange(pop3.Capa())
    names = [e.name for e in capa if isinstance(e, pop3.Capability)]
    assert "USER" not in names and "STLS" in names
    pair.feed_server(b"USER alice\r\n")
    assert pair.wire[-1].startswith(b"-ERR [AUTH]")


def test_user_pass_allowed_under_implicit_tls() -> None:
    server = pop3.Connection(pop3.SERVER, pop3.Config(stls=True), tls_active=True)
    names = [c.name for c in server.capabilities()]
    assert "USER" in names and "STLS" not in names
    server.send(pop3.Greeting())
    server.receive_data(b"USER alice\r\nSTLS\r\n")
    assert server.next_event() == pop3.User(name="alice")


def test_failed_logins_are_delayed_and_limited() -> None:
    limits = DEFAULT_LIMITS.clone(max_auth_failures=3)
    pair = Pair(config=pop3.Config(allow_plaintext_auth=True, auth_failure_delay=0.5,
                                   max_auth_failure_delay=1.0, limits=limits))
    delays = []
    for attempt in range(1, 4):
        before = len(pair.actions)
        events = pair.exchange(pop3.User(name="alice"), pop3.Pass(password=f"wrong{attempt}"))
        assert events[1] == pop3.Response(ok=False, code="AUTH", text="authentication failed")
        delays += [a.seconds for a in pair.actions[before:] if isinstance(a, pop3.Delay)]
        # N-1 failures: still open; N: closed.
        assert (current(pair.server) is State.CLOSED) == (attempt == 3)
    assert delays == [0.5, 1.0, 1.0]
    assert pop3.CLOSE in pair.actions
    assert pair.server.auth_failures == 3


def test_in_use_is_not_an_auth_failure() -> None:
    pair = Pair()
    pair.login()
    second = Pair(store=pair.store)
    events = second.exchange(pop3.User(name="alice"), pop3.Pass(password="secret"))
    assert events[1] == pop3.Response(ok=False, code="IN-USE", text="maildrop already locked by another session")
    assert second.server.auth_failures == 0 and second.server.reply_delay == 0


def test_apop_only_with_a_shared_secret_and_timestamp() -> None:
    digest = pop3.apop_digest("<1.2@test>", "secret")
    pair = Pair()
    events = pair.exchange(pop3.Apop(name="alice", digest=digest))
    assert ok(events[0]) and current(pair.server) is State.TRANSACTION
    wrong = Pair()
    assert wrong.exchange(pop3.Apop(name="alice", digest="0" * 32))[0] == pop3.Response(
        ok=False, code="AUTH", text="authentication failed")
    unknown = Pair()
    assert err(unknown.exchange(pop3.Apop(name="nobody", digest=pop3.apop_digest("<1.2@test>", "")))[0])
    # No timestamp in the greeting (or APOP disabled): APOP is refused outright.
    for pair3 in (Pair(timestamp=None), Pair(config=pop3.Config(allow_plaintext_auth=True))):
        greeting = pair3.greeting[0]
        assert isinstance(greeting, pop3.Greeting) and greeting.timestamp is None
        pair3.feed_server(f"APOP alice {digest}\r\n".encode())
        assert pair3.server_errors[-1].reply_hint == "-ERR APOP not available"


def test_verify_apop_uses_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    import hmac

    from rfcmail.pop3 import backend
    calls = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert backend.verify_apop("<t@x>", "s", backend.apop_digest("<t@x>", "s"))
    assert not backend.verify_apop("<t@x>", None, backend.apop_digest("<t@x>", "\0no-such-user"))
    assert backend.PasswordMap({"a": "b"}).check_password("a", "b")
    assert not backend.PasswordMap({"a": "b"}).check_password("z", "b")
    assert len(calls) == 4  # unknown users go through the same comparison


# -- A2.1 / A2.2 STLS injection ------------------------------------------------------------


def test_server_discards_commands_pipelined_after_stls() -> None:
    pair = Pair(config=pop3.Config(stls=True))
    pair.feed_server(b"STLS\r\nUSER alice\r\nPASS secret\r\n")
    assert pair.wire[-1] == b"+OK Begin TLS negotiation\r\n"
    assert pop3.START_TLS in pair.actions
    assert pair.server.next_event() is pop3.PAUSED
    pair.server.tls_established()
    assert pair.server.discarded_after_tls == len(b"USER alice\r\nPASS secret\r\n")
    assert current(pair.server) is State.AUTHORIZATION
    assert pair.server.next_event() is pop3.NEED_DATA
    assert pair.wire[-1] == b"+OK Begin TLS negotiation\r\n"  # no reply to the injected commands


def test_client_fails_on_bytes_after_stls_ok() -> None:
    client = pop3.Connection(pop3.CLIENT)
    client.receive_data(b"+OK hello\r\n")
    drain(client)
    client.send(pop3.Stls())
    client.receive_data(b"+OK begin\r\n+OK injected\r\n")
    with pytest.raises(RemoteProtocolError, match="after the STLS"):
        client.next_event()
    assert client.their_state is State.ERROR


def test_client_forgets_capabilities_after_tls() -> None:
    client = pop3.Connection(pop3.CLIENT)
    client.receive_data(b"+OK hi\r\n")
    drain(client)
    client.send(pop3.Capa())
    client.receive_data(b"+OK\r\nSASL PLAIN\r\nSTLS\r\n.\r\n")
    drain(client)
    assert client.server_capabilities == {"SASL": ("PLAIN",), "STLS": ()}
    client.send(pop3.Stls())
    client.receive_data(b"+OK go\r\n")
    assert ok(drain(client)[0])
    assert client.next_event() is pop3.PAUSED
    client.tls_established()
    assert current_caps(client) is None
    assert client.tls_active
    with pytest.raises(LocalProtocolError):
        client.tls_established()


# -- A3.3 CRLF / NUL injection through client arguments -------------------------------------


@pytest.mark.parametrize("bad", ["a\r\nDELE 1", "a\nx", "a\rx", "a\0x"])
def test_client_arguments_with_controls_raise_before_any_byte(bad: str) -> None:
    with pytest.raises(LocalProtocolError):
        pop3.User(name=bad)
    with pytest.raises(LocalProtocolError):
        pop3.Pass(password=bad)
    with pytest.raises(LocalProtocolError):
        pop3.Apop(name=bad, digest="0" * 32)


def test_bad_numbers_and_mechanisms_are_refused() -> None:
    for make in (lambda: pop3.Retr(message_number=0), lambda: pop3.Dele(message_number=-1),
                 lambda: pop3.Top(message_number=1, lines=-1), lambda: pop3.Uidl(message_number=2**32),
                 lambda: pop3.Auth(mechanism="plain"), lambda: pop3.Retr(message_number=True)):
        with pytest.raises(LocalProtocolError):
            make()


# -- RFC 2449 section 4 line length: N-1, N, N+1 ---------------------------------------------


@pytest.mark.parametrize("limit", [255, 64])
def test_command_line_limit(limit: int) -> None:
    config = pop3.Config(allow_plaintext_auth=True, limits=DEFAULT_LIMITS.clone(max_pop3_line=limit))
    for length, accepted in ((limit - 1, True), (limit, True), (limit + 1, False)):
        pair = Pair(config=config)
        line = b"USER " + b"u" * (length - len(b"USER \r\n")) + b"\r\n"
        assert len(line) == length
        pair.feed_server(line)
        if accepted:
            assert pair.wire[-1] == b"+OK send PASS\r\n"
        else:
            error = pair.server_errors[-1]
            assert isinstance(error, LimitExceeded) and error.limit_name == "max_pop3_line"
            assert pair.wire[-1] == b"-ERR command line too long\r\n"
            pair.feed_server(b"NOOP\r\n")  # the rest of the long line was discarded; NOOP is next
            assert pair.server_errors[-1].reply_hint == "-ERR command not valid in this state"


def test_long_line_arriving_in_pieces_is_discarded_without_buffering() -> None:
    pair = Pair()
    pair.feed_server(b"X" * 300)
    assert isinstance(pair.server_errors[-1], LimitExceeded)
    for _ in range(100):
        pair.feed_server(b"Y" * 10_000)
    assert len(pair.server.trailing_data[0]) == 0
    pair.feed_server(b"\r\nUSER alice\r\n")
    assert pair.wire[-1] == b"+OK send PASS\r\n"


def test_too_many_bad_commands_close_the_connection() -> None:
    config = pop3.Config(limits=DEFAULT_LIMITS.clone(max_bad_commands=3))
    pair = Pair(config=config)
    pair.feed_server(b"BAD\r\n" * 3)
    assert current(pair.server) is State.AUTHORIZATION
    pair.feed_server(b"BAD\r\n")
    assert isinstance(pair.server_errors[-1], LimitExceeded)
    assert current(pair.server) is State.CLOSED and pop3.CLOSE in pair.actions
    assert pair.wire[-1] == b"-ERR too many invalid commands\r\n"


def test_max_commands_limit() -> None:
    config = pop3.Config(allow_plaintext_auth=True, limits=DEFAULT_LIMITS.clone(max_commands=4))
    pair = Pair(config=config)
    pair.login()
    pair.feed_server(b"NOOP\r\nNOOP\r\n")
    assert pair.wire[-1] == b"+OK\r\n"
    pair.feed_server(b"NOOP\r\n")
    assert pair.wire[-1] == b"-ERR [SYS/TEMP] too many commands\r\n"
    assert current(pair.server) is State.CLOSED


# -- byte-stuffing round trip (issue: a message with lines beginning with ".") -----------------


def test_dot_lines_round_trip() -> None:
    message = b".\r\n..\r\n.x\r\nmid.dle\r\n.\r\n\r\n.end"
    pair = Pair()
    pair.store.deliver("alice", message)
    pair.login()
    events = pair.exchange(pop3.Retr(message_number=1))
    received = b"".join(e.data for e in events if isinstance(e, pop3.MessageChunk))
    assert received == message + b"\r\n"
    assert b"\r\n..\r\n...\r\n..x\r\n" in b"".join(pair.wire)


def test_pipelined_commands_answered_in_order() -> None:
    pair = Pair()
    for n in range(5):
        pair.store.deliver("alice", b"m%d\r\n" % n)
    events = pair.exchange(pop3.User(name="alice"), pop3.Pass(password="secret"), pop3.Stat(),
                           *[pop3.Retr(message_number=n) for n in range(1, 6)], pop3.Dele(message_number=2),
                           pop3.Quit())
    bodies = []
    current = b""
    for event in events:
        if isinstance(event, pop3.MessageChunk):
            current += event.data
        elif isinstance(event, pop3.EndOfMultiline):
            bodies.append(current)
            current = b""
    assert bodies == [b"m%d\r\n" % n for n in range(5)]
    assert pair.store.messages("alice") == [b"m0\r\n", b"m2\r\n", b"m3\r\n", b"m4\r\n"]


def test_pipelined_command_after_failed_pass_is_refused() -> None:
    pair = Pair()
    events = pair.exchange(pop3.User(name="alice"), pop3.Pass(password="nope"), pop3.Stat())
    assert [ok(e) for e in events] == [True, False, False]
    assert current(pair.client) is State.AUTHORIZATION


def test_client_cannot_pipeline_after_stls_or_send_out_of_state() -> None:
    client = pop3.Connection(pop3.CLIENT)
    with pytest.raises(LocalProtocolError):
        client.send(pop3.Stat())  # before the greeting
    client.receive_data(b"+OK\r\n")
    drain(client)
    with pytest.raises(LocalProtocolError):
        client.send(pop3.Stat())  # not in AUTHORIZATION
    client.send(pop3.Stls())
    with pytest.raises(LocalProtocolError):
        client.send(pop3.Capa())
    with pytest.raises(LocalProtocolError):
        client.send(pop3.AuthResponse(data=b""))


def test_server_refuses_out_of_order_sends() -> None:
    server = pop3.Connection(pop3.SERVER)
    with pytest.raises(LocalProtocolError):
        server.send(pop3.Response(ok=True))
    server.send(pop3.Greeting())
    with pytest.raises(LocalProtocolError):
        server.send(pop3.Greeting())
    with pytest.raises(LocalProtocolError):
        server.send(pop3.Response(ok=True))  # no command to answer
    assert server.next_event() is pop3.NEED_DATA


# -- AUTH framing (RFC 5034) ---------------------------------------------------------------


def test_auth_framing_with_a_fake_mechanism() -> None:
    class Echo:
        def start(self, initial: bytes | None) -> object:
            from rfcmail.sasl import Challenge
            return Challenge(data=b"who?")

        def step(self, response: bytes) -> object:
            from rfcmail.sasl import Failure, Success
            return Success(authcid="alice", authzid="") if response == b"alice" else Failure(reason="no")

    config = pop3.Config(allow_plaintext_auth=True, sasl_mechanisms=("X-ECHO",))
    pair = Pair(config=config)
    pair.session.sasl = lambda name: Echo()
    events = pair.exchange(pop3.Auth(mechanism="X-ECHO", initial_response=b""))
    assert events == [pop3.AuthChallenge(data=b"who?")]
    assert pair.wire[-1] == b"+ d2hvPw==\r\n"
    events = pair.exchange(pop3.AuthResponse(data=b"alice"))
    assert ok(events[0]) and current(pair.client) is State.TRANSACTION
    # A second AUTH after success is refused (RFC 5034 section 4).
    pair.feed_server(b"AUTH X-ECHO\r\n")
    assert pair.wire[-1].startswith(b"-ERR")


def test_auth_cancel_and_bad_base64() -> None:
    config = pop3.Config(allow_plaintext_auth=True, sasl_mechanisms=("PLAIN",))
    pair = Pair(config=config)
    from rfcmail import sasl
    store = sasl.InMemoryCredentialStore({"alice": "secret"})
    pair.session.sasl = lambda name: sasl.create_server(name, store)
    assert pair.exchange(pop3.Auth(mechanism="PLAIN")) == [pop3.AuthChallenge(data=b"")]
    events = pair.exchange(pop3.AuthCancel())
    assert err(events[0]) and current(pair.client) is State.AUTHORIZATION
    assert pair.server.auth_failures == 0
    pair.exchange(pop3.Auth(mechanism="PLAIN"))
    pair.feed_server(b"=AAA\r\n")
    assert pair.server_errors[-1].reply_hint == "-ERR invalid base64 data"
    assert current(pair.server) is State.AUTHORIZATION
    pair2 = Pair(config=config)
    pair2.session.sasl = lambda name: sasl.create_server(name, store)
    events = pair2.exchange(pop3.Auth(mechanism="PLAIN", initial_response=b"\0alice\0secret"))
    assert ok(events[0]) and current(pair2.server) is State.TRANSACTION


def test_plain_refused_before_tls_but_scram_offered() -> None:
    config = pop3.Config(stls=True, sasl_mechanisms=("SCRAM-SHA-256", "PLAIN"))
    pair = Pair(config=config)
    pair.feed_server(b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n")
    assert pair.wire[-1].startswith(b"-ERR [AUTH]")
    assert pair.server.offered_mechanisms() == ("SCRAM-SHA-256",)


def test_greeting_err_closes() -> None:
    client = pop3.Connection(pop3.CLIENT)
    client.receive_data(b"-ERR [SYS/TEMP] busy\r\n")
    greeting = client.next_event()
    assert greeting == pop3.Greeting(ok=False, text="busy", code="SYS/TEMP")
    assert current(client) is State.CLOSED


def test_client_rejects_unsolicited_data_and_truncated_body() -> None:
    client = pop3.Connection(pop3.CLIENT)
    client.receive_data(b"+OK\r\n+OK extra\r\n")
    client.next_event()
    with pytest.raises(RemoteProtocolError, match="unsolicited"):
        client.next_event()
    client = pop3.Connection(pop3.CLIENT, pop3.Config())
    client.receive_data(b"+OK\r\n")
    drain(client)
    client.send(pop3.User(name="a"))
    client.receive_data(b"+OK\r\n")
    drain(client)
    client.send(pop3.Pass(password="b"))
    client.receive_data(b"+OK\r\n")
    drain(client)
    client.send(pop3.Retr(message_number=1))
    client.receive_data(b"+OK\r\npartial line\r\n")
    client.receive_data(b"")
    events = []
    with pytest.raises(RemoteProtocolError, match="closed inside"):
        while True:
            event = client.next_event()
            assert event is not pop3.NEED_DATA
            events.append(event)
    assert events[1] == pop3.MessageChunk(data=b"partial line\r\n")


def test_response_from_reply_hint() -> None:
    assert pop3.Response.from_reply_hint("-ERR [AUTH] nope") == pop3.Response(ok=False, code="AUTH", text="nope")
    assert pop3.Response.from_reply_hint(None) == pop3.Response(ok=False, text="protocol error")
    assert pop3.Response.from_reply_hint("+OK fine").ok


def test_auth_plain_credentials_with_crlf_are_refused() -> None:
    """A3.3: decoded PLAIN fields with CR, LF or NUL never authenticate."""
    from rfcmail import sasl
    config = pop3.Config(allow_plaintext_auth=True, sasl_mechanisms=("PLAIN",))
    store = sasl.InMemoryCredentialStore({"alice": "secret"})
    for initial in (b"\0alice\r\nDELE 1\0secret", b"\0alice\0sec\nret", b"x\0alice\0secret\0"):
        pair = Pair(config=config)
        pair.session.sasl = lambda name: sasl.create_server(name, store)
        events = pair.exchange(pop3.Auth(mechanism="PLAIN", initial_response=initial))
        assert err(events[0]) and current(pair.server) is State.AUTHORIZATION
