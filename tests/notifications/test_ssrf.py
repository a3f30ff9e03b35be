"""Webhook destinations: production calls only public https:// addresses, unless an operator allow-lists a network."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from gateway.errors import ErrorCode
from gateway.notifications.destinations import DestinationRefused, check_destination
from gateway.settings import Environment, Settings

PUBLIC = "93.184.215.14"  # a public address, so no test needs DNS beyond the machine's own names


def production(**changes: object) -> Settings:
    return Settings(
        env=Environment.PRODUCTION,
        database_url="postgresql+asyncpg://gateway@db.internal/gateway",
        issuer_url="https://gateway.example.net",
        session_secret="a-long-random-session-secret-for-production-0123456789",
        **changes,  # type: ignore[arg-type]
    )


def development() -> Settings:
    return Settings(env=Environment.DEVELOPMENT)


REFUSED_IN_PRODUCTION = {
    "plain http": f"http://{PUBLIC}/hooks",
    "loopback": "https://127.0.0.1/hooks",
    "loopback elsewhere in 127/8": "https://127.8.9.10:8443/hooks",
    "10/8": "https://10.1.2.3/hooks",
    "172.16/12": "https://172.20.0.5/hooks",
    "192.168/16": "https://192.168.1.10/hooks",
    "shared address space": "https://100.64.0.1/hooks",
    "cloud metadata": "https://169.254.169.254/latest/meta-data/",
    "link-local": "https://169.254.10.20/hooks",
    "unspecified": "https://0.0.0.0/hooks",
    "multicast": "https://224.0.0.1/hooks",
    "IPv6 loopback": "https://[::1]/hooks",
    "IPv6 unique-local": "https://[fd00::1]/hooks",
    "IPv6 metadata": "https://[fd00:ec2::254]/hooks",
    "IPv6 link-local": "https://[fe80::1]/hooks",
    "IPv4-mapped loopback": "https://[::ffff:127.0.0.1]/hooks",
    "a name resolving to loopback": "https://localhost/hooks",
    "a name that does not resolve": "https://receiver.invalid/hooks",
    "credentials in the URL": f"https://user:password@{PUBLIC}/hooks",
    "no host": "https:///hooks",
    "another scheme": f"ftp://{PUBLIC}/hooks",
    "a fragment": f"https://{PUBLIC}/hooks#part",
    "a space": f"https://{PUBLIC}/ho oks",
    "too long": f"https://{PUBLIC}/" + "a" * 2100,
}


@pytest.mark.parametrize("url", REFUSED_IN_PRODUCTION.values(), ids=REFUSED_IN_PRODUCTION.keys())
async def test_production_refuses_the_destination_without_repeating_it(url: str) -> None:
    with pytest.raises(DestinationRefused) as refused:
        await check_destination(url, production())

    assert refused.value.code is ErrorCode.VALIDATION
    host = url.split("//", 1)[1].split("/", 1)[0]
    assert url not in refused.value.message and (not host or host not in refused.value.message)


async def test_production_accepts_a_public_https_address_and_returns_what_to_connect_to() -> None:
    addresses = await check_destination(f"https://{PUBLIC}:8443/hooks?team=7", production())

    assert addresses == [ip_address(PUBLIC)]


@pytest.mark.parametrize(
    ("allowed", "url"),
    [
        ("10.0.0.0/8", "https://10.1.2.3/hooks"),
        ("192.168.1.0/24, 172.16.0.0/12", "https://172.20.0.5/hooks"),
        ("127.0.0.0/8,::1/128", "https://localhost/hooks"),
        ("fd00::/8", "https://[fd00::1]/hooks"),
    ],
)
async def test_an_operator_allow_list_admits_its_networks(allowed: str, url: str) -> None:
    addresses = await check_destination(url, production(webhook_allowed_networks=allowed))

    assert addresses


async def test_the_allow_list_admits_only_its_own_networks() -> None:
    settings = production(webhook_allowed_networks="10.0.0.0/8")

    with pytest.raises(DestinationRefused):
        await check_destination("https://192.168.1.10/hooks", settings)
    with pytest.raises(DestinationRefused):
        await check_destination(f"http://{PUBLIC}/hooks", settings)


async def test_every_address_a_name_resolves_to_must_pass() -> None:
    # localhost answers 127.0.0.1 and usually ::1: allowing one family leaves the other refused.
    addresses = await check_destination(
        "https://localhost/hooks", production(webhook_allowed_networks="127.0.0.0/8,::1/128")
    )
    assert ip_address("127.0.0.1") in addresses
    if any(a.version == 6 for a in addresses):
        with pytest.raises(DestinationRefused):
            await check_destination("https://localhost/hooks", production(webhook_allowed_networks="127.0.0.0/8"))


async def test_development_allows_http_and_loopback_receivers_but_never_metadata() -> None:
    assert await check_destination("http://127.0.0.1:8099/hooks", development()) == [ip_address("127.0.0.1")]
    assert ip_address("127.0.0.1") in await check_destination("http://localhost:8099/hooks", development())

    for metadata in ("http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/"):
        with pytest.raises(DestinationRefused):
            await check_destination(metadata, development())


def test_the_allow_list_setting_refuses_a_network_written_with_host_bits() -> None:
    with pytest.raises(ValueError, match="host bits"):
        production(webhook_allowed_networks="10.0.0.1/8")
