"""The caller's address: forwarding headers believed only from trusted proxies, IPv6 counted by /64."""

from __future__ import annotations

from ipaddress import ip_network

import pytest
from starlette.requests import Request

from gateway.client_address import UNKNOWN, client_address, throttle_key
from gateway.settings import ConfigurationError, Settings, load_settings

PROXIES = Settings(trusted_proxies=(ip_network("10.0.0.0/8"), ip_network("2001:db8:ffff::/48")))
NO_PROXIES = Settings()


def request_from(peer: str | None, *forwarded_for: str) -> Request:
    """A request as the ASGI server hands it over: the TCP peer, and whatever X-Forwarded-For headers arrived."""
    return Request(
        {
            "type": "http",
            "method": "POST",
            "path": "/oauth/authorize",
            "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded_for],
            "client": (peer, 50123) if peer is not None else None,
        }
    )


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "settings", "expected"),
    [
        # Nobody is trusted by default: a forged header changes nothing, even from loopback.
        ("198.51.100.7", ["203.0.113.5"], NO_PROXIES, "198.51.100.7"),
        ("127.0.0.1", ["203.0.113.5"], NO_PROXIES, "127.0.0.1"),
        # An untrusted peer's header is ignored even when it names a trusted proxy.
        ("198.51.100.7", ["10.0.0.2"], PROXIES, "198.51.100.7"),
        # A trusted proxy without a header stands for itself.
        ("10.0.0.2", [], PROXIES, "10.0.0.2"),
        # A trusted proxy's rightmost entry is the address it saw.
        ("10.0.0.2", ["203.0.113.5"], PROXIES, "203.0.113.5"),
        # Entries left of the first untrusted hop are the caller's own words and are never believed.
        ("10.0.0.2", ["192.0.2.1, 203.0.113.5"], PROXIES, "203.0.113.5"),
        # A chain of trusted proxies is walked through to the first address none of them is.
        ("10.0.0.2", ["203.0.113.5, 10.9.8.7, 10.0.0.3"], PROXIES, "203.0.113.5"),
        # Several headers are one list, in the order they arrived.
        ("10.0.0.2", ["192.0.2.1, 203.0.113.5", "10.0.0.3"], PROXIES, "203.0.113.5"),
        # Every hop trusted: the leftmost is the nearest thing to a caller.
        ("10.0.0.2", ["10.1.1.1, 10.0.0.3"], PROXIES, "10.1.1.1"),
        # A hop that is not an address ends the walk at the last trusted proxy.
        ("10.0.0.2", ["203.0.113.5, not-an-address"], PROXIES, "10.0.0.2"),
        ("10.0.0.2", ["203.0.113.5, ;drop, 10.0.0.3"], PROXIES, "10.0.0.3"),
        ("10.0.0.2", [""], PROXIES, "10.0.0.2"),
        # Ports and brackets some proxies add are taken off; IPv4 over a dual-stack socket is IPv4.
        ("10.0.0.2", ["203.0.113.5:8443"], PROXIES, "203.0.113.5"),
        ("10.0.0.2", ["[2001:db8:1:2::7]:443"], PROXIES, "2001:db8:1:2::7"),
        ("::ffff:198.51.100.7", ["203.0.113.5"], NO_PROXIES, "198.51.100.7"),
        ("::ffff:10.0.0.2", ["203.0.113.5"], PROXIES, "203.0.113.5"),
        # IPv6 proxies and callers.
        ("2001:db8:ffff:1::2", ["2001:db8:1:2::7"], PROXIES, "2001:db8:1:2::7"),
        ("2001:db8:1:2::7", ["203.0.113.5"], PROXIES, "2001:db8:1:2::7"),
    ],
)
def test_the_caller_is_the_first_address_no_trusted_proxy_wrote(
    peer: str, forwarded_for: list[str], settings: Settings, expected: str
) -> None:
    assert client_address(request_from(peer, *forwarded_for), settings) == expected


def test_a_request_without_a_peer_is_the_unknown_caller() -> None:
    assert client_address(request_from(None, "203.0.113.5"), PROXIES) == UNKNOWN


def test_a_peer_that_is_not_an_address_is_kept_as_given_and_never_trusted() -> None:
    assert client_address(request_from("testclient", "203.0.113.5"), PROXIES) == "testclient"


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("203.0.113.5", "203.0.113.5"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("::ffff:203.0.113.5", "203.0.113.5"),
        (UNKNOWN, UNKNOWN),
        ("testclient", "testclient"),
    ],
)
def test_limits_count_an_ipv4_address_or_an_ipv6_slash_64(address: str, expected: str) -> None:
    assert throttle_key(address) == expected


def test_trusted_proxies_are_read_from_a_comma_separated_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_TRUSTED_PROXIES", "10.0.0.0/8, 2001:db8:ffff::/48,192.0.2.7")

    settings = load_settings()

    assert settings.trusted_proxies == (
        ip_network("10.0.0.0/8"),
        ip_network("2001:db8:ffff::/48"),
        ip_network("192.0.2.7/32"),
    )


@pytest.mark.parametrize("value", ["10.0.0.1/8", "proxy.internal", "10.0.0.0/33"])
def test_a_trusted_proxy_that_is_not_a_network_stops_the_gateway_starting(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("GATEWAY_TRUSTED_PROXIES", value)

    with pytest.raises(ConfigurationError, match="trusted_proxies"):
        load_settings()


def test_no_proxy_is_trusted_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWAY_TRUSTED_PROXIES", raising=False)

    assert load_settings().trusted_proxies == ()
