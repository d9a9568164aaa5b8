"""Charset labels and text decoding that never raises (RFC 2045 section 5.1, RFC 2046 section 4.1.2, RFC 6532).

Mail declares charsets with labels that Python may not know (``unknown-8bit``,
``x-user-defined``), with aliases only mail clients use (``iso-8859-8-i``,
``ks_c_5601-1987``), or with names of Python codecs that are not charsets at
all (``base64``, ``zlib``, ``unicode_escape``). :func:`lookup_charset` maps a
label to a text codec or to ``None``; :func:`decode_text` decodes with the
replacement character and records an :class:`UnknownCharset` or
:class:`UndecodableBytes` defect instead of raising.
"""

from __future__ import annotations

import codecs
from functools import lru_cache

from ._defects import Defect, UndecodableBytes, UnknownCharset

__all__ = ["decode_text", "lookup_charset"]

# Labels seen in mail that Python's codec registry does not resolve (or
# resolves to something else), mapped to the codec that decodes them.
_MAIL_ALIASES = {
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "iso-8859-8-e": "iso-8859-8",
    "iso-8859-6-e": "iso-8859-6",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "windows-874": "cp874",
    "x-sjis": "shift_jis",
    "x-gbk": "gbk",
    "x-euc-jp": "euc_jp",
    "x-mac-roman": "mac_roman",
    "unicode-1-1-utf-7": "utf-7",
    "ansi_x3.4-1968": "ascii",
    "us": "ascii",
    "cp-850": "cp850",
    "gb2312": "gb18030",
}

# Python codecs that decode bytes to str but are not charsets a message may use.
_NOT_CHARSETS = frozenset(
    {"undefined", "unicode_escape", "raw_unicode_escape", "unicode_internal", "idna", "punycode", "mbcs", "oem"}
)


@lru_cache(maxsize=256)
def lookup_charset(label: str) -> str | None:
    """Return the Python codec name for a MIME charset label, or ``None`` when unknown.

    Args:
        label: the charset parameter as written (case and quotes already
            removed by the parameter parser; surrounding whitespace allowed).
    """
    name = label.strip().lower()
    if not name or len(name) > 64:
        return None
    name = _MAIL_ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name.replace("-", "_") in _NOT_CHARSETS:
        return None
    return info.name


def decode_text(data: bytes, charset: str | None, defects: list[Defect] | None = None) -> str:
    """Decode ``data`` in ``charset`` (``us-ascii`` when ``None``), never raising.

    Undecodable bytes become U+FFFD and add :class:`UndecodableBytes`; an
    unknown charset adds :class:`UnknownCharset` and decodes as UTF-8 (the
    stdlib's choice too, so both give the same text).
    """
    codec = lookup_charset(charset) if charset else "ascii"
    if codec is None:
        if defects is not None:
            defects.append(UnknownCharset(f"unknown charset {charset!r}, decoded as UTF-8"))
        codec = "utf-8"
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        if defects is not None:
            defects.append(UndecodableBytes(f"{exc.reason} in {codec} at byte {exc.start}"))
        return data.decode(codec, "replace")
    except (LookupError, ValueError) as exc:  # a codec that rejects being used for decoding
        if defects is not None:
            defects.append(UnknownCharset(f"charset {charset!r} cannot decode: {exc}"))
        return data.decode("utf-8", "replace")
