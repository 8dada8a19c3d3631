"""Where a platform target may send requests: the egress policy against server-side request forgery.

A platform target is written by analysts over the API, yet the *server* connects to it. Without a policy an
analyst could point a target at the cloud metadata service, the server's own API, its Redis or PostgreSQL,
or anything on the internal network, and read the answers back through the target test. The policy:

- a target URL is `http` or `https` with a real host, no user information, no control characters or spaces;
- link-local addresses (169.254.0.0/16, fe80::/10) and the cloud metadata addresses (169.254.169.254,
  fd00:ec2::254, 100.100.100.200) are always refused;
- loopback, private, shared (CGNAT), unspecified, multicast, reserved and other non-public addresses are
  refused unless an administrator allows them with rules `cidr[:port|port-port]` (SECUREAI_TARGET_ALLOW);
- public addresses are allowed.

It is applied to every address a host name resolves to, when the target is saved (`check_destination`) and
again at every connection (`GuardedBackend` in base.py connects to the very address that was checked, so a
name that changes its answer between check and connect, DNS rebinding, gains nothing). IPv4 addresses
embedded in IPv6 ones (IPv4-mapped, NAT64, 6to4) are judged as the IPv4 address they reach.

This module is pure (standard library only): the command line, which scans the operator's own targets, uses
no policy at all.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Final
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOW_SETTING: Final = "SECUREAI_TARGET_ALLOW"
MAX_URL_LENGTH: Final = 2048

#: Addresses of cloud instance metadata services (AWS, Azure, GCP, OpenStack; AWS over IPv6; Alibaba Cloud).
METADATA_ADDRESSES: Final = frozenset(
    ipaddress.ip_address(text) for text in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
_LINK_LOCAL: Final = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))
_SHARED: Final = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT, often a provider's internal network
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")
_HOST_LABEL: Final = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_CONTROL_OR_SPACE: Final = re.compile(r"[\x00-\x20\x7f-\x9f]")


class EgressError(ValueError):
    """A URL is not a usable target address, or the policy refuses where it leads; the message says why."""


class InvalidTargetURLError(EgressError):
    """The URL itself is malformed (scheme, host, port, characters)."""


class EgressRefusedError(EgressError):
    """The policy refuses an address the host resolves to."""

    def __init__(self, host: str, address: str, reason: str) -> None:
        super().__init__(
            f"egress policy refuses {host} ({address}): {reason}; an administrator can allow it with {ALLOW_SETTING}"
        )
        self.host = host
        self.address = address
        self.reason = reason


@dataclass(frozen=True)
class AllowRule:
    """Addresses in `network` on ports `low`..`high` (every port when `ports` is None)."""

    network: IPNetwork
    ports: tuple[int, int] | None = None

    def matches(self, address: IPAddress, port: int) -> bool:
        if address.version != self.network.version or address not in self.network:
            return False
        return self.ports is None or self.ports[0] <= port <= self.ports[1]

    def __str__(self) -> str:
        network = f"[{self.network}]" if self.network.version == 6 and self.ports else str(self.network)
        if self.ports is None:
            return network
        low, high = self.ports
        return f"{network}:{low}" if low == high else f"{network}:{low}-{high}"


def _parse_ports(text: str, item: str) -> tuple[int, int]:
    low_text, dash, high_text = text.partition("-")
    try:
        low = int(low_text)
        high = int(high_text) if dash else low
    except ValueError:
        raise EgressError(f"{ALLOW_SETTING}: {item!r}: ports must be a number or a range like 8000-8999") from None
    if not 1 <= low <= high <= 65535:
        raise EgressError(f"{ALLOW_SETTING}: {item!r}: ports must lie in 1-65535, low to high")
    return low, high


def _parse_rule(item: str) -> AllowRule:
    ports_text: str | None = None
    if item.startswith("["):  # [IPv6/prefix]:ports or [IPv6]/prefix:ports
        close = item.find("]")
        if close < 0:
            raise EgressError(f"{ALLOW_SETTING}: {item!r}: missing ']'")
        network_text, rest = item[1:close], item[close + 1 :]
        if rest.startswith("/"):
            prefix, _, ports_text = rest[1:].partition(":")
            network_text = f"{network_text}/{prefix}"
            ports_text = ports_text or None
        elif rest.startswith(":"):
            ports_text = rest[1:]
        elif rest:
            raise EgressError(f"{ALLOW_SETTING}: {item!r}: unexpected text after ']'")
    elif item.count(":") > 1:  # a bare IPv6 network, no ports
        network_text = item
    else:
        network_text, colon, ports_text_raw = item.partition(":")
        ports_text = ports_text_raw if colon else None
    try:
        network = ipaddress.ip_network(network_text, strict=False)
    except ValueError:
        raise EgressError(
            f"{ALLOW_SETTING}: {item!r} is not an address or network (give CIDRs like 10.0.0.0/8 or "
            "127.0.0.1/32:8000-8999; IPv6 with ports as [::1]/128:8080)"
        ) from None
    return AllowRule(network, _parse_ports(ports_text, item) if ports_text is not None else None)


def parse_allow(spec: str | None) -> tuple[AllowRule, ...]:
    """Rules from `cidr[:port|port-port],...` (commas or spaces between rules); EgressError when malformed."""
    items = [item for item in re.split(r"[,\s]+", spec or "") if item]
    return tuple(_parse_rule(item) for item in items)


def unwrap(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address stands for (IPv4-mapped ::ffff:a.b.c.d, NAT64 64:ff9b::a.b.c.d,
    6to4 2002:aabb:ccdd::), else the address itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if address.sixtofour is not None:
            return address.sixtofour
    return address


def always_refused(address: IPAddress) -> str | None:
    """Why no rule can open `address` (metadata, link-local), or None."""
    address = unwrap(address)
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if any(address in network for network in _LINK_LOCAL if network.version == address.version):
        return "a link-local address"
    return None


def not_public(address: IPAddress) -> str | None:
    """Why `address` needs an allow rule (loopback, private, ...), or None for a public address."""
    address = unwrap(address)
    if address.is_loopback:
        return "a loopback address"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return "a shared (carrier-grade NAT) address"
    if address.is_reserved:
        return "a reserved address"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "a private (site-local) address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "not a public address"
    return None


@dataclass(frozen=True)
class EgressPolicy:
    """The platform's egress policy: public addresses, plus what `allow` opens (never metadata, link-local)."""

    allow: tuple[AllowRule, ...] = ()
    resolve_timeout_s: float = 3.0

    @classmethod
    def from_spec(cls, spec: str | None) -> EgressPolicy:
        return cls(parse_allow(spec))

    def refusal(self, address: IPAddress, port: int) -> str | None:
        """Why a connection to `address`:`port` is refused, or None when it is allowed."""
        reason = always_refused(address)
        if reason:
            return reason
        reason = not_public(address)
        if reason is None:
            return None
        candidates = {address, unwrap(address)}
        if any(rule.matches(candidate, port) for rule in self.allow for candidate in candidates):
            return None
        return f"{reason}, port {port}"

    def check_address(self, host: str, address: IPAddress, port: int) -> None:
        """EgressRefusedError when the policy refuses `address` (which `host` resolved to)."""
        reason = self.refusal(address, port)
        if reason:
            raise EgressRefusedError(host, str(address), reason)

    def check_destination(self, url: str) -> None:
        """Save-time check of a target URL: valid (`check_url`), and every address its host resolves to now
        passes. A name that does not resolve (yet) is accepted: every connection is checked again."""
        parts = check_url(url)
        host, port = url_host(parts), url_port(parts)
        for address in resolve(host, port, self.resolve_timeout_s):
            self.check_address(host, address, port)


