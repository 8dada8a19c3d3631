"""The egress policy's pure parts: the allow spec, the address classifier and the static URL check."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.engine.targets.config import TargetConfig
from app.engine.targets.egress import (
    EgressError,
    EgressPolicy,
    EgressRefusedError,
    InvalidTargetURLError,
    check_url,
    parse_allow,
    unwrap,
)

NONE = EgressPolicy()


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("64:ff9b::a9fe:a9fe", "cloud metadata"),  # NAT64 of 169.254.169.254
        ("2002:a9fe:a9fe::1", "cloud metadata"),  # 6to4 of 169.254.169.254
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("fec0::1", "site-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.1.2.3", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "private"),  # documentation range
    ],
)
def test_non_public_addresses_are_refused_with_a_reason(address: str, reason: str) -> None:
    refusal = NONE.refusal(ipaddress.ip_address(address), 80)
    assert refusal is not None and reason in refusal


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert NONE.refusal(ipaddress.ip_address(address), 443) is None


def test_allow_rules_open_loopback_and_private_ranges_on_their_ports_only() -> None:
    policy = EgressPolicy.from_spec("127.0.0.1/32:8900-8999, 10.0.0.0/8 [::1]/128:8080")
    loopback = ipaddress.ip_address("127.0.0.1")
    assert policy.refusal(loopback, 8900) is None
    assert policy.refusal(loopback, 8999) is None
    assert policy.refusal(loopback, 6379) is not None  # Redis stays shut
    assert policy.refusal(loopback, 5432) is not None  # and PostgreSQL
    assert policy.refusal(ipaddress.ip_address("127.0.0.2"), 8900) is not None
    assert policy.refusal(ipaddress.ip_address("::ffff:127.0.0.1"), 8900) is None  # the same address
    assert policy.refusal(ipaddress.ip_address("10.200.0.1"), 1) is None
    assert policy.refusal(ipaddress.ip_address("::1"), 8080) is None
    assert policy.refusal(ipaddress.ip_address("::1"), 8081) is not None
    assert policy.refusal(ipaddress.ip_address("192.168.0.1"), 80) is not None


@pytest.mark.parametrize("spec", ["0.0.0.0/0", "169.254.0.0/16", "::/0", "169.254.169.254/32:80"])
def test_no_rule_opens_metadata_or_link_local(spec: str) -> None:
    policy = EgressPolicy.from_spec(spec)
    for address in ("169.254.169.254", "169.254.0.5", "fe80::1", "fd00:ec2::254", "100.100.100.200"):
        parsed = ipaddress.ip_address(address)
        if parsed.version == policy.allow[0].network.version:
            assert policy.refusal(parsed, 80) is not None, (spec, address)


def test_refusal_message_names_host_address_reason_and_the_setting() -> None:
    with pytest.raises(EgressRefusedError) as caught:
        NONE.check_address("metadata.internal", ipaddress.ip_address("169.254.169.254"), 80)
    assert str(caught.value) == (
        "egress policy refuses metadata.internal (169.254.169.254): a cloud metadata address; "
        "an administrator can allow it with SECUREAI_TARGET_ALLOW"
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("localhost", "not an address or network"),
        ("10.0.0.0/33", "not an address or network"),
        ("127.0.0.1:0", "1-65535"),
        ("127.0.0.1:90-80", "1-65535"),
        ("127.0.0.1:http", "ports must be a number"),
        ("[::1/128:80", "missing ']'"),
    ],
)
def test_malformed_allow_specs_are_errors(spec: str, message: str) -> None:
    with pytest.raises(EgressError, match="SECUREAI_TARGET_ALLOW") as caught:
        parse_allow(spec)
    assert message in str(caught.value)


def test_allow_spec_forms() -> None:
    rules = parse_allow(" 127.0.0.1:8080,10.0.0.0/8 fd00::/8 [::1]:9000 [fd00::]/8:1-2 ")
    assert [str(rule) for rule in rules] == [
        "127.0.0.1/32:8080",
        "10.0.0.0/8",
        "fd00::/8",
        "[::1/128]:9000",
        "[fd00::/8]:1-2",
    ]
    assert parse_allow("") == () and parse_allow(None) == ()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///etc/passwd", "http:// or https://"),
        ("gopher://127.0.0.1:6379/_INFO", "http:// or https://"),
        ("not a url", "spaces or control characters"),
        ("notaurl", "http:// or https://"),
        ("http://127.0.0.1\x00/v1", "control characters"),
        ("http://exa mple.com/", "spaces"),
        ("http://host\r\nX-Injected: 1/", "control characters"),
        ("http://user:pw@example.com/", "user information"),
        ("http:///v1", "no host"),
        ("http://example.com:99999/", "not a valid URL"),
        ("http://example.com:0/", "1-65535"),
        ("http://-bad-.example/", "not a valid host"),
        ("http://a..b/", "not a valid host"),
        ("http://" + "a" * 3000, "longer than"),
    ],
)
def test_static_url_check(url: str, message: str) -> None:
    with pytest.raises(InvalidTargetURLError) as caught:
        check_url(url)
    assert message in str(caught.value)
    assert "\x00" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    ["https://api.openai.com/v1", "http://127.0.0.1:8900/v1", "http://[::1]:8080/v1", "http://llm_gw.internal/"],
)
def test_good_urls_pass(url: str) -> None:
    check_url(url)


def test_target_config_refuses_bad_urls_for_every_caller() -> None:
    with pytest.raises(ValueError, match="control characters"):
        TargetConfig(type="openai", model="m", base_url="http://127.0.0.1:1/\x00")


def test_check_destination_resolves_names(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(EgressRefusedError, match=r"localhost \((127\.0\.0\.1|::1)\)"):
        NONE.check_destination("http://localhost:8080/v1")
    # a literal address is not resolved, just judged
    with pytest.raises(EgressRefusedError, match=r"169\.254\.169\.254"):
        NONE.check_destination("http://169.254.169.254/latest/meta-data/")
    # a name that does not resolve is accepted at save time: every connection is checked again
    NONE.check_destination("http://does-not-exist.invalid/v1")


ipv4 = st.integers(min_value=0, max_value=2**32 - 1).map(ipaddress.IPv4Address)


@given(ipv4)
def test_an_ipv4_address_is_judged_the_same_in_every_ipv6_wrapping(address: ipaddress.IPv4Address) -> None:
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")
    nat64 = ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | int(address))
    assert unwrap(mapped) == address == unwrap(nat64)
    plain = NONE.refusal(address, 80)
    assert (NONE.refusal(mapped, 80) is None) == (plain is None)
    assert (NONE.refusal(nat64, 80) is None) == (plain is None)


@given(ipv4, st.integers(min_value=1, max_value=65535))
def test_allowing_everything_still_refuses_link_local(address: ipaddress.IPv4Address, port: int) -> None:
    everything = EgressPolicy.from_spec("0.0.0.0/0")
    refused = everything.refusal(address, port) is not None
    assert refused == (address in ipaddress.ip_network("169.254.0.0/16") or str(address) == "100.100.100.200")
