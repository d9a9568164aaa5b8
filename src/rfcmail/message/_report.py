"""A summary of a parsed message: the part tree and the main header fields, as text or JSON-ready data.

Used by ``rfcmail parse``; pure functions over a :class:`~rfcmail.message.Message`
(no I/O). Parts are numbered as IMAP does (RFC 3501 section 6.4.5: ``1``,
``1.2``, ...), so the numbers can be used in a FETCH BODY[...] request.
"""

from __future__ import annotations

from typing import Any

from ._model import Message, Part

__all__ = ["describe", "format_report"]

_MAIN_FIELDS = ("From", "Sender", "Reply-To", "To", "Cc", "Bcc", "Subject", "Date", "Message-ID")


def _numbered(message: Message) -> list[tuple[str, int, Part]]:
    """(IMAP part number, depth, part) for every part, depth first."""
    found: list[tuple[str, int, Part]] = []
    stack: list[tuple[str, int, Part]] = [("", 0, message)]
    while stack:
        number, depth, part = stack.pop()
        found.append((number, depth, part))
        children = part._parts
        if part.is_message and children:
            # An encapsulated message shares its number with its message/rfc822 part.
            stack.append((number, depth + 1, children[0]))
            continue
        prefix = f"{number}." if number else ""
        for index in range(len(children), 0, -1):
            stack.append((f"{prefix}{index}", depth + 1, children[index - 1]))
    return found


def _part_data(number: str, part: Part) -> dict[str, Any]:
    start, body_start, end = part.offsets
    return {
        "part": number,
        "content_type": part.content_type,
        "params": part.params,
        "transfer_encoding": part.content_transfer_encoding,
        "disposition": part.content_disposition,
        "filename": part.filename,
        "size": part.size,
        "offsets": {"start": start, "body": body_start, "end": end},
        "defects": [str(defect) for defect in part.defects],
    }


def describe(message: Message) -> dict[str, Any]:
    """The main header fields (decoded), the part tree and every defect, as JSON-ready data."""
    headers = {name: message.get_all(name) for name in _MAIN_FIELDS if name in message}
    date = message.date
    parts: list[dict[str, Any]] = []
    index: dict[int, dict[str, Any]] = {}
    for number, _depth, part in _numbered(message):
        data = _part_data(number, part)
        data["parts"] = []
        index[id(part)] = data
        parent = part.parent
        if parent is None:
            parts.append(data)
        else:
            index[id(parent)]["parts"].append(data)
    return {
        "headers": headers,
        "date": None if date is None else date.isoformat(),
        "size": part_size(message),
        "tree": parts[0],
    }


def part_size(message: Message) -> int:
    """Total size of the message in octets."""
    start, _body, end = message.offsets
    return end - start


def format_report(message: Message) -> str:
    """The report as text: main header fields, then one line per part, indented by depth."""
    lines: list[str] = []
    for name in _MAIN_FIELDS:
        for value in message.get_all(name):
            lines.append(f"{name}: {value}")
    lines.append("")
    for number, depth, part in _numbered(message):
        label = number or "-"
        details = [part.content_type]
        for key, value in part.params.items():
            if key != "name":
                details.append(f'{key}="{value}"')
        if part.content_transfer_encoding != "7bit":
            details.append(f"[{part.content_transfer_encoding}]")
        if part.content_disposition:
            details.append(part.content_disposition)
        if part.filename is not None:
            details.append(f"filename={part.filename!r}")
        details.append(f"{part.size} bytes")
        lines.append(f"{'  ' * depth}{label:<6} {' '.join(details)}")
        for defect in part.defects:
            lines.append(f"{'  ' * depth}       ! {defect}")
    return "\n".join(lines) + "\n"
