"""Where a receiver's URL may point: public addresses only, resolved once, then connected to as resolved.

A user-given URL is an open door into the platform's own network (the cloud's metadata service, the
database, a local admin port). The host is resolved once; every address it gives must be public, or the
delivery is refused before any connection; the connection then goes to that checked address (so a DNS
answer that changes between the check and the connect cannot redirect it), and redirects are never
followed. ``SUBSCRIPTION_ALLOWED_NETWORKS`` lets development and tests reach named private networks.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[..., Sequence[tuple[Any, ...]]]
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class UnsafeDestination(ValueError):
    """The URL is refused; the message says why (it names the address, never the path or query)."""


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str  # as written in the URL: the Host header and the TLS server name
    port: int
    address: str  # the checked address to connect to
    target: str  # path and query


def refused_reason(address: IPAddress) -> str | None:
    """Why ``address`` may not be connected to, or None. Mapped and translated IPv6 forms are judged as
    the IPv4 address they carry."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
        if embedded is not None:
            return refused_reason(embedded)
        if address in ipaddress.ip_network("64:ff9b::/96"):  # NAT64 to an IPv4 address
            return refused_reason(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return gettext("a carrier-grade NAT address")
    for label, flag in (
        (gettext("a loopback address"), address.is_loopback),
        (gettext("a link-local address"), address.is_link_local),
        (gettext("a multicast address"), address.is_multicast),
        (gettext("an unspecified address"), address.is_unspecified),
        (gettext("a private address"), address.is_private),
        (gettext("a reserved address"), address.is_reserved),
    ):
        if flag:
            return label
    if not address.is_global:
        return gettext("not a public address")
    return None


def _allowed(address: IPAddress) -> bool:
    networks = [ipaddress.ip_network(n, strict=False) for n in settings.SUBSCRIPTION_ALLOWED_NETWORKS]
    return any(address.version == network.version and address in network for network in networks)


def check_url(url: str) -> tuple[str, str, int, str]:
    """The scheme, host, port and target of an acceptable URL; raises ``UnsafeDestination``."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or (scheme == "http" and settings.SUBSCRIPTION_REQUIRE_HTTPS):
        raise UnsafeDestination(gettext("the URL must use https"))
    if not parts.hostname:
        raise UnsafeDestination(gettext("the URL has no host"))
    if parts.username or parts.password:
        raise UnsafeDestination(gettext("the URL may not carry credentials"))
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeDestination(gettext("the URL's port is invalid")) from exc
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, parts.hostname, port, target


def _unresolved(host: str) -> str:
    return gettext("the host %(host)s does not resolve") % {"host": repr(host)}


# The system's resolver; tests put a fake one here.
resolver: Resolver = socket.getaddrinfo


def resolve(url: str) -> Destination:
    """Resolve the URL's host once and check every address; the first is the one to connect to."""
    scheme, host, port, target = check_url(url)
    try:
        infos = resolver(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise UnsafeDestination(_unresolved(host)) from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise UnsafeDestination(_unresolved(host))
    for address in addresses:  # every answer: a round-robin name with one private address is refused
        reason = None if _allowed(address) else refused_reason(address)
        if reason is not None:
            raise UnsafeDestination(
                gettext("the host %(host)s resolves to %(reason)s (%(address)s)")
                % {"host": repr(host), "reason": reason, "address": address}
            )
    return Destination(scheme, host, port, str(addresses[0]), target)
