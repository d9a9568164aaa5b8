"""Address parsing and formatting: RFC 5322 appendix A, obsolete forms, SECURITY.md A4.2 and A4.4."""

from __future__ import annotations

import email.headerregistry
import email.policy
import email.utils

import pytest

from rfcmail.errors import RemoteProtocolError
from rfcmail.message import Defect, InvalidAddress, ObsoleteSyntax
from rfcmail.message.headers import (
    Address,
    Group,
    format_address,
    format_address_list,
    parse_address,
    parse_address_list,
)
from rfcmail.message.headers._addresses import _parse


def parse(value: str) -> tuple[list[Address | Group], list[Defect]]:
    defects: list[Defect] = []
    return parse_address_list(value, defects=defects), defects


def kinds(defects: list[Defect]) -> set[type[Defect]]:
    return {type(d) for d in defects}


# --- RFC 5322 appendix A ------------------------------------------------------


def test_a_1_1_simple_addressing() -> None:
    result, defects = parse("John Doe <jdoe@machine.example>")
    assert result == [Address(display_name="John Doe", local_part="jdoe", domain="machine.example")]
    assert defects == []
    result, defects = parse('"Joe Q. Public" <john.q.public@example.com>')
    assert result == [Address(display_name="Joe Q. Public", local_part="john.q.public", domain="example.com")]
    assert defects == []


def test_a_1_2_different_types_of_mailboxes() -> None:
    result, defects = parse(
        'Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>'
    )
    assert result == [
        Address(display_name="Mary Smith", local_part="mary", domain="x.test"),
        Address(local_part="jdoe", domain="example.org"),
        Address(display_name="Who?", local_part="one", domain="y.test"),
    ]
    assert defects == []
    result, defects = parse('<boss@nil.test>, "Giant; \\"Big\\" Box" <sysservices@example.net>')
    assert result == [
        Address(local_part="boss", domain="nil.test"),
        Address(display_name='Giant; "Big" Box', local_part="sysservices", domain="example.net"),
    ]
    assert defects == []


def test_a_1_3_group_addresses() -> None:
    result, defects = parse(
        "A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;"
    )
    assert result == [
        Group(
            display_name="A Group",
            members=(
                Address(display_name="Ed Jones", local_part="c", domain="a.test"),
                Address(local_part="joe", domain="where.test"),
                Address(display_name="John", local_part="jdoe", domain="one.test"),
            ),
        )
    ]
    assert defects == []
    result, defects = parse("Undisclosed recipients:;")
    assert result == [Group(display_name="Undisclosed recipients")]
    assert defects == []


def test_a_5_white_space_comments_and_other_oddities() -> None:
    result, defects = parse("Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>")
    assert result == [Address(display_name="Pete", local_part="pete", domain="silly.test")]
    assert defects == []
    result, defects = parse(
        "A Group(Some people)\r\n     :Chris Jones <c@(Chris's host.)public.example>,\r\n"
        "         joe@example.org,\r\n  John <jdoe@one.test> (my dear friend); (the end of the group)"
    )
    assert result == [
        Group(
            display_name="A Group",
            members=(
                Address(display_name="Chris Jones", local_part="c", domain="public.example"),
                Address(local_part="joe", domain="example.org"),
                Address(display_name="John", local_part="jdoe", domain="one.test"),
            ),
        )
    ]
    assert defects == []
    result, defects = parse("(Empty list)(start)Hidden recipients  :(nobody(that I know))  ;")
    assert result == [Group(display_name="Hidden recipients")]
    assert defects == []


def test_a_6_2_obsolete_addressing() -> None:
    result, defects = parse("Joe Q. Public <john.q.public@example.com>")
    assert result == [Address(display_name="Joe Q. Public", local_part="john.q.public", domain="example.com")]
    assert kinds(defects) == {ObsoleteSyntax}
    result, defects = parse("Mary Smith <@node.test:mary@example.net>, , jdoe@test  . example")
    assert result == [
        Address(display_name="Mary Smith", local_part="mary", domain="example.net"),
        Address(local_part="jdoe", domain="test.example"),
    ]
    assert kinds(defects) == {ObsoleteSyntax}
    assert len(defects) == 3  # route, empty element, CFWS inside the domain


