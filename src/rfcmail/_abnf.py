"""Regular-expression fragments for the ABNF rules the mail RFCs share.

Each fragment is a ``str`` pattern named after its rule, with the ABNF it
encodes in the comment above it. Fragments are written to be embedded in
larger patterns (no anchors, only non-capturing groups) and are compiled with
no flags. Sources: RFC 5234 appendix B.1 (core rules), RFC 5321 section 4.1.2
(SMTP paths and parameters) and 4.1.3 (address literals), RFC 5322 sections
3.2 and 3.4.1 (lexical tokens, addr-spec), RFC 6531 section 3.3 (UTF-8 in
SMTP paths).
"""

from __future__ import annotations

import re

__all__ = [
    "ALPHA", "DIGIT", "HEXDIG", "WSP", "VCHAR", "CRLF",
    "ATEXT", "ATOM", "DOT_ATOM_TEXT", "QTEXT", "QUOTED_PAIR", "QUOTED_STRING",
    "LET_DIG", "LDH_STR", "SUB_DOMAIN", "DOMAIN", "SNUM", "IPV4_ADDRESS_LITERAL",
    "IPV6_ADDR", "IPV6_ADDRESS_LITERAL", "GENERAL_ADDRESS_LITERAL", "ADDRESS_LITERAL",
    "QTEXT_SMTP", "QUOTED_PAIR_SMTP", "QUOTED_STRING_SMTP", "DOT_STRING", "LOCAL_PART",
    "MAILBOX", "ESMTP_KEYWORD", "ESMTP_VALUE", "ESMTP_PARAM",
    "UTF8_NON_ASCII", "ATEXT_UTF8", "QTEXT_SMTP_UTF8",
    "DOMAIN_RE", "MAILBOX_RE", "ESMTP_PARAM_RE", "ADDRESS_LITERAL_RE", "DOT_ATOM_TEXT_RE",
]

# --- RFC 5234 appendix B.1 core rules ----------------------------------------

# ALPHA = %x41-5A / %x61-7A   ; A-Z / a-z
ALPHA = r"[A-Za-z]"
# DIGIT = %x30-39
DIGIT = r"[0-9]"
# HEXDIG = DIGIT / "A" / "B" / "C" / "D" / "E" / "F"   (case-insensitive in ABNF strings)
HEXDIG = r"[0-9A-Fa-f]"
# WSP = SP / HTAB
WSP = r"[ \t]"
# VCHAR = %x21-7E
VCHAR = r"[\x21-\x7e]"
# CRLF = CR LF
CRLF = r"\r\n"

# --- RFC 5322 section 3.2 lexical tokens ------------------------------------

# atext = ALPHA / DIGIT / "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "/"
#         / "=" / "?" / "^" / "_" / "`" / "{" / "|" / "}" / "~"
ATEXT = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]"
# atom = [CFWS] 1*atext [CFWS]   (the fragment is the atext run; CFWS is handled by tokenisers)
ATOM = ATEXT + r"+"
# dot-atom-text = 1*atext *("." 1*atext)
DOT_ATOM_TEXT = rf"{ATEXT}+(?:\.{ATEXT}+)*"
# qtext = %d33 / %d35-91 / %d93-126 / obs-qtext
QTEXT = r"[\x21\x23-\x5b\x5d-\x7e]"
# quoted-pair = ("\" (VCHAR / WSP)) / obs-qp
QUOTED_PAIR = r"\\[\x21-\x7e \t]"
# quoted-string = [CFWS] DQUOTE *([FWS] qcontent) [FWS] DQUOTE [CFWS]
#   (unfolded form: FWS reduced to WSP)
QUOTED_STRING = rf'"(?:{QTEXT}|{QUOTED_PAIR}|{WSP})*"'

# --- RFC 5321 section 4.1.2 and 4.1.3 ---------------------------------------

