"""The SMTP sans-IO machine alone: DATA throughput and per-transaction cost, both roles.

No sockets: bytes are fed to a server :class:`rfcmail.smtp.Connection` as
a network read would deliver them (64 KiB pieces), every event is drained
and every reply is sent, as an adapter does. Peers in the same run: a
minimal framer that only finds CRLF.CRLF with ``bytes.find`` (the ceiling
for any correct server) and, when installed, aiosmtpd's line-by-line DATA
loop reproduced without its asyncio transport is not comparable, so the
adapter benchmark (benchmarks/bench_smtp.py) compares the servers on sockets.

Times are CPU seconds of this process (``time.process_time``), so that a
loaded machine slows the figures less than wall-clock rates would.

Run::

    python benchmarks/bench_smtp_machine.py          # full sizes
    python benchmarks/bench_smtp_machine.py --quick  # a short run
"""

from __future__ import annotations

import argparse
import time

from rfcmail import smtp

READ_SIZE = 64 * 1024


def message(size: int) -> bytes:
    line = b"x" * 76 + b"\r\n"
    body = b"Subject: benchmark\r\n\r\n" + line * (size // len(line))
    return body


def transaction(body: bytes) -> bytes:
    stuffed = body.replace(b"\r\n.", b"\r\n..")
    return b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n" + stuffed + b".\r\n"


def run_machine(body: bytes, count: int) -> tuple[float, int]:
    """Seconds to receive ``count`` messages on one connection, and content bytes seen."""
    conn = smtp.Connection(smtp.SERVER, smtp.Config(limits=smtp.Config().limits.clone(max_message_size=1 << 30)))
    conn.send(conn.greeting())
    wire = b"EHLO bench\r\n" + transaction(body) * count + b"QUIT\r\n"
    need_data, paused = smtp.NEED_DATA, smtp.PAUSED
    chunk_type = smtp.MessageChunk
    seen = 0
    start = time.process_time()
    for offset in range(0, len(wire), READ_SIZE):
        conn.receive_data(wire[offset : offset + READ_SIZE])
        while True:
            event = conn.next_event()
            if event is need_data or event is paused:
                break
            if isinstance(event, chunk_type):
                seen += len(event.data)
                continue
            assert isinstance(event, smtp.Event)
            conn.send(conn.default_reply(event))
    return time.process_time() - start, seen


def run_minimal(body: bytes, count: int) -> float:
    """A framer that only looks for CRLF.CRLF (no unstuffing, no checks): the ceiling."""
    wire = transaction(body) * count
    start = time.process_time()
    buf = bytearray()
    searched = 0
    for offset in range(0, len(wire), READ_SIZE):
        buf += wire[offset : offset + READ_SIZE]
        while True:
            end = buf.find(b"\r\n.\r\n", searched)
            if end < 0:
                searched = max(0, len(buf) - 4)
                break
            del buf[: end + 5]
            searched = 0
    return time.process_time() - start


def run_client(body: bytes, count: int) -> float:
    """CPU seconds for a client machine to send ``count`` messages (pipelined envelope, DATA, stuffing)."""
    conn = smtp.Connection(smtp.CLIENT)
    conn.receive_data(b"220 sink ESMTP\r\n")
    conn.next_event()
    conn.send(smtp.Ehlo(domain="bench.example"))
    conn.receive_data(b"250-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
    conn.next_event()
    mail = smtp.Mail(reverse_path="a@example.org")
    rcpt = smtp.Rcpt(forward_path="b@example.net")
    data = smtp.Data()
    end = smtp.EndOfMessage()
    envelope_replies = b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n"
    final_reply = b"250 2.0.0 Ok\r\n"
    need_data = smtp.NEED_DATA
    sent = 0
    start = time.process_time()
    for _ in range(count):
        sent += len(conn.send(mail)) + len(conn.send(rcpt)) + len(conn.send(data))
        conn.receive_data(envelope_replies)
        while conn.next_event() is not need_data:
            pass
        for offset in range(0, len(body), READ_SIZE):
            sent += len(conn.send(smtp.MessageChunk(data=body[offset : offset + READ_SIZE])))
        sent += len(conn.send(end))
        conn.receive_data(final_reply)
        while conn.next_event() is not need_data:
            pass
    elapsed = time.process_time() - start
    assert sent >= len(body) * count
    return elapsed


def run_smtplib_quotedata(body: bytes, count: int) -> float:
    """CPU seconds for smtplib's own line-ending conversion and dot-stuffing of the same bodies."""
    import smtplib

    start = time.process_time()
    for _ in range(count):
        smtplib.quotedata(body.decode("latin-1")).encode("latin-1")
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    args = parser.parse_args()
    cases = [("10 KiB", 10 * 1024, 300 if args.quick else 3000), ("1 MiB", 1024 * 1024, 10 if args.quick else 100)]
    print(f"{'case':8} {'impl':10} {'msgs/s':>10} {'MB/s':>9} {'us/msg':>9}")
    for name, size, count in cases:
        body = message(size)
        elapsed, seen = run_machine(body, count)
        assert seen == len(body) * count, (seen, len(body) * count)
        minimal = run_minimal(body, count)
        for impl, secs in (("rfcmail", elapsed), ("find-only", minimal)):
            rate = count / secs
            print(f"{name:8} {impl:10} {rate:10.0f} {len(body) * count / secs / 1e6:9.1f} {secs / count * 1e6:9.1f}")
        print(f"{name:8} ratio rfcmail/find-only: {minimal / elapsed:.2f}")
    print()
    print("client: rfcmail sends (commands, replies, CRLF normalisation and dot-stuffing)")
    print("        against smtplib.quotedata (normalisation and stuffing only, of a str)")
    print(f"{'case':8} {'impl':18} {'msgs/s':>10} {'MB/s':>9} {'us/msg':>9}")
    for name, size, count in cases:
        body = message(size)
        client = run_client(body, count)
        quoted = run_smtplib_quotedata(body, count)
        for impl, secs in (("rfcmail client", client), ("smtplib.quotedata", quoted)):
            print(f"{name:8} {impl:18} {count / secs:10.0f} {len(body) * count / secs / 1e6:9.1f} {secs / count * 1e6:9.1f}")
        print(f"{name:8} ratio rfcmail/smtplib.quotedata: {quoted / client:.2f}")


if __name__ == "__main__":
    main()
