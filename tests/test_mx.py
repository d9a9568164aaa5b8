"""rfcmail.mx: RFC 5321 section 5.1 ordering, null MX, implicit MX, policy, caps (SECURITY A7.*)."""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import random
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rfcmail.mx import (
    AsyncResolver,
    AsyncStaticResolver,
    DeliveryPlan,
    HostAddresses,
    MXConfig,
    MXFailure,
    MXLookupError,
    MXRecord,
    Resolver,
    StaticResolver,
    is_null_mx,
    order_mx,
    parse_address_literal,
    public_address_policy,
    resolve_targets,
    resolve_targets_async,
    to_a_label,
)

# The documentation ranges (192.0.2.0/24, 2001:db8::/32) count as private for
# ipaddress, so the default address policy refuses them; the tests use
# addresses from public blocks instead (nothing connects to them).
PUB = ["8.8.8.8", "1.1.1.1", "9.9.9.9", "208.67.222.222", "4.2.2.2", "64.6.64.6"]
PUB6 = "2606:4700:4700::1111"


def rec(preference: int, exchange: str) -> MXRecord:
    return MXRecord(preference=preference, exchange=exchange)


def world() -> StaticResolver:
    return StaticResolver(
        mx={
            "example.test": [rec(20, "mx2.example.test"), rec(10, "mx1.example.test")],
            "nullmx.test": [rec(0, ".")],
            "zero.test": [rec(0, "mx1.example.test")],
            "cnamemx.test": [rec(10, "alias.test")],
            "iplit.test": [rec(5, "8.8.8.8"), rec(10, "mx1.example.test")],
            "private.test": [rec(10, "inside.test")],
            "self.test": [rec(10, "me.test"), rec(10, "peer.test"), rec(5, "better.test"),
                          rec(20, "worse.test")],
            "selfonly.test": [rec(10, "me.test"), rec(20, "worse.test")],
            "down.test": [rec(10, "broken.test"), rec(20, "mx1.example.test")],
            "alldown.test": [rec(10, "broken.test")],
            "noaddr-mx.test": [rec(10, "empty.test")],
            "xn--bcher-kva.test": [rec(10, "mx1.example.test")],
        },
        addresses={
            "mx1.example.test": [PUB[0]],
            "mx2.example.test": [PUB[1], PUB6],
            "implicit.test": [PUB[2]],
            "inside.test": ["10.1.2.3", "127.0.0.1", "169.254.0.1"],
            "me.test": [PUB[3]],
            "peer.test": [PUB[4]],
            "better.test": [PUB[5]],
            "worse.test": [PUB[0]],
            "empty.test": [],
            "noaddr.test": [],
        },
        cnames={"alias.test": "mx1.example.test"},
        failures={"broken.test": MXFailure.SERVFAIL, "servfail.test": MXFailure.SERVFAIL,
                  "timeout.test": MXFailure.TIMEOUT},
    )


# -- MXRecord and the small functions --------------------------------------------


def test_mxrecord_validates() -> None:
    assert rec(0, "MX.Example.Test.").host == "mx.example.test"
    for bad in (-1, 65536):
        with pytest.raises(ValueError):
            rec(bad, "mx")
    with pytest.raises(TypeError):
        MXRecord(preference=True, exchange="mx")
    with pytest.raises(TypeError):
        MXRecord(preference=1, exchange=b"mx")  # type: ignore[arg-type]


def test_null_mx_is_the_root_target_alone() -> None:
    # SECURITY A7.1: "0 ." is null MX; "0 mx.example" is not.
    assert is_null_mx([rec(0, ".")])
    assert is_null_mx([rec(0, "")])
    assert is_null_mx([rec(10, ".")])
    assert not is_null_mx([rec(0, "mx.example")])
    assert not is_null_mx([rec(0, "."), rec(10, "mx.example")])
    assert not is_null_mx([])


