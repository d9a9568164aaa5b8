"""Interop with real message producers and consumers (issue 3, "Interop with real producers").

Messages written by programs on this machine (mpack, swaks --dump-mail,
s-nail and neomutt with their sendmail pointed at a script that stores the
message) are parsed with rfcmail.message.parse and with the standard library,
and their attachments must come back byte for byte with their filenames.
The other way round, messages rfcmail builds are unpacked by munpack (the
attachments byte for byte) and read by s-nail from an mbox (decoded subject
and text, one message). Every program runs headless on local files; each
test skips only when its program is not installed (require_program).
"""

from __future__ import annotations

import email
import email.policy
import os
import random
import stat
from email.message import EmailMessage
from pathlib import Path

from rfcmail.message import SMTP, Message, MessageBuilder, parse

from .framework import ProcessManager, require_program

SINK = """#!/bin/sh
# Stands in for sendmail: store the message the program hands over.
cat > "$RFCMAIL_SINK_OUT"
"""


def payload(seed: int, size: int) -> bytes:
    """Deterministic binary content that exercises every octet value."""
    return random.Random(seed).randbytes(size) + bytes(range(256))


def quiet_env(directory: Path) -> dict[str, str]:
    """An environment in which mail programs read no user or system settings."""
    return {"HOME": str(directory), "MAILRC": "/dev/null", "LC_ALL": "C.UTF-8",
            "TMPDIR": str(directory), "RFCMAIL_SINK_OUT": str(directory / "sent.eml")}


def write_sink(directory: Path) -> Path:
    script = directory / "sink.sh"
    script.write_text(SINK, encoding="ascii")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


def both_parsers(data: bytes) -> tuple[Message, EmailMessage]:
    message = parse(data)
    stdlib = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(stdlib, EmailMessage)
    return message, stdlib


def attachments_of(message: Message) -> dict[str | None, bytes]:
    return {part.filename: part.get_payload_bytes() for part in message.attachments()}


def stdlib_attachments_of(message: EmailMessage) -> dict[str | None, bytes]:
    found: dict[str | None, bytes] = {}
    for part in message.walk():
        if part.get_filename() is not None:
            data = part.get_payload(decode=True)
            assert isinstance(data, bytes)
            found[part.get_filename()] = data
    return found


def no_defects(message: Message) -> None:
    assert message.all_defects() == [], message.all_defects()


# --- producers -> rfcmail ----------------------------------------------------------


def test_mpack_attachment_is_recovered(interop_dir: Path, processes: ProcessManager) -> None:
    mpack = require_program("mpack")
    blob = payload(1, 20_000)
    (interop_dir / "data.bin").write_bytes(blob)
    (interop_dir / "picture.png").write_bytes(payload(2, 3000))
    (interop_dir / "desc.txt").write_text("A description line.\n", encoding="ascii")
    processes.run([mpack, "-o", "one.eml", "-s", "mpack subject", "data.bin"])
    processes.run([mpack, "-o", "two.eml", "-s", "with description", "-d", "desc.txt",
                   "-c", "image/png", "picture.png"])
    message, stdlib = both_parsers((interop_dir / "one.eml").read_bytes())
    no_defects(message)
    assert message.subject == "mpack subject"
    assert attachments_of(message) == {"data.bin": blob}
    assert stdlib_attachments_of(stdlib) == {"data.bin": blob}
    message, stdlib = both_parsers((interop_dir / "two.eml").read_bytes())
    no_defects(message)
    (picture,) = message.attachments()
    assert picture.content_type == "image/png"
    assert picture.get_payload_bytes() == (interop_dir / "picture.png").read_bytes()
    assert message.text_body() is not None
    assert "A description line." in (message.text_body() or "")
    assert stdlib_attachments_of(stdlib) == {"picture.png": payload(2, 3000)}


def test_swaks_dump_mail_attachments(interop_dir: Path, processes: ProcessManager) -> None:
    swaks = require_program("swaks")
    blobs = {"report.bin": payload(3, 7000), "pic.png": payload(4, 999)}
    for name, blob in blobs.items():
        (interop_dir / name).write_bytes(blob)
    result = processes.run([
        swaks, "--dump-mail", "--to", "bob@example.test", "--from", "alice@example.test",
        "--header", "Subject: swaks with attachments", "--body", "Body from swaks",
        "--attach", "report.bin",
        "--attach-type", "image/png", "--attach-name", "pic.png", "--attach", "pic.png",
    ], env=quiet_env(interop_dir))
    message, stdlib = both_parsers(result.stdout)
    no_defects(message)
    assert message.subject == "swaks with attachments"
    assert [str(a) for a in message.to] == ["bob@example.test"]
    assert (message.text_body() or "").strip() == "Body from swaks"
    assert attachments_of(message) == blobs
    assert stdlib_attachments_of(stdlib) == blobs
    assert [part.content_type for part in message.attachments()] == [
        "application/octet-stream", "image/png"]


