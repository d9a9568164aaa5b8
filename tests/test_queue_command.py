"""``rfcmail queue``: the operator's read-only view of serve's spools."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from rfcmail.cli import main
from rfcmail.mta.queue import DeliveryState, Envelope, Queue, Recipient, RecipientOutcome

MESSAGE = b"Subject: queued\r\n\r\nhello\r\n"


def make_spools(data: Path) -> tuple[str, str]:
    """A main spool with a half-delivered message and a worker spool with a bounce (null sender)."""
    data.mkdir()
    with Queue(data / "queue") as queue:
        first = queue.enqueue(Envelope(reverse_path="bob@example.test", recipients=(
            Recipient(address="x@far.test"), Recipient(address="y@far.test"))), MESSAGE)
        queue.record_attempt(first, [
            RecipientOutcome(address="x@far.test", state=DeliveryState.PENDING,
                             reply="451 4.4.1 try again later", remote_mta="mx.far.test"),
            RecipientOutcome(address="y@far.test", state=DeliveryState.DELIVERED, reply="250 2.0.0 ok",
                             remote_mta="mx.far.test"),
        ], next_attempt=time.time() + 1800)
    with Queue(data / "queue-1") as worker:
        second = worker.enqueue(Envelope(reverse_path="", recipients=(Recipient(address="z@far.test"),)), MESSAGE)
    return first, second


def test_lists_every_spool_with_recipient_states(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = make_spools(tmp_path / "data")
    assert main(["queue", "--data", str(tmp_path / "data")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{first}  [queue]  {len(MESSAGE)} octets  arrived ")
    assert "from <bob@example.test>  attempts 1  next " in out[0]
    assert out[1].split() == ["pending", "<x@far.test>", "451", "4.4.1", "try", "again", "later", "(mx.far.test)"]
    assert out[2].split()[:2] == ["delivered", "<y@far.test>"]
    assert out[3].startswith(f"{second}  [queue-1]") and "from <>  attempts 0" in out[3]
    assert out[-1] == "2 message(s) queued, 2 recipient(s) pending"


def test_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = make_spools(tmp_path / "data")
    assert main(["queue", "--data", str(tmp_path / "data"), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(item["queue_id"], item["spool"]) for item in listed] == [(first, "queue"), (second, "queue-1")]
    assert listed[0]["recipients"][0] == {"address": "x@far.test", "state": "pending",
                                          "reply": "451 4.4.1 try again later", "remote_mta": "mx.far.test"}
    assert listed[1]["sender"] == "" and listed[1]["attempts"] == 0


def test_read_only_a_damaged_entry_is_listed_and_left_in_place(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing is quarantined, replayed or removed: the running server owns the spool."""
    first, _ = make_spools(tmp_path / "data")
    entry = tmp_path / "data" / "queue" / "queue" / f"{first}.msg"
    entry.write_bytes(entry.read_bytes()[:-5])
    leftover = tmp_path / "data" / "queue" / "journal" / "0000000000000001.jnl"
    leftover.write_bytes(b"E 3\nabc0000")
    before = sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "data").rglob("*"))
    assert main(["queue", "--data", str(tmp_path / "data")]) == 0
    out = capsys.readouterr().out
    assert f"{first}  [queue]  damaged: " in out
    assert out.splitlines()[-1] == "1 message(s) queued, 1 recipient(s) pending, 1 damaged entry"
    assert sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "data").rglob("*")) == before


def test_no_queue_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["queue", "--data", str(tmp_path / "nothing")]) == 1
    assert "no queue of rfcmail serve under" in capsys.readouterr().err
    assert not (tmp_path / "nothing").exists()


def test_control_characters_from_a_remote_reply_never_reach_the_terminal(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A hostile MX's reply with an escape sequence is shown escaped; --json escapes it too."""
    data = tmp_path / "data"
    data.mkdir()
    with Queue(data / "queue") as queue:
        queue_id = queue.enqueue(Envelope(reverse_path="bob@example.test",
                                          recipients=(Recipient(address="x@far.test"),)), MESSAGE)
        queue.record_attempt(queue_id, [RecipientOutcome(
            address="x@far.test", state=DeliveryState.PENDING, reply="451 4.0.0 \x1b[2Jcleared\rover\x9b",
            remote_mta="mx\x07.far.test")], next_attempt=time.time() + 60)
    assert main(["queue", "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\r" not in out and "\x9b" not in out and "\x07" not in out
    assert "451 4.0.0 \\x1b[2Jcleared\\x0dover\\x9b  (mx\\x07.far.test)" in out
    assert main(["queue", "--data", str(data), "--json"]) == 0
    raw = capsys.readouterr().out
    assert "\x1b" not in raw
    assert json.loads(raw)[0]["recipients"][0]["reply"] == "451 4.0.0 \x1b[2Jcleared\rover\x9b"


def test_a_reader_that_goes_away_stops_the_listing_quietly(tmp_path: Path) -> None:
    """``rfcmail queue | head``: no traceback, the exit status a shell gives for SIGPIPE."""
    import signal
    import subprocess
    import sys

    data = tmp_path / "data"
    data.mkdir()
    with Queue(data / "queue", journal=True) as queue:
        for _ in range(400):
            queue.enqueue(Envelope(reverse_path="bob@example.test",
                                   recipients=(Recipient(address="x@far.test"),)), MESSAGE)
    process = subprocess.Popen([sys.executable, "-m", "rfcmail", "queue", "--data", str(data), "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.read(10) == b'[\n  {\n    '
    process.stdout.close()
    stderr = process.stderr.read()
    assert process.wait(30) == 128 + signal.SIGPIPE
    assert b"Traceback" not in stderr and stderr == b""
