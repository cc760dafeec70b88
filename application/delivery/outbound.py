"""Where outbound calls (`http_request`, `llm`) may go: public addresses only, unless the
operator allows more (OUTBOUND_ALLOW).

The worker sits next to Postgres, the Temporal frontend and, in a cloud, the instance metadata
service; a definition that could make it call any URL would reach all of them (server-side
request forgery). So every request the worker makes for a step goes through
`GuardedTransport`, which:

1. resolves the host once (or takes the IP literal) and refuses the call unless every address
   it resolves to is public, or inside a network or named host the operator allowed: loopback,
   private (RFC 1918, unique local), shared (100.64/10), link-local, multicast, unspecified,
   reserved and documentation ranges are refused, and the cloud metadata addresses
   (169.254.169.254, fd00:ec2::254, 100.100.100.200) always name themselves; an IPv4 address
   written as IPv6 (`::ffff:127.0.0.1`, NAT64 `64:ff9b::/96`) is judged as the IPv4 it is;
2. connects to the very address it checked, keeping the `Host` header and the TLS server name
   (SNI, certificate check) of the name: a DNS answer that changes between the check and the
   connection (rebinding) cannot move the call elsewhere.

Redirects are followed by `delivery.http.call` one hop at a time (bounded), each hop a new
request through this transport, so each is checked the same way. A refusal raises
`OutboundRefusedError` (not an httpx error: it is no transport failure, and retrying cannot
help).
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, …
        ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    }
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class OutboundRefusedError(Exception):
    """The call's destination is not allowed; `reason` says which address and why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def address_problem(address: IPAddress) -> str | None:
    """Why a call may not go to `address` by default, or None for a public address."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or (
            ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in _NAT64 else None
        )
        if embedded is not None:
            return address_problem(embedded)
    checks = (
        ("is_unspecified", "an unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_private", "a private address"),
        ("is_reserved", "a reserved address"),
    )
    for attribute, reason in checks:
        if getattr(address, attribute):
            return reason
    if not address.is_global:
        return "not a public address"
    return None


@dataclass(frozen=True)
class OutboundPolicy:
    """Public addresses, plus `networks` and `hosts` (lower-case names; `.example.internal`
    allows every name under it) the operator allowed."""

    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def parse(cls, text: str | Iterable[str]) -> OutboundPolicy:
        """OUTBOUND_ALLOW: comma-separated CIDRs (`10.0.0.0/8`), addresses (`::1`) and host
        names (`llm.internal`, `.corp.example`); ValueError names a bad entry."""
        entries = text.split(",") if isinstance(text, str) else list(text)
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for raw in entries:
            entry = raw.strip().lower()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            name = entry.rstrip(".")
            labels = name.lstrip(".").split(".")
            if not name or not all(_label_ok(label) for label in labels):
                raise ValueError(
                    f"OUTBOUND_ALLOW entry {raw.strip()!r} is neither a CIDR, an address nor "
                    "a host name"
                )
            hosts.add(name)
        return cls(tuple(networks), frozenset(hosts))

    def allows_host(self, host: str) -> bool:
        name = host.lower().rstrip(".")
        return name in self.hosts or any(
            allowed.startswith(".") and (name.endswith(allowed) or name == allowed[1:])
            for allowed in self.hosts
        )

    def refusal(self, address: IPAddress) -> str | None:
        if any(address in network for network in self.networks):
            return None
        return address_problem(address)

    def destination(self, host: str, port: int) -> str:
        """The address to connect to for `host`: the first it resolves to, once every one of
        them is allowed; OutboundRefusedError otherwise (httpx.ConnectError when the name
        does not resolve)."""
        literal = _ip(host)
        if literal is not None:
            problem = self.refusal(literal)
            if problem is not None:
                raise OutboundRefusedError(
                    f"{host} is {problem}; outbound calls may reach only public addresses "
                    "unless the operator allows it (OUTBOUND_ALLOW)"
                )
            return str(literal)
        try:
            answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as error:
            raise httpx.ConnectError(f"cannot resolve {host}: {error}") from None
        addresses: list[IPAddress] = []
        for *_, sockaddr in answers:
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise httpx.ConnectError(f"cannot resolve {host}: no address")
        if not self.allows_host(host):
            for address in addresses:
                problem = self.refusal(address)
                if problem is not None:
                    raise OutboundRefusedError(
                        f"{host} resolves to {address}, {problem}; outbound calls may reach "
                        "only public addresses unless the operator allows it (OUTBOUND_ALLOW)"
                    )
        return str(addresses[0])

    def client(self, *, verify: ssl.SSLContext | bool = True, **options: Any) -> httpx.Client:
        """An httpx client whose every request goes through this policy (redirects are not
        followed by httpx: `delivery.http.call` follows them, each hop checked here).
        `verify`: how TLS certificates are checked (the system's CAs by default)."""
        return httpx.Client(
            # No connection is kept for a later request: pooled connections are keyed by the
            # address connected to, so a redirect to another name on the same address would
            # reuse a TLS session whose certificate was checked for the first name.
            transport=GuardedTransport(
                self, verify=verify, limits=httpx.Limits(max_keepalive_connections=0)
            ),
            follow_redirects=False,
            trust_env=False,
            **options,
        )


# Loopback only: what tests and a development machine's local servers need.
ALLOW_LOOPBACK = OutboundPolicy.parse("127.0.0.0/8,::1/128")


class GuardedTransport(httpx.HTTPTransport):
    """Checks each request's destination and connects to the checked address, with the name's
    Host header and TLS server name."""

    def __init__(self, policy: OutboundPolicy, **options: Any) -> None:
        super().__init__(**options)
        self._policy = policy

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        host = url.host
        port = url.port or (443 if url.scheme == "https" else 80)
        address = self._policy.destination(host, port)
        if address != host:
            # Host was set from the name when the request was built; keep it, and have TLS
            # ask for (and check the certificate of) the name, not the address.
            request.extensions = {**request.extensions, "sni_hostname": host}
            request.url = url.copy_with(host=address)
        return super().handle_request(request)


def _ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def _label_ok(label: str) -> bool:
    return (
        0 < len(label) <= 63
        and label[0] != "-"
        and label[-1] != "-"
        and all(c.isalnum() or c in "-_" for c in label)
        and label.isascii()
    )
