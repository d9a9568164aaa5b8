"""POP3 readers and writers: whole, byte by byte, with trailing data, and under hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfcmail import pop3
from rfcmail._receivebuffer import ReceiveBuffer
from rfcmail.errors import LimitExceeded, LocalProtocolError, ProtocolError, RemoteProtocolError
from rfcmail.limits import DEFAULT_LIMITS
from rfcmail.pop3._readers import (
    BodyReader,
    maybe_read_auth_line,
    maybe_read_command,
    maybe_read_listing_line,
    maybe_read_status,
    parse_command,
)
from rfcmail.pop3._writers import BodyWriter, top_of_message, write_command, write_response

from .helpers import drain

COMMANDS: list[pop3.Command] = [
    pop3.User(name="alice"), pop3.Pass(password="pass with spaces"),
    pop3.Apop(name="bob", digest="c4c9334bac560ecc979e58001b3e22fb"),
    pop3.Auth(mechanism="PLAIN"), pop3.Auth(mechanism="PLAIN", initial_response=b""),
    pop3.Auth(mechanism="SCRAM-SHA-256", initial_response=b"n,,n=user,r=abc"),
    pop3.Stls(), pop3.Capa(), pop3.Stat(), pop3.List(), pop3.List(message_number=3), pop3.Uidl(),
    pop3.Uidl(message_number=7), pop3.Retr(message_number=1), pop3.Top(message_number=2, lines=0),
    pop3.Dele(message_number=9), pop3.Noop(), pop3.Rset(), pop3.Quit(),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: type(c).__name__)
def test_command_round_trip_whole_bytewise_and_with_trailing_data(command: pop3.Command) -> None:
    data = write_command(command)
    buf = ReceiveBuffer(data + b"NOOP\r\n")
    assert maybe_read_command(buf, DEFAULT_LIMITS) == command
    assert bytes(buf) == b"NOOP\r\n"
    buf = ReceiveBuffer()
    results = []
    for byte in data:
        buf.append(bytes([byte]))
        results.append(maybe_read_command(buf, DEFAULT_LIMITS))
    assert results[:-1] == [None] * (len(data) - 1)
    assert results[-1] == command


def test_keywords_are_case_insensitive_and_lf_is_tolerated() -> None:
    assert parse_command(b"stat") == pop3.Stat()
    assert maybe_read_command(ReceiveBuffer(b"rEtR 5\n"), DEFAULT_LIMITS) == pop3.Retr(message_number=5)


def test_auth_lines() -> None:
    assert maybe_read_auth_line(ReceiveBuffer(b"*\r\n"), DEFAULT_LIMITS) == pop3.AuthCancel()
    assert maybe_read_auth_line(ReceiveBuffer(b"\r\n"), DEFAULT_LIMITS) == pop3.AuthResponse(data=b"")
    assert maybe_read_auth_line(ReceiveBuffer(b"AGE=\r\n"), DEFAULT_LIMITS) == pop3.AuthResponse(data=b"\0a")
    for bad in (b"=AAA\r\n", b"AAA=BBB\r\n", b"a b\r\n", b"AAA\r\n", b"!!!!\r\n"):
        with pytest.raises(RemoteProtocolError):
            maybe_read_auth_line(ReceiveBuffer(bad), DEFAULT_LIMITS)
    limits = DEFAULT_LIMITS.clone(max_auth_line=11)
    assert maybe_read_auth_line(ReceiveBuffer(b"AAAAAAAA\r\n"), limits) == pop3.AuthResponse(data=b"\0" * 6)
    for length, fine in ((10, True), (11, True), (12, False)):
        line = b"A" * (length - 2) + b"\r\n"
        if fine:
            try:
                maybe_read_auth_line(ReceiveBuffer(line), limits)
            except RemoteProtocolError:
                pass  # not valid base64 at this length: only the limit matters here
        else:
            with pytest.raises(LimitExceeded) as caught:
                maybe_read_auth_line(ReceiveBuffer(line), limits)
            assert caught.value.limit_name == "max_auth_line"


RESPONSES: list[pop3.Response | pop3.AuthChallenge | pop3.ScanListing | pop3.UniqueIdListing | pop3.Capability] = [
    pop3.Response(ok=True), pop3.Response(ok=True, text="2 320"), pop3.Response(ok=False, code="IN-USE", text="busy"),
    pop3.Response(ok=False, code="SYS/TEMP", text="try later"), pop3.Response(ok=False, text="[not a code"),
]


@pytest.mark.parametrize("response", RESPONSES)
def test_status_round_trip(response: pop3.Response) -> None:
    data = write_response(response)
    buf = ReceiveBuffer()
    results = []
    for byte in data + b"+OK next\r\n":
        buf.append(bytes([byte]))
        result = maybe_read_status(buf, DEFAULT_LIMITS)
        if result is not None:
            results.append(result)
    assert results == [response, pop3.Response(ok=True, text="next")]


def test_greeting_timestamp_and_challenge() -> None:
    greeting = maybe_read_status(ReceiveBuffer(b"+OK POP3 ready <1896.697170952@dbc.mtview.ca.us>\r\n"),
                                 DEFAULT_LIMITS, greeting=True)
    assert greeting == pop3.Greeting(text="POP3 ready <1896.697170952@dbc.mtview.ca.us>",
                                     timestamp="<1896.697170952@dbc.mtview.ca.us>")
    assert maybe_read_status(ReceiveBuffer(b"+ \r\n"), DEFAULT_LIMITS, in_sasl=True) == pop3.AuthChallenge(data=b"")
    assert maybe_read_status(ReceiveBuffer(b"+\r\n"), DEFAULT_LIMITS, in_sasl=True) == pop3.AuthChallenge(data=b"")
    with pytest.raises(RemoteProtocolError):
        maybe_read_status(ReceiveBuffer(b"+ ===\r\n"), DEFAULT_LIMITS, in_sasl=True)
    with pytest.raises(RemoteProtocolError):
        maybe_read_status(ReceiveBuffer(b"OK\r\n"), DEFAULT_LIMITS)


def test_reply_line_limit_n_minus_1_n_n_plus_1() -> None:
    limit = DEFAULT_LIMITS.max_reply_line
    for length, fine in ((limit - 1, True), (limit, True), (limit + 1, False)):
        line = b"+OK " + b"x" * (length - 6) + b"\r\n"
        assert len(line) == length
        if fine:
            assert maybe_read_status(ReceiveBuffer(line), DEFAULT_LIMITS) is not None
        else:
            with pytest.raises(LimitExceeded) as caught:
                maybe_read_status(ReceiveBuffer(line), DEFAULT_LIMITS)
            assert caught.value.limit_name == "max_reply_line"


def test_listing_lines() -> None:
    def read(data: bytes, kind: type[pop3.Command]) -> object:
        return maybe_read_listing_line(ReceiveBuffer(data), DEFAULT_LIMITS, kind)

    assert read(b"1 120\r\n", pop3.List) == pop3.ScanListing(message_number=1, size=120)
    assert read(b"1 120 extra\r\n", pop3.List) == pop3.ScanListing(message_number=1, size=120)
    assert read(b"2 QhdPYR:00WBw1Ph7x7\r\n", pop3.Uidl) == pop3.UniqueIdListing(
        message_number=2, unique_id="QhdPYR:00WBw1Ph7x7")
    assert read(b"SASL PLAIN SCRAM-SHA-1\r\n", pop3.Capa) == pop3.Capability(
        name="SASL", arguments=("PLAIN", "SCRAM-SHA-1"))
    assert read(b".\r\n", pop3.List) is True
    for bad, kind in ((b"x 1\r\n", pop3.List), (b"1\r\n", pop3.List), (b"0 1\r\n", pop3.List),
                      (b"1 " + b"u" * 71 + b"\r\n", pop3.Uidl), (b"1 -5\r\n", pop3.List), (b"\r\n", pop3.Capa),
                      (b"1 \r\n", pop3.Uidl), (b"4294967296 1\r\n", pop3.List)):
        with pytest.raises(RemoteProtocolError):
            read(bad, kind)


# -- bodies --------------------------------------------------------------------------------


def stuff(chunks: list[bytes]) -> bytes:
    writer = BodyWriter()
    return b"".join(writer.write(chunk) for chunk in chunks) + writer.finish()


def unstuff(data: bytes, piece: int) -> tuple[bytes, bytes]:
    """Feed ``data`` in pieces of ``piece`` bytes; return (body, bytes left after the end)."""
    buf = ReceiveBuffer()
    reader = BodyReader(max_piece=64)
    body = b""
    for start in range(0, len(data), piece):
        buf.append(data[start:start + piece])
        while True:
            result = reader.read(buf)
            if result is True:
                return body, bytes(buf) + data[start + piece:]
            if result is None or result is False:
                break
            body += result
    raise AssertionError("no end of body found")


def normalise(data: bytes) -> bytes:
    """What the body looks like on the wire: CRLF endings and a final CRLF."""
    data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if data and not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data


def test_body_stuffing_examples() -> None:
    assert stuff([b".hidden\r\n..two\r\n.\r\n"]) == b"..hidden\r\n...two\r\n..\r\n.\r\n"
    assert stuff([b"a\n.", b"b\n"]) == b"a\r\n..b\r\n.\r\n"
    assert stuff([b"a\r", b"\n.b"]) == b"a\r\n..b\r\n.\r\n"
    assert stuff([b"no newline"]) == b"no newline\r\n.\r\n"
    assert stuff([]) == b".\r\n"


@pytest.mark.parametrize("piece", [1, 2, 3, 7, 1000])
def test_body_reader_pieces_and_trailing_data(piece: int) -> None:
    message = b".start\r\nline\r\n..\r\n.\r\n" + b"x" * 200 + b"\r\n.end\r\n"
    body, rest = unstuff(stuff([message]) + b"+OK next\r\n", piece)
    assert body == message
    assert rest == b"+OK next\r\n"


line_text = st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
messages = st.lists(st.one_of(line_text, st.sampled_from([b".", b"..", b".x", b""])), max_size=20).map(
    lambda lines: b"\r\n".join(lines))


@given(message=messages, cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6),
       piece=st.integers(min_value=1, max_value=50))
def test_stuff_then_unstuff_round_trips(message: bytes, cuts: list[int], piece: int) -> None:
    points = sorted({min(cut, len(message)) for cut in cuts})
    chunks = [message[a:b] for a, b in zip([0, *points], [*points, len(message)])]
    wire = stuff(chunks)
    body, rest = unstuff(wire, piece)
    assert rest == b""
    assert body == normalise(message)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_into_server_command_reader(data: bytes) -> None:
    buf = ReceiveBuffer(data)
    try:
        while maybe_read_command(buf, DEFAULT_LIMITS) is not None:
            pass
    except (RemoteProtocolError, LimitExceeded):
        pass


@given(st.binary(max_size=300), st.sampled_from([pop3.List, pop3.Uidl, pop3.Capa]))
def test_arbitrary_bytes_into_client_readers(data: bytes, kind: type[pop3.Command]) -> None:
    for read in (lambda b: maybe_read_status(b, DEFAULT_LIMITS, greeting=True),
                 lambda b: maybe_read_status(b, DEFAULT_LIMITS, in_sasl=True),
                 lambda b: maybe_read_listing_line(b, DEFAULT_LIMITS, kind),
                 lambda b: BodyReader(max_piece=32).read(b)):
        buf = ReceiveBuffer(data)
        try:
            read(buf)
        except (RemoteProtocolError, LimitExceeded):
            pass


@given(st.lists(st.binary(max_size=80), max_size=8))
def test_arbitrary_server_bytes_into_client_machine(chunks: list[bytes]) -> None:
    """Whatever a hostile server sends, the client raises only ProtocolError subclasses."""
    client = pop3.Connection(pop3.CLIENT)
    sent = [pop3.User(name="a"), pop3.Pass(password="b"), pop3.Uidl(), pop3.Retr(message_number=1),
            pop3.Capa(), pop3.Stat()]
    try:
        for chunk in chunks:
            client.receive_data(chunk)
            drain(client)
            while sent and client.state is pop3.State.AUTHORIZATION and not client.pending_commands:
                client.send(sent.pop(0))
    except ProtocolError:
        pass


@given(st.binary(max_size=400))
def test_arbitrary_client_bytes_into_server_machine(data: bytes) -> None:
    server = pop3.Connection(pop3.SERVER, pop3.Config(allow_plaintext_auth=True, stls=True))
    server.send(pop3.Greeting())
    server.receive_data(data)
    for _ in range(100):
        try:
            event = server.next_event()
        except ProtocolError as error:
            if server.their_state is pop3.State.ERROR:
                return
            server.send(pop3.Response.from_reply_hint(error.reply_hint))
            continue
        if isinstance(event, (pop3.Sentinel, pop3.ConnectionClosed)):
            return
        assert isinstance(event, pop3.Command)
        server.send(pop3.Response(ok=False, text="no"))
        if server.state is pop3.State.CLOSED:
            return


def test_top_of_message() -> None:
    message = [b"Subject: a\r\nX: y\r", b"\n\r\nl1\r\nl2\r\n", b"l3\r\n"]
    assert b"".join(top_of_message(message, 0)) == b"Subject: a\r\nX: y\r\n\r\n"
    assert b"".join(top_of_message(message, 2)) == b"Subject: a\r\nX: y\r\n\r\nl1\r\nl2\r\n"
    assert b"".join(top_of_message(message, 99)) == b"".join(message)
    assert b"".join(top_of_message([b"no header end"], 1)) == b"no header end"


def test_event_validation() -> None:
    with pytest.raises(LocalProtocolError):
        pop3.Greeting(timestamp="no brackets")
    with pytest.raises(LocalProtocolError):
        pop3.Response(ok=False, code="BAD CODE")
    with pytest.raises(LocalProtocolError):
        pop3.UniqueIdListing(message_number=1, unique_id="")
    with pytest.raises(LocalProtocolError):
        pop3.Capability(name="A B")
    assert "hidden" in repr(pop3.Pass(password="x")) and "x" not in repr(pop3.Pass(password="x"))[5:]


printable = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40)
numbers = st.integers(min_value=1, max_value=2**32 - 1)
commands = st.one_of(
    printable.map(lambda name: pop3.User(name=name)),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60).map(
        lambda password: pop3.Pass(password=password)),
    st.builds(lambda name, digest: pop3.Apop(name=name, digest=digest), printable,
              st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)),
    st.builds(lambda mech, data: pop3.Auth(mechanism=mech, initial_response=data),
              st.sampled_from(["PLAIN", "SCRAM-SHA-1", "X-TEST_1"]), st.none() | st.binary(max_size=100)),
    numbers.map(lambda n: pop3.Retr(message_number=n)), numbers.map(lambda n: pop3.Dele(message_number=n)),
    st.builds(lambda n, lines: pop3.Top(message_number=n, lines=lines), numbers,
              st.integers(min_value=0, max_value=2**32 - 1)),
    (st.none() | numbers).map(lambda n: pop3.List(message_number=n)),
    (st.none() | numbers).map(lambda n: pop3.Uidl(message_number=n)),
)


@given(commands)
def test_generated_commands_round_trip(command: pop3.Command) -> None:
    data = write_command(command)
    limits = DEFAULT_LIMITS.clone(max_pop3_line=4096)
    assert maybe_read_command(ReceiveBuffer(data), limits) == command


@given(st.builds(lambda n, size: pop3.ScanListing(message_number=n, size=size), numbers,
                 st.integers(min_value=0, max_value=2**32 - 1))
       | st.builds(lambda n, uid: pop3.UniqueIdListing(message_number=n, unique_id=uid), numbers, printable)
       | st.builds(lambda name, args: pop3.Capability(name=name.upper(), arguments=tuple(args)),
                   printable.filter(lambda t: not t.startswith(".") and "/" not in t),
                   st.lists(printable, max_size=3)))
def test_generated_listing_lines_round_trip(entry: pop3.ScanListing | pop3.UniqueIdListing | pop3.Capability
                                            ) -> None:
    kind: type[pop3.Command] = (pop3.List if isinstance(entry, pop3.ScanListing)
                                else pop3.Uidl if isinstance(entry, pop3.UniqueIdListing) else pop3.Capa)
    assert maybe_read_listing_line(ReceiveBuffer(write_response(entry)), DEFAULT_LIMITS, kind) == entry


def test_listing_and_auth_lines_bytewise_with_trailing_data() -> None:
    for data, read, expected in (
        (b"3 1200\r\n", lambda b: maybe_read_listing_line(b, DEFAULT_LIMITS, pop3.List),
         pop3.ScanListing(message_number=3, size=1200)),
        (b"STLS\r\n", lambda b: maybe_read_listing_line(b, DEFAULT_LIMITS, pop3.Capa), pop3.Capability(name="STLS")),
        (b"AGFsaWNl\r\n", lambda b: maybe_read_auth_line(b, DEFAULT_LIMITS), pop3.AuthResponse(data=b"\0alice")),
    ):
        buf = ReceiveBuffer()
        results = []
        for byte in data + b"+OK tra":  # trailing data: the start of the next line
            buf.append(bytes([byte]))
            result = read(buf)
            if result is not None:
                results.append(result)
        assert results == [expected]
        assert bytes(buf) == b"+OK tra"