def test_obsolete_route_with_several_domains() -> None:
    result, defects = parse("<@a.test,@b.test:user@host.test>")
    assert result == [Address(local_part="user", domain="host.test")]
    assert kinds(defects) == {ObsoleteSyntax}


def test_obs_local_part_mixing_quoted_and_atoms() -> None:
    result, defects = parse('"john".doe@example.org')
    assert result == [Address(local_part="john.doe", domain="example.org")]
    assert kinds(defects) == {ObsoleteSyntax}


def test_quoted_local_part_round_trips_quoted() -> None:
    result, defects = parse('"john doe"@example.org')
    assert result == [Address(local_part="john doe", domain="example.org")]
    assert defects == []
    address = result[0]
    assert isinstance(address, Address)
    assert address.addr_spec == '"john doe"@example.org'
    assert Address(local_part='a"b\\c', domain="x.test").addr_spec == '"a\\"b\\\\c"@x.test'


def test_domain_literal() -> None:
    result, defects = parse("user@[192.0.2.1]")
    assert result == [Address(local_part="user", domain="[192.0.2.1]")]
    assert defects == []


def test_empty_value_and_trailing_comma() -> None:
    assert parse("") == ([], [])
    assert parse("   ") == ([], [])
    result, defects = parse("a@b.test,")
    assert result == [Address(local_part="a", domain="b.test")]
    assert kinds(defects) == {ObsoleteSyntax}


def test_group_followed_by_mailbox() -> None:
    result, defects = parse("G: a@b.test;, c@d.test")
    assert result == [
        Group(display_name="G", members=(Address(local_part="a", domain="b.test"),)),
        Address(local_part="c", domain="d.test"),
    ]
    assert defects == []


def test_unclosed_group_is_reported() -> None:
    result, defects = parse("G: a@b.test, c@d.test")
    assert result == [
        Group(
            display_name="G",
            members=(Address(local_part="a", domain="b.test"), Address(local_part="c", domain="d.test")),
        )
    ]
    assert kinds(defects) == {InvalidAddress}


# --- encoded words, UTF-8 and IDNA -----------------------------------------------


def test_encoded_word_in_display_name_is_decoded() -> None:
    result, defects = parse("=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?= <keld@dkuug.dk>")
    assert result == [Address(display_name="Keld Jørn Simonsen", local_part="keld", domain="dkuug.dk")]
    assert defects == []


def test_adjacent_encoded_words_in_phrase() -> None:
    result, _ = parse("=?utf-8?q?J=C3=B6rg?= =?utf-8?q?_M=C3=BCller?= <j@x.test>")
    assert result == [Address(display_name="Jörg Müller", local_part="j", domain="x.test")]


def test_a4_4_encoded_words_in_quoted_string_and_addr_spec_are_not_decoded() -> None:
    """SECURITY.md A4.4: RFC 2047 section 5 allows encoded words in phrases only."""
    result, _ = parse('"=?utf-8?b?Ym9zc0BiYW5rLmV4YW1wbGU=?=" <eve@evil.test>')
    assert result == [
        Address(display_name="=?utf-8?b?Ym9zc0BiYW5rLmV4YW1wbGU=?=", local_part="eve", domain="evil.test")
    ]
    result, _ = parse("=?utf-8?b?Ym9zcw==?=@example.org")
    assert result == [Address(local_part="=?utf-8?b?Ym9zcw==?=", domain="example.org")]


def test_a4_4_decoded_controls_in_display_name_are_replaced() -> None:
    result, defects = parse("=?utf-8?q?Eve=0D=0ABcc:_x?= <eve@evil.test>")
    assert result == [Address(display_name="Eve\ufffd\ufffdBcc: x", local_part="eve", domain="evil.test")]
    assert defects


def test_utf8_address_rfc_6532() -> None:
    result, defects = parse("Jörg <jörg@bücher.example>")
    assert result == [Address(display_name="Jörg", local_part="jörg", domain="bücher.example")]
    assert defects == []
    address = result[0]
    assert isinstance(address, Address)
    assert address.domain_ascii == "xn--bcher-kva.example"
    assert Address(local_part="a", domain="xn--bcher-kva.example").domain_unicode == "bücher.example"
    assert Address(local_part="a", domain="plain.example").domain_unicode == "plain.example"


