"""Folding a header field for output (RFC 5322 sections 2.1.1, 2.2 and 2.2.3).

:func:`fold` writes a complete field, ``Name: value`` and the line ending,
breaking long lines by inserting a line ending before existing whitespace,
so that unfolding gives back exactly the original field. Structured values
are broken after commas and semicolons by preference. :func:`unfold` lives
in the lexer module and is re-exported from the package.
"""

from __future__ import annotations

import re

__all__ = ["fold", "validate_field_name"]

# field-name = 1*ftext ; ftext = %d33-57 / %d59-126  (RFC 5322 section 3.6.8)
_FIELD_NAME_RE = re.compile(r"[\x21-\x39\x3b-\x7e]+\Z")
# A fold point: the start of each whitespace run.
_BREAK_RE = re.compile(r"(?<![ \t])[ \t]")


def validate_field_name(name: str) -> None:
    """Raise ValueError unless ``name`` is an RFC 5322 field name (printable ASCII except colon)."""
    if _FIELD_NAME_RE.match(name) is None:
        raise ValueError(f"invalid header field name {name!r} (RFC 5322 section 2.2: printable ASCII except ':')")


def fold(
    name: str,
    value: str,
    *,
    max_line_length: int = 78,
    hard_limit: int = 998,
    linesep: str = "\r\n",
) -> str:
    """Write ``Name: value`` folded, with the line ending (RFC 5322 section 2.2.3).

    A line ending is inserted before whitespace only (never after the
    colon, never making a line of only whitespace), so unfolding the result
    gives ``f"{name}: {value}"`` back exactly. Lines are kept within
    ``max_line_length`` where the whitespace allows; when a line must be
    broken, the break after the last ``,`` or ``;`` on it is preferred (the
    separators of address lists and parameters) if it keeps at least half
    of the line. A run of text with no whitespace that is longer than a line
    is left whole, even beyond ``hard_limit`` (998, RFC 5322 section 2.1.1):
    breaking it would change the value; the generator reports such lines.

    Args:
        name: the field name.
        value: the field body, unfolded, with no CR or LF.
        max_line_length: the length lines should keep to (78 by RFC 5322
            section 2.1.1), not counting the line ending.
        hard_limit: the length lines must keep to (998); a fold is made
            wherever it is possible before this is reached.
        linesep: ``"\\r\\n"`` (the wire) or ``"\\n"``.

    Returns:
        The field, ending with ``linesep``.

    Raises:
        ValueError: an invalid field name, CR or LF in ``value`` (header
            injection, SECURITY.md A4.1), an unknown ``linesep``, or
            ``max_line_length`` larger than ``hard_limit``.
    """
    validate_field_name(name)
    if "\r" in value or "\n" in value:
        raise ValueError("header value contains CR or LF (header injection)")
    if linesep not in ("\r\n", "\n"):
        raise ValueError("linesep must be '\\r\\n' or '\\n'")
    if not 1 <= max_line_length <= hard_limit:
        raise ValueError("max_line_length must be between 1 and hard_limit")
    head = f"{name}: "
    if len(head) + len(value) <= max_line_length:
        return head + value + linesep
    # Segments: the value cut before each fold point; segment 0 has no leading WSP.
    starts = [0] + [m.start() for m in _BREAK_RE.finditer(value) if m.start() > 0]
    starts.append(len(value))
    segments = [value[a:b] for a, b in zip(starts, starts[1:]) if b > a]
    lines: list[str] = []
    line: list[str] = [head]
    column = len(head)
    has_text = False
    preferred = -1  # index in `line` after which a preferred break may go
    for segment in segments:
        if has_text and column + len(segment) > max_line_length and segment.strip(" \t"):
            cut = len(line)
            if preferred > 0:
                kept = sum(len(piece) for piece in line[:preferred])
                if kept * 2 >= max_line_length and column - kept + len(segment) <= max_line_length:
                    cut = preferred
            lines.append("".join(line[:cut]))
            line = line[cut:]
            column = sum(len(piece) for piece in line)
            preferred = -1
        line.append(segment)
        column += len(segment)
        if segment.strip(" \t"):
            has_text = True
        if segment.endswith((",", ";")):
            preferred = len(line)
    lines.append("".join(line))
    return linesep.join(lines) + linesep