def check_url(url: str) -> SplitResult:
    """Static validation of a target URL (no DNS); InvalidTargetURLError with a one-line reason."""
    if not isinstance(url, str) or not url:
        raise InvalidTargetURLError("the target URL is empty")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidTargetURLError(f"the target URL is longer than {MAX_URL_LENGTH} characters")
    if _CONTROL_OR_SPACE.search(url):
        raise InvalidTargetURLError("the target URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidTargetURLError("the target URL is not a valid URL (check the host and port)") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidTargetURLError("the target URL must start with http:// or https://")
    if "@" in parts.netloc:
        raise InvalidTargetURLError(
            "the target URL may not carry user information (user:password@); send credentials as api_key "
            "or secret headers"
        )
    host = parts.hostname or ""
    if not host:
        raise InvalidTargetURLError("the target URL has no host")
    if port == 0:
        raise InvalidTargetURLError("the target URL's port must lie in 1-65535")
    if not _is_ip_literal(host) and not _valid_hostname(host):
        raise InvalidTargetURLError("the target URL's host is not a valid host name or IP address")
    return parts


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _valid_hostname(host: str) -> bool:
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except (UnicodeError, ValueError):
        return False
    labels = ascii_host.rstrip(".").split(".")
    return len(ascii_host) <= 253 and all(_HOST_LABEL.fullmatch(label.lower()) for label in labels)


def url_host(parts: SplitResult) -> str:
    return parts.hostname or ""


def url_port(parts: SplitResult) -> int:
    return parts.port or (443 if parts.scheme.lower() == "https" else 80)


def _getaddrinfo(host: str, port: int) -> list[IPAddress]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


_RESOLVER = ThreadPoolExecutor(max_workers=4, thread_name_prefix="secureai-resolve")


def resolve(host: str, port: int, timeout_s: float) -> list[IPAddress]:
    """The addresses `host` resolves to now ([] when it does not resolve within `timeout_s`)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    future = _RESOLVER.submit(_getaddrinfo, host, port)
    try:
        return future.result(timeout=timeout_s)
    except (OSError, UnicodeError, ValueError, FutureTimeout):
        return []