def test_surrogate_escaped_bytes_are_replaced_and_reported() -> None:
    value = b"J\xf6rg <j@x.test>".decode("utf-8", "surrogateescape")
    result, defects = parse(value)
    assert result == [Address(display_name="J\ufffdrg", local_part="j", domain="x.test")]
    assert defects


# --- SECURITY.md A4.2 -----------------------------------------------------------------

AMBIGUOUS = [
    ("alice@victim.test)<bob@attacker.test>", {"alice@victim.test", "bob@attacker.test"}),
    ("alice@victim.test(<bob@attacker.test>", {"alice@victim.test", "bob@attacker.test"}),
    ("alice@victim.test@<bob@attacker.test>", {"alice@victim.test", "bob@attacker.test"}),
    ("alice@victim.test <bob@attacker.test>", {"alice@victim.test", "bob@attacker.test"}),
    ("alice@victim.test, G: <bob@attacker.test>>;", {"alice@victim.test", "bob@attacker.test"}),
    ("a@victim.test:b@attacker.test;", {"a@victim.test", "b@attacker.test"}),
]


@pytest.mark.parametrize(("value", "candidates"), AMBIGUOUS)
def test_a4_2_ambiguous_forms_return_all_candidates_flagged(value: str, candidates: set[str]) -> None:
    """SECURITY.md A4.2 (CVE-2023-27043): every candidate is returned, with a defect."""
    result, defects = parse(value)
    found: set[str] = set()
    for item in result:
        members = item.members if isinstance(item, Group) else (item,)
        found.update(m.addr_spec for m in members)
    assert candidates <= found
    assert InvalidAddress in kinds(defects)
    with pytest.raises(RemoteProtocolError) as info:
        parse_address_list(value, strict=True)
    assert info.value.reply_hint is not None and info.value.reply_hint.startswith("550")


def test_a4_2_quoted_display_name_that_looks_like_an_address() -> None:
    """``"a@b" <c@d>`` is valid RFC 5322: the mailbox is c@d; the defect says the name misleads."""
    result, defects = parse('"alice@victim.test" <bob@attacker.test>')
    assert result == [
        Address(display_name="alice@victim.test", local_part="bob", domain="attacker.test")
    ]
    assert kinds(defects) == {InvalidAddress}
    with pytest.raises(RemoteProtocolError):
        parse_address_list('"alice@victim.test" <bob@attacker.test>', strict=True)
    # The same address in the name and the angle-addr is the common, harmless form.
    result, defects = parse('"bob@attacker.test" <bob@attacker.test>')
    assert defects == []


def test_a4_2_obsolete_route_is_dropped_not_taken_as_the_address() -> None:
    result, defects = parse("<@victim.test:bob@attacker.test>")
    assert result == [Address(local_part="bob", domain="attacker.test")]
    assert kinds(defects) == {ObsoleteSyntax}
    # obsolete syntax alone does not make strict parsing fail
    assert parse_address_list("<@victim.test:bob@attacker.test>", strict=True) == result


def test_strict_accepts_valid_lists() -> None:
    assert parse_address_list("a@b.test, C <c@d.test>", strict=True) == [
        Address(local_part="a", domain="b.test"),
        Address(display_name="C", local_part="c", domain="d.test"),
    ]


def test_junk_without_address_is_dropped_with_a_defect() -> None:
    result, defects = parse("undisclosed-recipients")
    assert result == []
    assert kinds(defects) == {InvalidAddress}


# --- parse_address ---------------------------------------------------------------------


def test_parse_address_single_mailbox() -> None:
    defects: list[Defect] = []
    assert parse_address("Joe <j@x.test>", defects=defects) == Address(
        display_name="Joe", local_part="j", domain="x.test"
    )
    assert defects == []


def test_parse_address_empty_path_and_errors() -> None:
    defects: list[Defect] = []
    assert parse_address(" <> ", defects=defects) == Address()
    assert defects == []
    assert parse_address("", defects=defects) is None
    assert kinds(defects) == {InvalidAddress}
    defects = []
    assert parse_address("a@b.test, c@d.test", defects=defects) == Address(local_part="a", domain="b.test")
    assert kinds(defects) == {InvalidAddress}
    defects = []
    assert parse_address("G: a@b.test;", defects=defects) == Address(local_part="a", domain="b.test")
    assert kinds(defects) == {InvalidAddress}


