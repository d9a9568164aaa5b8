"""Header field helpers: parse and format each family of RFC 5322 and MIME fields.

- Addresses (RFC 5322 sections 3.4, 4.4; RFC 6532): :class:`Address`,
  :class:`Group`, :func:`parse_address_list`, :func:`parse_address`,
  :func:`format_address`, :func:`format_address_list`.
- Encoded words (RFC 2047): :func:`decode_encoded_words`, :func:`encode_header`.
- MIME parameters (RFC 2045 section 5.1, RFC 2183, RFC 2231):
  :func:`parse_content_type`, :func:`parse_content_disposition`,
  :func:`parse_parameters`, :func:`parse_content_transfer_encoding`,
  :func:`format_parameters`.
- Dates (RFC 5322 sections 3.3, 4.3): :func:`parse_date`, :func:`format_date`.
- Message ids (RFC 5322 sections 3.6.4, 4.5.4): :func:`parse_msgid`,
  :func:`parse_msgid_list`.
- Folding (RFC 5322 section 2.2.3): :func:`fold`, :func:`unfold`.
- Attachment names (RFC 2183 section 5): :func:`safe_filename`.

Every parse function takes ``defects``, a list it appends typed
:class:`~rfcmail.message.Defect` instances to, and never raises on any
``str`` (the strict address API is the one documented exception). Values
may be folded and may hold raw UTF-8 (RFC 6532) or surrogate-escaped 8-bit
bytes.
"""

from __future__ import annotations

from ._addresses import (
    Address,
    Group,
    format_address,
    format_address_list,
    parse_address,
    parse_address_list,
)
from ._dates import format_date, parse_date
from ._encoded_words import decode_encoded_words, encode_header
from ._filenames import safe_filename
from ._folding import fold
from ._msgid import parse_msgid, parse_msgid_list
from ._params import (
    MAX_PARAMETER_SECTIONS,
    format_parameters,
    parse_content_disposition,
    parse_content_transfer_encoding,
    parse_content_type,
    parse_parameters,
)
from ._tokens import unfold

__all__ = [
    "MAX_PARAMETER_SECTIONS",
    "Address",
    "Group",
    "decode_encoded_words",
    "encode_header",
    "fold",
    "format_address",
    "format_address_list",
    "format_date",
    "format_parameters",
    "parse_address",
    "parse_address_list",
    "parse_content_disposition",
    "parse_content_transfer_encoding",
    "parse_content_type",
    "parse_date",
    "parse_msgid",
    "parse_msgid_list",
    "parse_parameters",
    "safe_filename",
    "unfold",
]