# Let-dig = ALPHA / DIGIT
LET_DIG = r"[A-Za-z0-9]"
# Ldh-str = *( ALPHA / DIGIT / "-" ) Let-dig
LDH_STR = r"[A-Za-z0-9\-]*[A-Za-z0-9]"
# sub-domain = Let-dig [Ldh-str]
SUB_DOMAIN = rf"{LET_DIG}(?:{LDH_STR})?"
# Domain = sub-domain *("." sub-domain)
DOMAIN = rf"{SUB_DOMAIN}(?:\.{SUB_DOMAIN})*"
# Snum = 1*3DIGIT   ; representing a decimal integer value in the range 0 through 255
SNUM = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
# IPv4-address-literal = Snum 3("." Snum)
IPV4_ADDRESS_LITERAL = rf"{SNUM}(?:\.{SNUM}){{3}}"
# IPv6-hex = 1*4HEXDIG
_IPV6_HEX = rf"{HEXDIG}{{1,4}}"
# IPv6-full = IPv6-hex 7(":" IPv6-hex)
_IPV6_FULL = rf"{_IPV6_HEX}(?::{_IPV6_HEX}){{7}}"
# IPv6-comp = [IPv6-hex *5(":" IPv6-hex)] "::" [IPv6-hex *5(":" IPv6-hex)]
#   ; The "::" represents at least 2 16-bit groups of zeros; at most 6 groups in all
_IPV6_COMP = rf"(?:{_IPV6_HEX}(?::{_IPV6_HEX}){{0,5}})?::(?:{_IPV6_HEX}(?::{_IPV6_HEX}){{0,5}})?"
# IPv6v4-full = IPv6-hex 5(":" IPv6-hex) ":" IPv4-address-literal
_IPV6V4_FULL = rf"{_IPV6_HEX}(?::{_IPV6_HEX}){{5}}:{IPV4_ADDRESS_LITERAL}"
# IPv6v4-comp = [IPv6-hex *3(":" IPv6-hex)] "::" [IPv6-hex *3(":" IPv6-hex) ":"] IPv4-address-literal
_IPV6V4_COMP = (
    rf"(?:{_IPV6_HEX}(?::{_IPV6_HEX}){{0,3}})?::"
    rf"(?:{_IPV6_HEX}(?::{_IPV6_HEX}){{0,3}}:)?{IPV4_ADDRESS_LITERAL}"
)
# IPv6-addr = IPv6-full / IPv6-comp / IPv6v4-full / IPv6v4-comp
#   (the group counts of the compressed forms are checked again by ipaddress
#   where an address is used; the pattern only frames it)
IPV6_ADDR = rf"(?:{_IPV6V4_FULL}|{_IPV6V4_COMP}|{_IPV6_FULL}|{_IPV6_COMP})"
# IPv6-address-literal = "IPv6:" IPv6-addr
IPV6_ADDRESS_LITERAL = rf"[Ii][Pp][Vv]6:{IPV6_ADDR}"
# dcontent = %d33-90 / %d94-126   ; Printable US-ASCII excl. "[", "\", "]"
_DCONTENT = r"[\x21-\x5a\x5e-\x7e]"
# General-address-literal = Standardized-tag ":" 1*dcontent ; Standardized-tag = Ldh-str
GENERAL_ADDRESS_LITERAL = rf"{LDH_STR}:{_DCONTENT}+"
# address-literal = "[" ( IPv4-address-literal / IPv6-address-literal / General-address-literal ) "]"
ADDRESS_LITERAL = (
    rf"\[(?:{IPV4_ADDRESS_LITERAL}|{IPV6_ADDRESS_LITERAL}|{GENERAL_ADDRESS_LITERAL})\]"
)
# qtextSMTP = %d32-33 / %d35-91 / %d93-126
QTEXT_SMTP = r"[\x20\x21\x23-\x5b\x5d-\x7e]"
# quoted-pairSMTP = %d92 %d32-126
QUOTED_PAIR_SMTP = r"\\[\x20-\x7e]"
# Quoted-string = DQUOTE *QcontentSMTP DQUOTE ; QcontentSMTP = qtextSMTP / quoted-pairSMTP
QUOTED_STRING_SMTP = rf'"(?:{QTEXT_SMTP}|{QUOTED_PAIR_SMTP})*"'
# Dot-string = Atom *("." Atom)
DOT_STRING = DOT_ATOM_TEXT
# Local-part = Dot-string / Quoted-string
LOCAL_PART = rf"(?:{DOT_STRING}|{QUOTED_STRING_SMTP})"
# Mailbox = Local-part "@" ( Domain / address-literal )
MAILBOX = rf"{LOCAL_PART}@(?:{DOMAIN}|{ADDRESS_LITERAL})"
# esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
ESMTP_KEYWORD = r"[A-Za-z0-9][A-Za-z0-9\-]*"
# esmtp-value = 1*(%d33-60 / %d62-126)   ; any CHAR excluding "=", SP, and control characters
ESMTP_VALUE = r"[\x21-\x3c\x3e-\x7e]+"
# esmtp-param = esmtp-keyword ["=" esmtp-value]
ESMTP_PARAM = rf"{ESMTP_KEYWORD}(?:={ESMTP_VALUE})?"

# --- RFC 6531 section 3.3 / RFC 6532 section 3.1: UTF-8 extensions ---------

# UTF8-non-ascii = UTF8-2 / UTF8-3 / UTF8-4  (as decoded text: any non-ASCII code point)
UTF8_NON_ASCII = r"[^\x00-\x7f]"
# atext =/ UTF8-non-ascii
ATEXT_UTF8 = r"(?:[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]|[^\x00-\x7f])"
# qtextSMTP =/ UTF8-non-ascii
QTEXT_SMTP_UTF8 = r"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|[^\x00-\x7f])"

# --- compiled, anchored forms for whole-string checks -------------------------

DOMAIN_RE = re.compile(rf"{DOMAIN}\Z")
MAILBOX_RE = re.compile(rf"{MAILBOX}\Z")
ESMTP_PARAM_RE = re.compile(rf"{ESMTP_PARAM}\Z")
ADDRESS_LITERAL_RE = re.compile(rf"{ADDRESS_LITERAL}\Z")
DOT_ATOM_TEXT_RE = re.compile(rf"{DOT_ATOM_TEXT}\Z")