# --- formatting -----------------------------------------------------------------------------


def test_format_simple_and_quoted_names() -> None:
    assert format_address(Address(local_part="a", domain="b.test")) == "a@b.test"
    assert format_address(Address(display_name="Joe", local_part="a", domain="b.test")) == "Joe <a@b.test>"
    assert (
        format_address(Address(display_name="Joe Q. Public", local_part="a", domain="b.test"))
        == '"Joe Q. Public" <a@b.test>'
    )
    assert (
        format_address(Address(display_name='Say "hi"', local_part="a", domain="b.test"))
        == '"Say \\"hi\\"" <a@b.test>'
    )
    assert format_address(Address()) == "<>"


def test_format_encodes_non_ascii_names_and_idna() -> None:
    item = Address(display_name="Jörg", local_part="j", domain="bücher.example")
    text = format_address(item)
    assert text.isascii()
    assert text.endswith("<j@xn--bcher-kva.example>")
    assert parse_address_list(text) == [Address(display_name="Jörg", local_part="j", domain="xn--bcher-kva.example")]
    assert format_address(item, utf8=True) == "Jörg <j@bücher.example>"
    assert str(item) == "Jörg <j@bücher.example>"


def test_format_refuses_injection_and_unrepresentable() -> None:
    with pytest.raises(ValueError):
        format_address(Address(display_name="x\r\nBcc: e@evil.test", local_part="a", domain="b.test"))
    with pytest.raises(ValueError):
        format_address(Address(local_part="a\n", domain="b.test"))
    with pytest.raises(ValueError):
        format_address(Address(local_part="jörg", domain="b.test"))
    assert format_address(Address(local_part="jörg", domain="b.test"), utf8=True) == "jörg@b.test"


def test_format_name_that_looks_like_an_encoded_word_is_encoded() -> None:
    item = Address(display_name="=?utf-8?q?x?=", local_part="a", domain="b.test")
    text = format_address(item)
    assert parse_address_list(text) == [item]


def test_format_groups() -> None:
    group = Group(display_name="Team", members=(Address(local_part="a", domain="b.test"),))
    assert format_address(group) == "Team: a@b.test;"
    assert format_address(Group(display_name="Undisclosed recipients")) == "Undisclosed recipients:;"
    text = format_address_list([group, Address(local_part="c", domain="d.test")])
    assert text == "Team: a@b.test;, c@d.test"
    assert parse_address_list(text) == [group, Address(local_part="c", domain="d.test")]


# --- the fast path agrees with the full parser ---------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "a@b.test",
        "Joe <a@b.test>",
        '"Joe, Q" <a@b.test>, c@d.test',
        "  Joe   Public  <a@b.test> ,c@d.test  ",
        "=?utf-8?q?J=C3=B6rg?= <a@b.test>",
        "Jörg <a@b.test>",
        '"" <a@b.test>',
        '"=?utf-8?b?YUBiLnRlc3Q=?=" <c@d.test>',
        "=?utf-8?b?YUBiLnRlc3Q=?= <c@d.test>",
    ],
)
def test_fast_path_matches_full_parser(value: str) -> None:
    fast_defects: list[Defect] = []
    slow_defects: list[Defect] = []
    assert _parse(value, fast_defects) == _parse(value, slow_defects, fast=False)
    assert fast_defects == slow_defects


# --- the stdlib as a cross-check -----------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "John Doe <jdoe@machine.example>",
        '"Joe Q. Public" <john.q.public@example.com>',
        "Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>",
        "Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
        "=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?= <keld@dkuug.dk>",
        '"john doe"@example.org',
        "A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
    ],
)
def test_agrees_with_stdlib_headerregistry(value: str) -> None:
    header = email.policy.default.header_factory("To", value)
    assert isinstance(header, email.headerregistry.AddressHeader)
    theirs = [(a.display_name, a.username, a.domain) for a in header.addresses]
    ours = []
    for item in parse_address_list(value):
        for member in item.members if isinstance(item, Group) else (item,):
            ours.append((member.display_name, member.local_part, member.domain))
    assert ours == theirs


