"""Safe filenames from attachment names (SECURITY.md A4.10).

The ``filename`` parameter of Content-Disposition (RFC 2183 section 2.3) and
the ``name`` parameter of Content-Type come from the sender. RFC 2183
section 5 says a receiver must not use them blindly as a path: this module
turns one into a single harmless path component.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["safe_filename"]

DEFAULT_FILENAME = "attachment"
_MAX_FILENAME_BYTES = 255  # the usual file system limit (ext4, APFS, NTFS in UTF-16 units)
# Controls, DEL, C1 controls, line/paragraph separators, bidi marks,
# embeddings, overrides and isolates, zero-width characters, BOM,
# surrogates and noncharacters.
_UNSAFE_RE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb"
    "\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]"
)
# Characters Windows refuses in names, including the ADS separator ":".
_RESERVED_RE = re.compile(r'[<>:"|?*]')
_WINDOWS_DEVICES = frozenset(
    ["con", "prn", "aux", "nul"]
    + [f"com{i}" for i in range(10)]
    + [f"lpt{i}" for i in range(10)]
)


def safe_filename(name: str) -> str:
    """Reduce an attachment name to one safe file name component.

    The result is the last path component (after the last ``/`` or ``\\``),
    NFC-normalised, without control characters, bidi overrides or
    invisible formatting characters (RFC 2183 section 5, the "right-to-left
    override" extension trick), without the characters Windows reserves,
    without leading dots or spaces (no hidden files, never ``.`` or
    ``..``) and trailing dots or spaces, not a Windows device name, at most
    255 UTF-8 bytes with the extension kept, and never empty
    (``"attachment"``).

    Args:
        name: the decoded name from the message.

    Returns:
        A name safe to join to a directory of the caller's choosing.
    """
    text = unicodedata.normalize("NFC", _UNSAFE_RE.sub("", name))
    text = _UNSAFE_RE.sub("", text)  # normalisation cannot add them, but be sure
    text = re.split(r"[/\\]", text)[-1]
    text = _RESERVED_RE.sub("_", text)
    text = text.strip(" .\t")
    if not text:
        return DEFAULT_FILENAME
    stem, dot, extension = text.rpartition(".")
    if not dot:
        stem, extension = text, ""
    if stem.lower().rstrip(" ") in _WINDOWS_DEVICES or text.lower() in _WINDOWS_DEVICES:
        text = "_" + text
    if len(text.encode("utf-8")) > _MAX_FILENAME_BYTES:
        suffix = ("." + extension) if dot and len(extension.encode("utf-8")) <= 16 else ""
        budget = _MAX_FILENAME_BYTES - len(suffix.encode("utf-8"))
        head = text[: len(text) - len(suffix)] if suffix else text
        encoded = head.encode("utf-8")[:budget]
        head = encoded.decode("utf-8", "ignore").rstrip(" .")
        text = (head or DEFAULT_FILENAME) + suffix
    return text
