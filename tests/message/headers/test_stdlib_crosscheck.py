"""The stdlib's header registry (policy.default) reads what rfcmail writes.

Property tests: what :func:`format_address_list`, :func:`encode_header` and
:func:`format_parameters` produce is parsed by
``email.policy.default.header_factory`` to the same values.
"""

from __future__ import annotations

import email.headerregistry
import email.policy

from hypothesis import given
from hypothesis import strategies as st

from rfcmail.message.headers import (
    Address,
    encode_header,
    format_address_list,
    format_parameters,
    parse_address_list,
    unfold,
)

FACTORY = email.policy.default.header_factory
ATEXT = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"
SAFE_TEXT = st.text(st.characters(blacklist_categories=["Cc", "Cs", "Zl", "Zp"]))
# Display names without leading, trailing or doubled spaces and without
# Unicode spaces: see test_stdlib_strips_whitespace_inside_encoded_names.
# Short enough to need one encoded word at most: see
# test_stdlib_keeps_whitespace_between_encoded_words_in_names.
NAMES = st.text(
    st.characters(blacklist_categories=["Cc", "Cs", "Zl", "Zp", "Zs"]) | st.just(" "), max_size=12
).filter(lambda s: s == s.strip(" ") and "  " not in s)
ATOM = st.text(st.sampled_from(ATEXT), min_size=1, max_size=10)
LOCAL_PART = st.one_of(
    st.lists(ATOM, min_size=1, max_size=4).map(".".join),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=20),
)
LABEL = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789"), min_size=1, max_size=10)
DOMAIN = st.lists(LABEL, min_size=1, max_size=4).map(".".join)
ADDRESSES = st.builds(Address, display_name=NAMES, local_part=LOCAL_PART, domain=DOMAIN)
PARAM_NAMES = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789-_."), min_size=1, max_size=12)


@given(st.lists(ADDRESSES, min_size=1, max_size=3))
def test_stdlib_reads_our_address_lists(items: list[Address]) -> None:
    header = FACTORY("To", format_address_list(items))
    assert isinstance(header, email.headerregistry.AddressHeader)
    theirs = [(a.display_name, a.username, a.domain) for a in header.addresses]
    assert theirs == [(a.display_name, a.local_part, a.domain) for a in items]


@given(SAFE_TEXT)
def test_stdlib_reads_our_encoded_words(value: str) -> None:
    assert str(FACTORY("Subject", unfold(encode_header(value, header_name="Subject")))) == value


@given(st.dictionaries(PARAM_NAMES, SAFE_TEXT, max_size=4))
def test_stdlib_reads_our_parameters(params: dict[str, str]) -> None:
    header = FACTORY("Content-Disposition", "attachment" + format_parameters(params))
    assert isinstance(header, email.headerregistry.ContentDispositionHeader)
    assert dict(header.params) == params


def test_stdlib_strips_whitespace_inside_encoded_names() -> None:
    """A divergence: the stdlib drops whitespace that an encoded word carries.

    ``=?utf-8?b?IMKg?=`` is " " + U+00A0. RFC 2047 section 6.2 says the
    decoded text is displayed as it is; the stdlib's address parser strips
    it to a single space, rfcmail keeps it.
    """
    value = "=?utf-8?b?IMKg?= <a@b.example>"
    header = FACTORY("To", value)
    assert isinstance(header, email.headerregistry.AddressHeader)
    assert header.addresses[0].display_name == " "
    assert parse_address_list(value) == [Address(display_name=" \xa0", local_part="a", domain="b.example")]


def test_stdlib_keeps_whitespace_between_encoded_words_in_names() -> None:
    """A divergence: RFC 2047 section 6.2 says whitespace between adjacent encoded words is dropped.

    The stdlib does so in unstructured fields but keeps it in a display
    name, so a long non-ASCII name, which needs several encoded words of at
    most 75 characters (section 2), reads back with an extra space there.
    """
    value = "=?utf-8?q?J=C3=B6?= =?utf-8?q?rg?= <a@b.example>"
    header = FACTORY("To", value)
    assert isinstance(header, email.headerregistry.AddressHeader)
    assert header.addresses[0].display_name == "Jö rg"
    assert str(FACTORY("Subject", "=?utf-8?q?J=C3=B6?= =?utf-8?q?rg?=")) == "Jörg"
    assert parse_address_list(value) == [Address(display_name="Jörg", local_part="a", domain="b.example")]
