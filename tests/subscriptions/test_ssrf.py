"""The SSRF guard: a receiver's URL may only reach public addresses, checked after one resolution, and
the refusal comes before any connection. A fake resolver stands in for DNS."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any

import pytest
import urllib3

from subscriptions import ssrf
from subscriptions.models import Delivery, Endpoint
from subscriptions.sender import Sender
from tests.subscriptions.conftest import append_payments, fan_out_everything

REFUSED = [
    "127.0.0.1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # carrier-grade NAT
    "0.0.0.0",  # noqa: S104  # an address refused, nothing binds it
    "224.0.0.1",
    "::1",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "::",
]
ALLOWED = ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "::ffff:93.184.216.34"]


def fake_resolver(*addresses: str) -> Callable[..., list[tuple[Any, ...]]]:
    def resolve(host: str, port: int, **kwargs: Any) -> list[tuple[Any, ...]]:
        family = socket.AF_INET6 if ":" in addresses[0] else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return resolve


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert ssrf.refused_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert ssrf.refused_reason(ipaddress.ip_address(address)) is None


def test_one_private_answer_among_public_ones_refuses_the_host(
    monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.SUBSCRIPTION_ALLOWED_NETWORKS = []
    monkeypatch.setattr(ssrf, "resolver", fake_resolver("93.184.216.34", "10.0.0.7"))
    with pytest.raises(ssrf.UnsafeDestination, match="private"):
        ssrf.resolve("https://hooks.example.com/in")


def test_the_resolved_address_is_the_one_connected_to(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    settings.SUBSCRIPTION_ALLOWED_NETWORKS = []
    monkeypatch.setattr(ssrf, "resolver", fake_resolver("93.184.216.34"))
    destination = ssrf.resolve("https://hooks.example.com:8443/in?x=1")
    assert (destination.address, destination.host, destination.port, destination.target) == (
        "93.184.216.34",
        "hooks.example.com",
        8443,
        "/in?x=1",
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/",
        "ftp://hooks.example.com/",
        "https://user:pw@hooks.example.com/",
        "https:///x",
    ],
)
def test_bad_urls_are_refused(url: str, settings: Any) -> None:
    settings.SUBSCRIPTION_REQUIRE_HTTPS = True
    with pytest.raises(ssrf.UnsafeDestination):
        ssrf.check_url(url)


def test_the_allow_list_admits_named_networks_only(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    settings.SUBSCRIPTION_ALLOWED_NETWORKS = ["10.9.0.0/16"]
    monkeypatch.setattr(ssrf, "resolver", fake_resolver("10.9.1.1"))
    assert ssrf.resolve("https://erp.internal/").address == "10.9.1.1"
    monkeypatch.setattr(ssrf, "resolver", fake_resolver("10.8.1.1"))
    with pytest.raises(ssrf.UnsafeDestination):
        ssrf.resolve("https://erp.internal/")


@pytest.mark.django_db(transaction=True)
def test_a_delivery_to_a_private_address_makes_no_connection(
    monkeypatch: pytest.MonkeyPatch, settings: Any, make_endpoint: Callable[..., Endpoint]
) -> None:
    settings.SUBSCRIPTION_ALLOWED_NETWORKS = []
    connections: list[Any] = []
    monkeypatch.setattr(urllib3.connection.HTTPConnection, "connect", lambda self: connections.append(self))
    monkeypatch.setattr(ssrf, "resolver", fake_resolver("169.254.169.254"))
    endpoint = make_endpoint("https://metadata.example.com/latest")
    append_payments(1)

    fan_out_everything(batch_size=10)
    Sender(threads=1).run(max_seconds=5)

    assert connections == []
    delivery = endpoint.deliveries.get()
    assert delivery.state == Delivery.State.PENDING and "link-local" in delivery.last_error
    assert delivery.log.get().status_code is None
