"""rfcmail.dns and rfcmail.mx against a real DNS server (dnsmasq on loopback), and `rfcmail mx`."""

from __future__ import annotations

import asyncio
import itertools
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

from rfcmail.dns import AsyncDNSResolver, DNSResolver
from rfcmail.mx import (
    DeliveryPlan,
    MXConfig,
    MXFailure,
    MXLookupError,
    MXRecord,
    resolve_targets,
    resolve_targets_async,
)

from .dnsmasq import Dnsmasq, start_dnsmasq
from .framework import ProcessManager, make_interop_dir

LOOPBACK = MXConfig(allowed_networks=("127.0.0.0/8", "::1/128"))


@pytest.fixture(scope="module")
def dnsmasq() -> Iterator[Dnsmasq]:
    directory = make_interop_dir("rfcmail-dnsmasq-")
    manager = ProcessManager(directory)
    try:
        yield start_dnsmasq(manager)
    finally:
        manager.stop_all()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def resolver(dnsmasq: Dnsmasq) -> DNSResolver:
    return DNSResolver([dnsmasq.host], port=dnsmasq.port, timeout=2.0, lifetime=4.0)


def plan(resolver: DNSResolver, domain: str, config: MXConfig = LOOPBACK,
         seed: int = 0) -> DeliveryPlan:
    return resolve_targets(domain, resolver, config=config, rng=random.Random(seed))


def test_mx_records(resolver: DNSResolver) -> None:
    records = sorted(resolver.resolve_mx("example.test"), key=lambda r: r.preference)
    assert records == [MXRecord(preference=10, exchange="mx1.example.test"),
                       MXRecord(preference=20, exchange="mx2.example.test")]
    both = resolver.resolve_addresses("mx2.example.test")
    assert both.addresses == ("127.0.0.2", "::1") and both.canonical_name is None


def test_ordered_targets(resolver: DNSResolver) -> None:
    result = plan(resolver, "example.test")
    assert [(t.host, t.preference, t.addresses) for t in result.targets] == [
        ("mx1.example.test", 10, ("127.0.0.1",)),
        ("mx2.example.test", 20, ("127.0.0.2", "::1")),
    ]


def test_equal_preferences_are_randomised(resolver: DNSResolver) -> None:
    seen = {tuple(t.host for t in plan(resolver, "equal.test", seed=seed).targets)
            for seed in range(60)}
    assert seen == set(itertools.permutations(["a.equal.test", "b.equal.test", "c.equal.test"]))


def test_null_mx(resolver: DNSResolver) -> None:
    records = resolver.resolve_mx("nullmx.test")
    assert [(r.preference, r.host) for r in records] == [(0, "")]
    with pytest.raises(MXLookupError) as info:
        plan(resolver, "nullmx.test")
    assert info.value.permanent and info.value.failure is MXFailure.NULL_MX
    assert info.value.reply_hint.startswith("556 5.1.10")
    # Preference 0 with a real host is an ordinary MX.
    assert plan(resolver, "zeromx.test").targets[0].host == "mx1.example.test"


def test_implicit_mx(resolver: DNSResolver) -> None:
    assert resolver.resolve_mx("implicit.test") == []
    target = plan(resolver, "implicit.test").targets[0]
    assert target.implicit and target.addresses == ("127.0.0.3",)


def test_nxdomain_is_permanent_and_no_fallback(resolver: DNSResolver) -> None:
    with pytest.raises(MXLookupError) as info:
        resolver.resolve_mx("nosuchdomain.test")
    assert info.value.failure is MXFailure.NXDOMAIN and info.value.permanent
    with pytest.raises(MXLookupError) as info:
        plan(resolver, "nosuchdomain.test")
    assert info.value.permanent and info.value.reply_hint.startswith("550 5.1.2")


def test_no_mx_and_no_address(resolver: DNSResolver) -> None:
    with pytest.raises(MXLookupError) as info:
        plan(resolver, "noaddr.test")
    assert info.value.failure is MXFailure.NO_ADDRESS and info.value.permanent


def test_refused_is_temporary(resolver: DNSResolver) -> None:
    # dnsmasq answers REFUSED outside its .test zone: dnspython's NoNameservers.
    with pytest.raises(MXLookupError) as info:
        plan(resolver, "example.org")
    assert not info.value.permanent and info.value.failure is MXFailure.SERVFAIL


def test_mx_naming_a_cname(resolver: DNSResolver) -> None:
    result = plan(resolver, "cnamemx.test")
    target = result.targets[0]
    assert target.host == "alias.test" and target.canonical_name == "mx1.example.test"
    assert target.addresses == ("127.0.0.1",)
    assert any("CNAME" in note for note in result.notes)


