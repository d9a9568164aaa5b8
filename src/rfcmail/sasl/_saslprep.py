"""SASLprep, the stringprep profile for user names and passwords (RFC 4013).

RFC 4013 section 2 applies RFC 3454 in four steps: map (non-ASCII spaces to
SPACE, RFC 3454 table B.1 to nothing), normalise with Unicode NFKC, refuse
the prohibited tables, and check bidirectional text (RFC 3454 section 6).
Unassigned code points (table A.1) are allowed in queries and refused in
stored strings (RFC 3454 section 7). The tables come from the standard
library's :mod:`stringprep` module.
"""

from __future__ import annotations

import stringprep
import unicodedata
from collections.abc import Callable

__all__ = ["SASLprepError", "saslprep"]


class SASLprepError(ValueError):
    """The string cannot be prepared: it holds a prohibited or misplaced character."""


# RFC 4013 section 2.3: the prohibited output tables.
_PROHIBITED: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("C.1.2 non-ASCII space", stringprep.in_table_c12),
    ("C.2.1 ASCII control", stringprep.in_table_c21),
    ("C.2.2 non-ASCII control", stringprep.in_table_c22),
    ("C.3 private use", stringprep.in_table_c3),
    ("C.4 non-character code point", stringprep.in_table_c4),
    ("C.5 surrogate code point", stringprep.in_table_c5),
    ("C.6 character inappropriate for plain text", stringprep.in_table_c6),
    ("C.7 character inappropriate for canonical representation", stringprep.in_table_c7),
    ("C.8 change display property or deprecated", stringprep.in_table_c8),
    ("C.9 tagging character", stringprep.in_table_c9),
)


def saslprep(value: str, *, allow_unassigned: bool = True) -> str:
    """Prepare ``value`` with SASLprep (RFC 4013 section 2).

    Args:
        value: a user name or password.
        allow_unassigned: ``True`` for a query string (what a mechanism
            compares), ``False`` for a stored string (what a store keeps).

    Returns:
        The prepared string (possibly empty: callers decide whether that is
        allowed).

    Raises:
        SASLprepError: a prohibited character, an unassigned code point in a
            stored string, or a bidirectional rule broken; the message names
            the table and the position, never the string.
    """
    if value.isascii():
        # Fast path: ASCII maps and normalises to itself; only controls are prohibited.
        for position, char in enumerate(value):
            if ord(char) < 0x20 or char == "\x7f":
                raise SASLprepError(f"character {position} is prohibited (C.2.1 ASCII control)")
        return value
    mapped = "".join(
        " " if stringprep.in_table_c12(char) else char
        for char in value
        if not stringprep.in_table_b1(char)
    )
    prepared = unicodedata.normalize("NFKC", mapped)
    for position, char in enumerate(prepared):
        for table, member in _PROHIBITED:
            if member(char):
                raise SASLprepError(f"character {position} is prohibited ({table})")
        if not allow_unassigned and stringprep.in_table_a1(char):
            raise SASLprepError(f"character {position} is unassigned (A.1) in a stored string")
    # RFC 3454 section 6: bidirectional characters.
    has_rand_al = any(stringprep.in_table_d1(char) for char in prepared)
    if has_rand_al:
        if any(stringprep.in_table_d2(char) for char in prepared):
            raise SASLprepError("mixes right-to-left and left-to-right characters (RFC 3454 section 6)")
        if not (stringprep.in_table_d1(prepared[0]) and stringprep.in_table_d1(prepared[-1])):
            raise SASLprepError("right-to-left text must start and end with a right-to-left character")
    return prepared