def test_where_the_stdlib_differs() -> None:
    """Deliberate divergences from the stdlib, each with its RFC reason.

    - ``"=?utf-8?q?...?=" <a@b>``: email.headerregistry decodes encoded words
      inside the quoted string; RFC 2047 section 5(3) says an encoded word
      must not appear within a quoted-string, so it is the literal name.
    - ``alice@victim)<bob@attacker>``: email.utils.parseaddr (3.11) returns
      only ``alice@victim`` (CVE-2023-27043); RFC 5322 has no reading for
      it, so every candidate is returned with a defect.
    """
    value = '"=?utf-8?q?J=C3=B6rg?=" <a@b.test>'
    header = email.policy.default.header_factory("To", value)
    assert isinstance(header, email.headerregistry.AddressHeader)
    assert header.addresses[0].display_name == "Jörg"
    assert parse_address_list(value)[0] == Address(display_name="=?utf-8?q?J=C3=B6rg?=", local_part="a", domain="b.test")
    assert email.utils.parseaddr("alice@victim.test)<bob@attacker.test>")[1] in ("alice@victim.test", "")
    assert len(parse_address_list("alice@victim.test)<bob@attacker.test>")) == 2


# --- odd shapes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "candidates"),
    [
        ("x > a@b.test <c@d.test", ["a@b.test", "c@d.test"]),
        ("<@route.test user@host.test>", ["user@host.test"]),
        ("G: a@b.test: c@d.test;", ["a@b.test", "c@d.test"]),
        ("G: :;", []),
    ],
)
def test_malformed_angles_routes_and_groups(value: str, candidates: list[str]) -> None:
    result, defects = parse(value)
    found = []
    for item in result:
        for member in item.members if isinstance(item, Group) else (item,):
            found.append(member.addr_spec)
    assert found == candidates
    assert InvalidAddress in kinds(defects)


def test_empty_angle_addr_in_a_list() -> None:
    result, defects = parse("Nobody <>, a@b.test")
    assert result == [Address(display_name="Nobody"), Address(local_part="a", domain="b.test")]
    assert kinds(defects) == {InvalidAddress}


def test_group_without_a_name() -> None:
    result, defects = parse(": a@b.test;")
    assert result == [Group(members=(Address(local_part="a", domain="b.test"),))]
    assert kinds(defects) == {InvalidAddress}


def test_phrase_mixing_quoted_strings_atoms_and_encoded_words() -> None:
    result, defects = parse('"Dr." =?utf-8?q?J=C3=B6rg?= "von" Mustermann <a@b.test>')
    assert result == [Address(display_name="Dr. Jörg von Mustermann", local_part="a", domain="b.test")]
    assert defects == []


def test_str_of_a_group_and_idna_failures() -> None:
    group = Group(display_name="Team", members=(Address(local_part="a", domain="b.test"),))
    assert str(group) == "Team: a@b.test;"
    # A label IDNA cannot encode is left as written.
    bad = Address(local_part="a", domain="\u0080bad.test")
    assert bad.domain_ascii == "\u0080bad.test"
    assert Address(local_part="a", domain="xn--zz.test").domain_unicode == "xn--zz.test"


def test_a4_1_unicode_line_breaks_never_written_raw() -> None:
    name = Address(display_name="Eve\u2028Bcc: x", local_part="eve", domain="evil.test")
    for utf8 in (False, True):
        text = format_address(name, utf8=utf8)
        assert "\u2028" not in text and "=?utf-8?" in text
    with pytest.raises(ValueError):
        format_address(Address(local_part="a\x85b", domain="b.test"), utf8=True)
    with pytest.raises(ValueError):
        format_address(Address(local_part="a", domain="b\u2029.test"), utf8=True)


def test_c1_controls_and_line_separators_are_not_atom_characters() -> None:
    result, defects = parse("a\u2028b@example.org")
    assert all("\u2028" not in a.addr_spec for a in result if isinstance(a, Address))
    assert InvalidAddress in kinds(defects)


def test_candidates_never_hold_control_characters() -> None:
    result, defects = parse("a\x90b@example.org (")
    assert [a.addr_spec for a in result if isinstance(a, Address)] == ["b@example.org"]
    assert InvalidAddress in kinds(defects)