def test_default_policy_refuses_loopback_and_private(resolver: DNSResolver) -> None:
    for domain in ("example.test", "private.test"):
        with pytest.raises(MXLookupError) as info:
            plan(resolver, domain, config=MXConfig())
        assert info.value.permanent and info.value.failure is MXFailure.NO_USABLE_HOST


def test_local_host_rule(resolver: DNSResolver) -> None:
    by_name = MXConfig(allowed_networks=("127.0.0.0/8",), local_names=frozenset({"me.self.test"}))
    assert [t.host for t in plan(resolver, "self.test", by_name).targets] == ["best.self.test"]
    by_address = MXConfig(allowed_networks=("127.0.0.0/8",),
                          local_addresses=frozenset({"127.0.0.6"}))
    with pytest.raises(MXLookupError) as info:
        plan(resolver, "self.test", by_address)
    assert info.value.failure is MXFailure.LOOPS_TO_SELF


def test_mx_naming_a_missing_host(resolver: DNSResolver) -> None:
    with pytest.raises(MXLookupError) as info:
        resolver.resolve_addresses("nohost.dangling.test")
    assert info.value.failure is MXFailure.NXDOMAIN
    with pytest.raises(MXLookupError) as info:
        plan(resolver, "dangling.test")
    assert info.value.permanent and info.value.failure is MXFailure.NO_USABLE_HOST


def test_idn_domain(resolver: DNSResolver) -> None:
    result = plan(resolver, "bücher.test")
    assert result.domain == "xn--bcher-kva.test"
    assert result.targets[0].host == "mx1.example.test"


def test_async_resolver_agrees(dnsmasq: Dnsmasq, resolver: DNSResolver) -> None:
    async_resolver = AsyncDNSResolver([dnsmasq.host], port=dnsmasq.port, timeout=2.0,
                                      lifetime=4.0)

    async def run(domain: str) -> DeliveryPlan:
        return await resolve_targets_async(domain, async_resolver, config=LOOPBACK,
                                           rng=random.Random(0))

    for domain in ("example.test", "implicit.test", "cnamemx.test", "bücher.test"):
        assert asyncio.run(run(domain)) == plan(resolver, domain)
    for domain, failure in (("nullmx.test", MXFailure.NULL_MX),
                            ("dangling.test", MXFailure.NO_USABLE_HOST),
                            ("nosuchdomain.test", MXFailure.NXDOMAIN),
                            ("example.org", MXFailure.SERVFAIL)):
        with pytest.raises(MXLookupError) as info:
            asyncio.run(run(domain))
        assert info.value.failure is failure


def _cli(dnsmasq: Dnsmasq, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rfcmail", "mx", *args, "--nameserver", dnsmasq.nameserver,
         "--timeout", "2"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )


def test_cli_prints_targets_in_order(dnsmasq: Dnsmasq) -> None:
    result = _cli(dnsmasq, "example.test", "--allow-network", "127.0.0.0/8",
                  "--allow-network", "::1/128")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "10 mx1.example.test 127.0.0.1",
        "20 mx2.example.test 127.0.0.2 ::1",
    ]


def test_cli_implicit_and_alias(dnsmasq: Dnsmasq) -> None:
    result = _cli(dnsmasq, "implicit.test", "--allow-private")
    assert result.stdout.splitlines() == ["0 implicit.test 127.0.0.3 (implicit MX)"]
    result = _cli(dnsmasq, "cnamemx.test", "--allow-private")
    lines = result.stdout.splitlines()
    assert lines[0] == "10 alias.test 127.0.0.1 (alias of mx1.example.test)"
    assert lines[1].startswith("# MX alias.test is an alias (CNAME)")


def test_cli_failures(dnsmasq: Dnsmasq) -> None:
    null = _cli(dnsmasq, "nullmx.test")
    assert null.returncode == 1 and "556 5.1.10" in null.stderr and null.stdout == ""
    missing = _cli(dnsmasq, "nosuchdomain.test")
    assert missing.returncode == 1 and "550 5.1.2" in missing.stderr
    refused = _cli(dnsmasq, "example.org")
    assert refused.returncode == 75 and "temporary" in refused.stderr
    private = _cli(dnsmasq, "example.test")
    assert private.returncode == 1 and "5.4.4" in private.stderr
    bad = _cli(dnsmasq, "example.test", "--allow-network", "nonsense")
    assert bad.returncode == 2