@pytest.mark.parametrize(
    ("given_name", "expected"),
    [
        ("Example.TEST", "example.test"),
        ("example.test.", "example.test"),
        ("bücher.test", "xn--bcher-kva.test"),
        ("BÜCHER.test", "xn--bcher-kva.test"),
        ("xn--bcher-kva.test", "xn--bcher-kva.test"),
    ],
)
def test_to_a_label(given_name: str, expected: str) -> None:
    assert to_a_label(given_name) == expected


@pytest.mark.parametrize("bad", ["", ".", "a..b", "-a.test", "a_b.test", "a b.test",
                                 "a" * 64 + ".test", ("a" * 60 + ".") * 5 + "test",
                                 "x\u200b\u0000.test", "a.test..", "[1.2.3.4]"])
def test_to_a_label_refuses(bad: str) -> None:
    with pytest.raises(MXLookupError) as info:
        to_a_label(bad)
    assert info.value.permanent and info.value.failure is MXFailure.INVALID_DOMAIN


def test_to_a_label_length_boundary() -> None:
    # 253 octets is the longest name (RFC 1035 2.3.4 without the root dot): N-1, N, N+1.
    def name(length: int) -> str:
        labels = []
        remaining = length
        while remaining > 0:
            size = min(63, remaining)
            labels.append("a" * size)
            remaining -= size + 1
        text = ".".join(labels)
        return text[:length]
    for length in (252, 253):
        candidate = name(length).rstrip(".")
        assert to_a_label(candidate) == candidate
    with pytest.raises(MXLookupError):
        to_a_label("a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 62)  # 254


def test_parse_address_literal() -> None:
    assert parse_address_literal("[192.0.2.1]") == ipaddress.IPv4Address("192.0.2.1")
    assert parse_address_literal("[IPv6:2001:db8::1]") == ipaddress.IPv6Address("2001:db8::1")
    assert parse_address_literal("[ipv6:::1]") == ipaddress.IPv6Address("::1")
    for bad in ["192.0.2.1", "[192.0.2.256]", "[x-tag:abc]", "[IPv6:1:2:3:4:5:6:7:8:9]", "[]"]:
        with pytest.raises(MXLookupError):
            parse_address_literal(bad)


def test_public_address_policy() -> None:
    refused = ["127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.1.1", "0.0.0.0",
               "::1", "fe80::1", "fc00::1", "::", "224.0.0.1", "::ffff:127.0.0.1",
               "::ffff:10.0.0.1", "240.0.0.1"]
    for text in refused:
        assert not public_address_policy(ipaddress.ip_address(text)), text
    for text in PUB + [PUB6, "::ffff:8.8.8.8"]:
        assert public_address_policy(ipaddress.ip_address(text)), text


def test_config_validates_caps() -> None:
    with pytest.raises(ValueError):
        MXConfig(max_hosts=0)
    with pytest.raises(ValueError):
        MXConfig(max_addresses_per_host=0)
    with pytest.raises(ValueError):
        MXConfig(max_addresses=0)
    with pytest.raises(ValueError):
        MXConfig(allowed_networks=("not a network",))


# -- order_mx ----------------------------------------------------------------------


def test_order_sorts_by_preference() -> None:
    records = [rec(30, "c"), rec(10, "a"), rec(20, "b")]
    assert [r.host for r in order_mx(records, rng=random.Random(1))] == ["a", "b", "c"]


def test_order_is_deterministic_with_a_seeded_source() -> None:
    records = [rec(10, f"h{i}") for i in range(6)]
    first = order_mx(records, rng=random.Random(42))
    second = order_mx(records, rng=random.Random(42))
    assert first == second


def test_every_permutation_of_equal_preferences_appears() -> None:
    records = [rec(10, "a"), rec(10, "b"), rec(10, "c"), rec(5, "best"), rec(20, "last")]
    seen = set()
    for seed in range(300):
        ordered = order_mx(records, rng=random.Random(seed))
        assert ordered[0].host == "best" and ordered[-1].host == "last"
        seen.add(tuple(r.host for r in ordered[1:4]))
    assert seen == set(itertools.permutations(["a", "b", "c"]))


def test_null_mx_raises_permanent_5_1_10() -> None:
    with pytest.raises(MXLookupError) as info:
        order_mx([rec(0, ".")])
    error = info.value
    assert error.permanent and error.failure is MXFailure.NULL_MX
    assert error.status == "5.1.10" and error.reply_hint.startswith("556 5.1.10 ")


def test_root_target_among_others_is_dropped() -> None:
    assert [r.host for r in order_mx([rec(0, "."), rec(10, "mx")])] == ["mx"]


def test_local_host_drops_itself_and_worse() -> None:
    # SECURITY A7.3: own hostname at 10 with others at 10 and 20 -> only better ones.
    records = [rec(10, "me.test"), rec(10, "peer.test"), rec(5, "better.test"), rec(20, "w")]
    ordered = order_mx(records, rng=random.Random(0), local_names=["ME.test."])
    assert [r.host for r in ordered] == ["better.test"]


def test_local_host_best_loops_back() -> None:
    with pytest.raises(MXLookupError) as info:
        order_mx([rec(10, "me.test"), rec(20, "other.test")], local_names=["me.test"])
    assert info.value.permanent and info.value.failure is MXFailure.LOOPS_TO_SELF
    assert info.value.status == "5.4.6"


@settings(max_examples=200)
@given(
    prefs=st.lists(st.tuples(st.integers(0, 65535), st.sampled_from("abcdefgh")), max_size=12),
    seed=st.integers(0, 2**32),
)
def test_order_properties(prefs: list[tuple[int, str]], seed: int) -> None:
    records = [rec(p, f"{name}{i}.test") for i, (p, name) in enumerate(prefs)]
    ordered = order_mx(records, rng=random.Random(seed))
    # A permutation of the input, never a lower preference after a higher one.
    assert sorted(ordered, key=repr) == sorted(records, key=repr)
    assert all(a.preference <= b.preference for a, b in zip(ordered, ordered[1:]))


@settings(max_examples=200)
@given(prefs=st.lists(st.integers(0, 50), min_size=1, max_size=10),
       local=st.integers(0, 9), seed=st.integers(0, 1000))
def test_local_rule_property(prefs: list[int], local: int, seed: int) -> None:
    records = [rec(p, f"h{i}.test") for i, p in enumerate(prefs)]
    me = f"h{local % len(prefs)}.test"
    cutoff = prefs[local % len(prefs)]
    try:
        ordered = order_mx(records, rng=random.Random(seed), local_names=[me])
    except MXLookupError as error:
        assert error.failure is MXFailure.LOOPS_TO_SELF
        assert min(prefs) == cutoff
        return
    assert ordered and all(r.preference < cutoff for r in ordered)
    assert len(ordered) == sum(1 for p in prefs if p < cutoff)


# -- resolve_targets ---------------------------------------------------------------


def plan(domain: str, config: MXConfig | None = None, seed: int = 0,
         resolver: StaticResolver | None = None) -> DeliveryPlan:
    return resolve_targets(domain, resolver or world(), config=config or MXConfig(),
                           rng=random.Random(seed))


def test_ordered_hosts_and_addresses() -> None:
    result = plan("example.test")
    assert [(t.host, t.preference, t.addresses) for t in result.targets] == [
        ("mx1.example.test", 10, (PUB[0],)),
        ("mx2.example.test", 20, (PUB[1], PUB6)),
    ]
    assert result.addresses() == [("mx1.example.test", PUB[0]), ("mx2.example.test", PUB[1]),
                                  ("mx2.example.test", PUB6)]


def test_static_resolver_satisfies_the_protocols() -> None:
    assert isinstance(world(), Resolver)
    assert isinstance(AsyncStaticResolver(world()), AsyncResolver)


def test_zero_preference_is_not_null() -> None:
    assert plan("zero.test").targets[0].host == "mx1.example.test"


def test_null_mx_never_connects() -> None:
    with pytest.raises(MXLookupError) as info:
        plan("nullmx.test")
    assert info.value.permanent and info.value.status == "5.1.10"
    assert info.value.name == "nullmx.test"


def test_implicit_mx_only_on_nodata() -> None:
    # SECURITY A7.2: NODATA -> A/AAAA; NXDOMAIN -> 5xx; SERVFAIL/timeout -> 4xx, no fallback.
    result = plan("implicit.test")
    assert result.targets[0].implicit and result.targets[0].addresses == (PUB[2],)
    with pytest.raises(MXLookupError) as info:
        plan("nosuch.test")
    assert info.value.permanent and info.value.failure is MXFailure.NXDOMAIN
    assert info.value.reply_hint.startswith("550 5.1.2")
    for name, failure in (("servfail.test", MXFailure.SERVFAIL), ("timeout.test", MXFailure.TIMEOUT)):
        with pytest.raises(MXLookupError) as info:
            plan(name)
        assert not info.value.permanent and info.value.failure is failure
        assert info.value.reply_hint.startswith("451 4.4.3")


def test_no_mx_and_no_address_is_permanent() -> None:
    with pytest.raises(MXLookupError) as info:
        plan("noaddr.test")
    assert info.value.permanent and info.value.failure is MXFailure.NO_ADDRESS


def test_mx_pointing_at_cname_is_followed_and_noted() -> None:
    result = plan("cnamemx.test")
    target = result.targets[0]
    assert target.host == "alias.test" and target.canonical_name == "mx1.example.test"
    assert target.addresses == (PUB[0],)
    assert any("CNAME" in note for note in result.notes)


def test_ip_literal_mx_target_is_skipped() -> None:
    result = plan("iplit.test")
    assert [t.host for t in result.targets] == ["mx1.example.test"]
    assert any("not an address" in note for note in result.notes)


def test_private_targets_refused_unless_allowed() -> None:
    # SECURITY A7.4
    with pytest.raises(MXLookupError) as info:
        plan("private.test")
    assert info.value.permanent and info.value.failure is MXFailure.NO_USABLE_HOST
    allowed = plan("private.test", MXConfig(allowed_networks=("10.0.0.0/8",)))
    assert allowed.targets[0].addresses == ("10.1.2.3",)
    everything = plan("private.test", MXConfig(address_policy=lambda address: True))
    assert everything.targets[0].addresses == ("10.1.2.3", "127.0.0.1", "169.254.0.1")


def test_local_host_in_mx_list() -> None:
    result = plan("self.test", MXConfig(local_names=frozenset({"me.test"})))
    assert [t.host for t in result.targets] == ["better.test"]
    with pytest.raises(MXLookupError) as info:
        plan("selfonly.test", MXConfig(local_names=frozenset({"me.test"})))
    assert info.value.failure is MXFailure.LOOPS_TO_SELF and info.value.permanent
    assert "loops back to myself" in info.value.message


def test_local_host_by_address() -> None:
    config = MXConfig(local_addresses=frozenset({PUB[3]}))
    result = plan("self.test", config)
    assert [t.host for t in result.targets] == ["better.test"]
    with pytest.raises(MXLookupError) as info:
        plan("selfonly.test", config)
    assert info.value.failure is MXFailure.LOOPS_TO_SELF


def test_temporary_error_on_one_host_skips_it() -> None:
    result = plan("down.test")
    assert [t.host for t in result.targets] == ["mx1.example.test"]
    assert any("broken.test" in note for note in result.notes)
    with pytest.raises(MXLookupError) as info:
        plan("alldown.test")
    assert not info.value.permanent


def test_mx_host_without_addresses_is_unusable() -> None:
    with pytest.raises(MXLookupError) as info:
        plan("noaddr-mx.test")
    assert info.value.permanent and info.value.failure is MXFailure.NO_USABLE_HOST


def test_idn_domain_is_looked_up_as_a_label() -> None:
    assert plan("bücher.test").domain == "xn--bcher-kva.test"


def test_address_literals() -> None:
    result = plan("[8.8.8.8]")
    assert result.targets[0].addresses == ("8.8.8.8",)
    assert plan(f"[IPv6:{PUB6}]").targets[0].addresses == (PUB6,)
    with pytest.raises(MXLookupError) as info:
        plan("[127.0.0.1]")
    assert info.value.permanent
    assert plan("[127.0.0.1]", MXConfig(allowed_networks=("127.0.0.0/8",))).targets
    with pytest.raises(MXLookupError):
        plan("[8.8.8.8]", MXConfig(allow_address_literals=False))
    with pytest.raises(MXLookupError) as info:
        plan("[8.8.8.8]", MXConfig(local_addresses=frozenset({"8.8.8.8"})))
    assert info.value.failure is MXFailure.LOOPS_TO_SELF


def _many(hosts: int, per_host: int) -> StaticResolver:
    addresses = {f"h{i}.test": [f"8.8.{i}.{j}" for j in range(per_host)] for i in range(hosts)}
    return StaticResolver(mx={"many.test": [rec(i, f"h{i}.test") for i in range(hosts)]},
                          addresses=addresses)


@pytest.mark.parametrize("limit", [2, 3, 4])
def test_max_hosts_boundary(limit: int) -> None:
    # Three hosts against limits N-1, N, N+1.
    result = plan("many.test", MXConfig(max_hosts=limit, max_addresses=100), resolver=_many(3, 1))
    assert len(result.targets) == min(limit, 3)
    assert any("max_hosts" in n for n in result.notes) == (limit < 3)


@pytest.mark.parametrize("limit", [2, 3, 4])
def test_max_addresses_per_host_boundary(limit: int) -> None:
    result = plan("many.test", MXConfig(max_addresses_per_host=limit), resolver=_many(1, 3))
    assert len(result.targets[0].addresses) == min(limit, 3)


@pytest.mark.parametrize("limit", [5, 6, 7])
def test_max_addresses_boundary(limit: int) -> None:
    # Three hosts of two addresses: six in all, against N-1, N, N+1.
    result = plan("many.test", MXConfig(max_addresses=limit), resolver=_many(3, 2))
    assert len(result.addresses()) == min(limit, 6)


def test_async_follows_the_same_rules() -> None:
    resolver = AsyncStaticResolver(world())

    async def run(domain: str) -> DeliveryPlan:
        return await resolve_targets_async(domain, resolver, rng=random.Random(0))

    assert asyncio.run(run("example.test")) == plan("example.test")
    assert asyncio.run(run("implicit.test")) == plan("implicit.test")
    for name in ("nullmx.test", "nosuch.test", "servfail.test"):
        with pytest.raises(MXLookupError) as sync_info:
            plan(name)
        with pytest.raises(MXLookupError) as async_info:
            asyncio.run(run(name))
        assert (sync_info.value.failure, sync_info.value.permanent) == (
            async_info.value.failure, async_info.value.permanent)


def test_static_resolver_cname_loop_is_temporary() -> None:
    loop = StaticResolver(cnames={"a.test": "b.test", "b.test": "a.test"})
    with pytest.raises(MXLookupError) as info:
        loop.resolve_mx("a.test")
    assert not info.value.permanent


class _Garbage:
    """A resolver that returns odd but well-typed data."""

    def __init__(self, records: Sequence[MXRecord], addresses: Sequence[str]) -> None:
        self.records = records
        self.addresses = addresses

    def resolve_mx(self, domain: str) -> Sequence[MXRecord]:
        return self.records

    def resolve_addresses(self, host: str) -> HostAddresses:
        return HostAddresses(name=host, addresses=tuple(self.addresses))


@settings(max_examples=150)
@given(
    records=st.lists(st.builds(MXRecord, preference=st.integers(0, 65535),
                               exchange=st.text(max_size=30)), max_size=8),
    addresses=st.lists(st.one_of(st.text(max_size=20), st.ip_addresses().map(str)), max_size=6),
    domain=st.text(max_size=40),
)
def test_arbitrary_answers_raise_only_mx_lookup_error(
    records: list[MXRecord], addresses: list[str], domain: str
) -> None:
    try:
        result = resolve_targets(domain, _Garbage(records, addresses), rng=random.Random(0))
    except MXLookupError:
        return
    assert result.targets
    for target in result.targets:
        assert target.addresses
        for address in target.addresses:
            assert public_address_policy(ipaddress.ip_address(address))


class _AddressesFail:
    """No MX records, and the address lookup fails."""

    def __init__(self, failure: MXFailure) -> None:
        self.failure = failure

    def resolve_mx(self, domain: str) -> Sequence[MXRecord]:
        return []

    def resolve_addresses(self, host: str) -> HostAddresses:
        raise MXLookupError("lookup failed", failure=self.failure, name="")


def test_implicit_mx_address_failures() -> None:
    with pytest.raises(MXLookupError) as info:
        resolve_targets("flaky.test", _AddressesFail(MXFailure.TIMEOUT))
    assert not info.value.permanent and info.value.name == "flaky.test"
    assert info.value.message.startswith("flaky.test: ")
    with pytest.raises(MXLookupError) as info:
        resolve_targets("gone.test", _AddressesFail(MXFailure.NXDOMAIN))
    assert info.value.permanent


def test_implicit_mx_with_only_private_addresses() -> None:
    resolver = StaticResolver(addresses={"inside.test": ["10.0.0.1", "not-an-address"]})
    with pytest.raises(MXLookupError) as info:
        resolve_targets("inside.test", resolver)
    assert info.value.failure is MXFailure.NO_USABLE_HOST
    assert "10.0.0.1" in info.value.message and "malformed" in info.value.message


@settings(max_examples=150)
@given(
    records=st.lists(st.tuples(st.integers(0, 100), st.integers(0, 7)), min_size=1, max_size=8),
    max_hosts=st.integers(1, 6),
    per_host=st.integers(1, 3),
    total=st.integers(1, 12),
    seed=st.integers(0, 10_000),
)
def test_plan_properties(records: list[tuple[int, int]], max_hosts: int, per_host: int,
                         total: int, seed: int) -> None:
    # Hosts h0..h7, host i has i % 4 public addresses (h0 and h4 have none).
    addresses = {f"h{i}.test": [f"8.8.{i}.{j}" for j in range(i % 4)] for i in range(8)}
    resolver = StaticResolver(
        mx={"prop.test": [rec(preference, f"h{host}.test") for preference, host in records]},
        addresses=addresses,
    )
    config = MXConfig(max_hosts=max_hosts, max_addresses_per_host=per_host, max_addresses=total)
    try:
        result = resolve_targets("prop.test", resolver, config=config, rng=random.Random(seed))
    except MXLookupError as error:
        assert error.permanent and error.failure is MXFailure.NO_USABLE_HOST
        return
    preferences = [t.preference for t in result.targets]
    assert preferences == sorted(preferences)  # lower preference always first
    assert len(result.targets) <= max_hosts
    assert all(1 <= len(t.addresses) <= per_host for t in result.targets)
    assert len(result.addresses()) <= total
    best = min(p for p, host in records if host % 4)
    assert result.targets[0].preference == best  # the best usable host leads


@given(text=st.text(max_size=60))
def test_address_literal_arbitrary_text(text: str) -> None:
    try:
        parse_address_literal(text)
    except MXLookupError as error:
        assert error.permanent and error.failure is MXFailure.INVALID_DOMAIN


@given(address=st.ip_addresses())
def test_address_literal_round_trip(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    literal = f"[IPv6:{address}]" if address.version == 6 else f"[{address}]"
    assert parse_address_literal(literal) == address


@given(text=st.text(max_size=80))
def test_to_a_label_arbitrary_text(text: str) -> None:
    try:
        label = to_a_label(text)
    except MXLookupError as error:
        assert error.permanent and error.failure is MXFailure.INVALID_DOMAIN
        return
    assert label.isascii() and label == label.lower() and to_a_label(label) == label
