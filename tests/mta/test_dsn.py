"""rfcmail.mta.dsn: RFC 3464 DSNs read back with the standard library's parser (SECURITY R5)."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage, Message
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfcmail.message import parse as rfcmail_parse
from rfcmail.mta.dsn import (
    Action,
    RecipientReport,
    build_dsn,
    build_dsn_for_entry,
    wants_notification,
)
from rfcmail.mta.queue import DeliveryState, Envelope, Queue, ReceivedFrom, Recipient, RecipientOutcome

# RFC 3464 section 2.1: every DSN field is "name: value" in header syntax.
FIELD_LINE = re.compile(rb"[A-Za-z][A-Za-z0-9-]*: [\x20-\x7e]+")
ORIGINAL = (b"From: Alice <alice@example.test>\r\nTo: bob@example.org\r\n"
            b"Subject: quarterly report\r\nMessage-ID: <1@example.test>\r\n\r\n"
            b"Hello Bob,\r\n.leading dot\r\nbye\r\n")


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def status_blocks(message: EmailMessage) -> list[Message]:
    assert message.get_content_type() == "multipart/report"
    assert message.get_param("report-type") == "delivery-status"
    parts = list(message.iter_parts())
    assert parts[1].get_content_type() == "message/delivery-status"
    payload = parts[1].get_payload()
    assert isinstance(payload, list)
    blocks = [block for block in payload if isinstance(block, Message)]
    assert len(blocks) == len(payload)
    return blocks


def failed(address: str = "bob@example.org", **extra: object) -> RecipientReport:
    fields: dict[str, object] = {"final_recipient": address, "action": Action.FAILED,
                                 "status": "5.1.1", "remote_mta": "mx.example.org",
                                 "diagnostic_code": "550 5.1.1 <bob@example.org>: User unknown",
                                 "last_attempt": 1_800_000_100.0}
    fields.update(extra)
    return RecipientReport(**fields)  # type: ignore[arg-type]


def dsn(reports: list[RecipientReport], **extra: object) -> bytes:
    arguments: dict[str, object] = {
        "reporting_mta": "mta.example.test", "reverse_path": "alice@example.test",
        "reports": reports, "original": ORIGINAL, "arrival_time": 1_800_000_000.0,
        "now": 1_800_000_200.0,
    }
    arguments.update(extra)
    result = build_dsn(**arguments)  # type: ignore[arg-type]
    assert result is not None
    return result.message


def test_failure_dsn_fields() -> None:
    data = dsn([failed(original_recipient="rfc822;Bob@Example.org")], envid="ENV-42",
               received_from_mta="client.example.test")
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    assert data.isascii()
    message = parse(data)
    assert message["To"].addresses[0].addr_spec == "alice@example.test"
    assert message["Auto-Submitted"] == "auto-replied"
    assert "Undelivered" in message["Subject"]
    parts = list(message.iter_parts())
    assert parts[0].get_content_type() == "text/plain"
    assert "bob@example.org" in parts[0].get_content()
    per_message, per_recipient = status_blocks(message)
    assert per_message["Reporting-MTA"] == "dns; mta.example.test"
    assert per_message["Original-Envelope-Id"] == "ENV-42"
    assert per_message["Received-From-MTA"] == "dns; client.example.test"
    assert per_message["Arrival-Date"] == "Fri, 15 Jan 2027 08:00:00 +0000"
    assert per_recipient["Final-Recipient"] == "rfc822;bob@example.org"
    assert per_recipient["Original-Recipient"] == "rfc822;Bob@Example.org"
    assert per_recipient["Action"] == "failed"
    assert per_recipient["Status"] == "5.1.1"
    assert per_recipient["Remote-MTA"] == "dns; mx.example.org"
    assert per_recipient["Diagnostic-Code"] == "smtp; 550 5.1.1 <bob@example.org>: User unknown"
    assert per_recipient["Last-Attempt-Date"] == "Fri, 15 Jan 2027 08:01:40 +0000"
    returned = parts[2]
    assert returned.get_content_type() == "message/rfc822"
    payload = returned.get_payload()
    assert isinstance(payload, list)
    inner = payload[0]
    assert isinstance(inner, EmailMessage)
    assert inner["Subject"] == "quarterly report"
    assert ".leading dot" in inner.get_content()


def test_ret_hdrs_returns_only_the_header() -> None:
    message = parse(dsn([failed()], ret="HDRS"))
    returned = list(message.iter_parts())[2]
    assert returned.get_content_type() == "text/rfc822-headers"
    text = returned.get_payload()
    assert "Subject: quarterly report" in text and "Hello Bob" not in text


def test_large_original_returns_headers_only() -> None:
    big = ORIGINAL + (b"x" * 70 + b"\r\n") * 30
    at_limit = parse(dsn([failed()], original=big, max_returned_size=len(big)))
    assert list(at_limit.iter_parts())[2].get_content_type() == "message/rfc822"
    above = parse(dsn([failed()], original=big, max_returned_size=len(big) + 1))
    assert list(above.iter_parts())[2].get_content_type() == "message/rfc822"
    over = parse(dsn([failed()], original=big, max_returned_size=len(big) - 1))
    assert list(over.iter_parts())[2].get_content_type() == "text/rfc822-headers"


def test_an_original_that_is_not_7bit_clean_returns_its_header() -> None:
    # 8-bit octets, a NUL, a line over 998 octets: the DSN stays 7-bit clean.
    for body in (b"caf\xc3\xa9\r\n", b"a\0b\r\n", b"y" * 999 + b"\r\n"):
        data = dsn([failed()], original=ORIGINAL + body)
        assert data.isascii() and all(len(line) <= 998 for line in data.split(b"\r\n"))
        returned = list(parse(data).iter_parts())[2]
        assert returned.get_content_type() == "text/rfc822-headers"
        assert "Subject: quarterly report" in returned.get_content()
    # 998 octets exactly is still clean (N-1, N, N+1 around RFC 5322's limit).
    for length, expected in ((997, "message/rfc822"), (998, "message/rfc822"),
                             (999, "text/rfc822-headers")):
        data = dsn([failed()], original=ORIGINAL + b"z" * length + b"\r\n")
        assert list(parse(data).iter_parts())[2].get_content_type() == expected


def test_8bit_header_is_returned_encoded() -> None:
    original = b"Subject: caf\xc3\xa9\r\nFrom: a@example.test\r\n\r\nbody\r\n"
    data = dsn([failed()], original=original)
    assert data.isascii()
    returned = list(parse(data).iter_parts())[2]
    assert returned.get_content_type() == "text/rfc822-headers"
    assert returned["Content-Transfer-Encoding"] == "base64"
    payload = returned.get_payload(decode=True)
    assert isinstance(payload, bytes) and payload.startswith(b"Subject: caf\xc3\xa9\r\n")


def test_rfcmails_own_parser_reads_it_without_defects() -> None:
    # SECURITY R5: the DSN re-parsed by rfcmail's parser, RFC 3464 fields checked.
    data = dsn([failed(original_recipient="rfc822;bob@example.org")], envid="ENV-1")
    message = rfcmail_parse(data)
    assert message.content_type == "multipart/report"
    assert message.params.get("report-type") == "delivery-status"
    assert [part.content_type for part in message.parts] == [
        "text/plain", "message/delivery-status", "message/rfc822"]
    assert list(message.all_defects()) == []
    status = message.parts[1].get_payload_bytes()
    blocks = status.split(b"\r\n\r\n")
    assert blocks[0].startswith(b"Reporting-MTA: dns; mta.example.test\r\n")
    for line in blocks[1].split(b"\r\n"):
        if line:
            assert FIELD_LINE.fullmatch(line), line
    assert b"Action: failed\r\nStatus: 5.1.1\r\n" in blocks[1]


def test_never_for_the_null_sender() -> None:
    assert build_dsn(reporting_mta="m", reverse_path="", reports=[failed()], original=ORIGINAL,
                     arrival_time=0, now=0) is None


@pytest.mark.parametrize(
    ("notify", "action", "expected"),
    [
        (frozenset(), Action.FAILED, True),
        (frozenset(), Action.DELAYED, True),
        (frozenset(), Action.DELIVERED, False),
        (frozenset({"NEVER"}), Action.FAILED, False),
        (frozenset({"NEVER"}), Action.DELAYED, False),
        (frozenset({"SUCCESS"}), Action.DELIVERED, True),
        (frozenset({"SUCCESS"}), Action.RELAYED, True),
        (frozenset({"SUCCESS"}), Action.EXPANDED, True),
        (frozenset({"SUCCESS"}), Action.FAILED, False),
        (frozenset({"FAILURE"}), Action.FAILED, True),
        (frozenset({"FAILURE"}), Action.DELAYED, False),
        (frozenset({"DELAY"}), Action.DELAYED, True),
        (frozenset({"DELAY"}), Action.FAILED, False),
        (frozenset({"success", "failure", "delay"}), Action.DELAYED, True),
    ],
)
def test_notify(notify: frozenset[str], action: Action, expected: bool) -> None:
    assert wants_notification(notify, action) is expected


def test_only_recipients_that_asked_are_reported() -> None:
    reports = [failed("never@example.org", notify=frozenset({"NEVER"})),
               failed("fail@example.org", notify=frozenset({"FAILURE"})),
               failed("success@example.org", notify=frozenset({"SUCCESS"}))]
    result = build_dsn(reporting_mta="m.test", reverse_path="a@x.test", reports=reports,
                       original=ORIGINAL, arrival_time=0, now=0)
    assert result is not None
    assert [r.final_recipient for r in result.reports] == ["fail@example.org"]
    blocks = status_blocks(parse(result.message))
    assert [b["Final-Recipient"] for b in blocks[1:]] == ["rfc822;fail@example.org"]
    only_never = build_dsn(reporting_mta="m.test", reverse_path="a@x.test", reports=reports[:1],
                           original=ORIGINAL, arrival_time=0, now=0)
    assert only_never is None


def test_delayed_and_success_reports() -> None:
    delayed = RecipientReport(final_recipient="bob@example.org", action=Action.DELAYED,
                              status="4.4.1", diagnostic_code="connection timed out",
                              will_retry_until=1_800_432_000.0)
    message = parse(dsn([delayed]))
    assert message["Subject"].startswith("Delayed")
    block = status_blocks(message)[1]
    assert block["Action"] == "delayed" and block["Status"] == "4.4.1"
    assert block["Will-Retry-Until"] == "Wed, 20 Jan 2027 08:00:00 +0000"
    delivered = RecipientReport(final_recipient="bob@example.org", action=Action.DELIVERED,
                                status="2.0.0", notify=frozenset({"SUCCESS"}))
    message = parse(dsn([delivered]))
    assert status_blocks(message)[1]["Action"] == "delivered"
    assert "Will-Retry-Until" not in status_blocks(message)[1]


def test_status_must_match_action() -> None:
    with pytest.raises(ValueError):
        RecipientReport(final_recipient="b@x", action=Action.FAILED, status="4.0.0")
    with pytest.raises(ValueError):
        RecipientReport(final_recipient="b@x", action=Action.DELIVERED, status="5.0.0")
    for bad in ("5.1", "5.1.1.1", "6.0.0", "5.1000.1", "x"):
        with pytest.raises(ValueError):
            RecipientReport(final_recipient="b@x", action=Action.FAILED, status=bad)


def test_hostile_reply_text_cannot_inject_fields() -> None:
    evil = "550 no\r\nAction: delivered\r\nBcc: victim@example.org\r\n\r\nfake"
    message = parse(dsn([failed(diagnostic_code=evil, remote_mta="mx\r\nX-Injected: 1")]))
    per_message, per_recipient = status_blocks(message)
    assert per_recipient.get_all("Action") == ["failed"]
    assert "Bcc" not in per_recipient and "X-Injected" not in per_recipient
    assert "Bcc" not in message
    assert per_recipient["Diagnostic-Code"].startswith("smtp; 550 no Action: delivered")


def test_envelope_of_the_dsn_is_null_sender() -> None:
    result = build_dsn(reporting_mta="m.test", reverse_path="alice@example.test",
                       reports=[failed()], original=ORIGINAL, arrival_time=0, now=0)
    assert result is not None
    envelope = result.envelope
    assert envelope.reverse_path == ""
    assert [r.address for r in envelope.recipients] == ["alice@example.test"]
    assert envelope.recipients[0].notify == {"NEVER"}


def test_from_a_queue_entry(tmp_path: Path) -> None:
    envelope = Envelope(
        reverse_path="alice@example.test",
        recipients=(Recipient(address="bob@example.org", notify=frozenset({"FAILURE"}),
                              orcpt="rfc822;bob@example.org"),),
        ret="HDRS", envid="E-7",
        received_from=ReceivedFrom(helo="client.example.test", address="192.0.2.1"),
    )
    with Queue(tmp_path / "spool", clock=lambda: 1_800_000_000.0) as queue:
        queue_id = queue.enqueue(envelope, ORIGINAL)
        entry = queue.record_attempt(queue_id, [RecipientOutcome(
            address="bob@example.org", state=DeliveryState.FAILED,
            reply="550 5.1.1 User unknown", remote_mta="mx.example.org")])
        reports = [RecipientReport.for_recipient(
            status.recipient, action=Action.FAILED, status="5.1.1", remote_mta=status.remote_mta,
            diagnostic_code=status.reply, last_attempt=status.last_attempt)
            for status in entry.recipients]
        result = build_dsn_for_entry(entry, reports, queue.read_message(queue_id),
                                     reporting_mta="mta.example.test", now=1_800_000_300.0)
    assert result is not None
    message = parse(result.message)
    per_message, per_recipient = status_blocks(message)
    assert per_message["Original-Envelope-Id"] == "E-7"
    assert per_message["Received-From-MTA"] == "dns; client.example.test"
    assert per_recipient["Original-Recipient"] == "rfc822;bob@example.org"
    assert list(message.iter_parts())[2].get_content_type() == "text/rfc822-headers"


@given(
    diagnostic=st.text(max_size=200),
    address=st.text(min_size=1, max_size=60),
    envid=st.one_of(st.none(), st.text(max_size=40)),
    original=st.binary(max_size=400),
)
def test_arbitrary_text_gives_a_parseable_dsn(diagnostic: str, address: str, envid: str | None,
                                              original: bytes) -> None:
    result = build_dsn(reporting_mta="mta.example.test", reverse_path="alice@example.test",
                       reports=[failed(address, diagnostic_code=diagnostic)], original=original,
                       arrival_time=0, now=0, envid=envid)
    assert result is not None
    for line in result.message.split(b"\r\n"):
        assert len(line) <= 998 and b"\r" not in line and b"\n" not in line
    message = parse(result.message)
    blocks = status_blocks(message)
    assert blocks[1]["Action"] == "failed" and blocks[1]["Status"] == "5.1.1"