def test_s_nail_attachments_with_non_ascii_names(interop_dir: Path,
                                                 processes: ProcessManager) -> None:
    s_nail = require_program("s-nail")
    sink = write_sink(interop_dir)
    names = {"r\u00e9sum\u00e9 \u00fcber.bin": payload(5, 5000),
             "plain.txt": b"line one\nline two\n"}
    for name, blob in names.items():
        (interop_dir / name).write_bytes(blob)
    processes.run([s_nail, "-n", f"-Smta={sink}", "-Sttycharset=utf-8",
                   "-r", "alice@example.test", "-s", "s-nail \u00fcber Stra\u00dfe",
                   "-a", "r\u00e9sum\u00e9 \u00fcber.bin", "-a", "plain.txt",
                   "bob@example.test"],
                  input="Body from s-nail, caf\u00e9.\n".encode(), env=quiet_env(interop_dir))
    message, stdlib = both_parsers((interop_dir / "sent.eml").read_bytes())
    no_defects(message)
    assert message.subject == "s-nail \u00fcber Stra\u00dfe"
    assert stdlib["Subject"] == message.subject
    assert "caf\u00e9" in (message.text_body() or "")
    got = attachments_of(message)
    assert got["r\u00e9sum\u00e9 \u00fcber.bin"] == names["r\u00e9sum\u00e9 \u00fcber.bin"]
    # A text attachment is text: s-nail sends it with CRLF line breaks.
    assert got["plain.txt"].replace(b"\r\n", b"\n") == names["plain.txt"]
    assert stdlib_attachments_of(stdlib).keys() == got.keys()


def test_neomutt_attachments(interop_dir: Path, processes: ProcessManager) -> None:
    neomutt = require_program("neomutt")
    sink = write_sink(interop_dir)
    blob = payload(6, 12_345)
    (interop_dir / "archive.tar").write_bytes(blob)
    processes.run([neomutt, "-n", "-F", "/dev/null",
                   "-e", f'set sendmail="{sink}"', "-e", "set from=alice@example.test",
                   "-e", "set use_from=yes", "-e", "set charset=utf-8",
                   "-s", "neomutt \u00e9t\u00e9", "-a", "archive.tar", "--",
                   "bob@example.test"],
                  input=b"Body from neomutt\n", env=quiet_env(interop_dir))
    message, stdlib = both_parsers((interop_dir / "sent.eml").read_bytes())
    no_defects(message)
    assert message.subject == "neomutt \u00e9t\u00e9"
    assert (message.text_body() or "").strip() == "Body from neomutt"
    assert attachments_of(message) == {"archive.tar": blob}
    assert stdlib_attachments_of(stdlib) == {"archive.tar": blob}


# --- rfcmail -> consumers -----------------------------------------------------------


def rfcmail_message(blobs: dict[str, bytes]) -> bytes:
    builder = (MessageBuilder(from_="Zo\u00eb <zoe@example.org>", to="bob@example.org",
                              subject="Gr\u00fc\u00dfe aus K\u00f6ln")
               .text("H\u00e4llo Bob,\nFrom here on it is QP.\n.\nbye\n")
               .html("<p>H\u00e4llo Bob</p>"))
    for name, blob in blobs.items():
        builder.attach(blob, filename=name)
    return builder.build(SMTP)


def test_munpack_extracts_rfcmail_attachments(interop_dir: Path,
                                              processes: ProcessManager) -> None:
    munpack = require_program("munpack")
    blobs = {"first.bin": payload(7, 30_000), "second.pdf": payload(8, 77),
             "third.dat": b"--=_rfcmail_ looks like a boundary\r\n"}
    data = rfcmail_message(blobs)
    stdlib = email.message_from_bytes(data, policy=email.policy.default)
    assert all(part.defects == [] for part in stdlib.walk())
    # munpack reads Unix files (LF, as a local mail store keeps them) and,
    # for base64 parts, the wire form (CRLF) as well.
    for form, content in (("lf", data.replace(b"\r\n", b"\n")), ("crlf", data)):
        source = interop_dir / f"rfcmail-{form}.eml"
        source.write_bytes(content)
        out = interop_dir / f"unpacked-{form}"
        out.mkdir()
        processes.run([munpack, "-q", "-C", str(out), str(source)])
        for name, blob in blobs.items():
            assert (out / name).read_bytes() == blob, (form, name)


def test_s_nail_reads_rfcmail_mbox(interop_dir: Path, processes: ProcessManager) -> None:
    s_nail = require_program("s-nail")
    data = rfcmail_message({"data.bin": payload(9, 500)})
    # An mbox stores LF lines and starts each message with a "From " line;
    # the quoted-printable body escapes its own "From " line, so s-nail must
    # see exactly one message.
    local = data.replace(b"\r\n", b"\n")
    mbox = interop_dir / "mbox"
    mbox.write_bytes(b"From zoe@example.org Sat Nov 28 22:00:00 2026\n" + local + b"\n")
    result = processes.run([s_nail, "-n", "-#", "-Sttycharset=utf-8", "-Rf", str(mbox)],
                           input=b"headers\ntype 1\n", env=quiet_env(interop_dir))
    output = result.stdout.decode("utf-8", "replace")
    assert "Gr\u00fc\u00dfe aus K\u00f6ln" in output
    assert "H\u00e4llo Bob," in output
    assert "\nFrom here on it is QP.\n" in output
    assert "[-- Message  1 --" in output or "Message 1" in output
    assert "Message  2" not in output and " 2 zoe" not in output
    assert os.path.getsize(mbox) > len(local)
