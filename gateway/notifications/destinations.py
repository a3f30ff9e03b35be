"""Where a webhook may point: the SSRF checks a URL passes at registration, on every change and before each send.

Apart from registration because the dispatcher runs these checks before every delivery as well, and they are a
security boundary of their own (DNS, address ranges, operator allow-lists) with nothing to do with who may register.
"""

from __future__ import annotations

import asyncio
import socket
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Final
from urllib.parse import SplitResult, urlsplit

from gateway.errors import DomainError, ErrorCode
from gateway.settings import Settings

__all__ = ["MAX_URL_LENGTH", "DestinationRefused", "IPAddress", "check_destination"]


IPAddress = IPv4Address | IPv6Address

MAX_URL_LENGTH: Final = 2048
# The addresses cloud platforms answer instance credentials on; refused even in development.
METADATA_ADDRESSES: Final = frozenset({ip_address("169.254.169.254"), ip_address("fd00:ec2::254")})
DNS_TIMEOUT_SECONDS: Final = 5.0


class DestinationRefused(DomainError):
    """A webhook URL that may not be called; the message never repeats the URL or what it resolved to."""

    default_code = ErrorCode.VALIDATION
    default_message = "That webhook URL is not allowed."


def _parse_url(url: str, settings: Settings) -> SplitResult:
    if not url or len(url) > MAX_URL_LENGTH:
        raise DestinationRefused(f"A webhook URL is 1 to {MAX_URL_LENGTH} characters.")
    if not url.isascii() or any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise DestinationRefused("A webhook URL is plain ASCII without spaces; encode anything else.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise DestinationRefused("That is not a valid URL.") from None
    allowed_schemes = ("https", "http") if settings.is_development else ("https",)
    if parts.scheme not in allowed_schemes:
        raise DestinationRefused("A webhook URL must start with https://.")
    if not parts.hostname:
        raise DestinationRefused("A webhook URL needs a host.")
    if parts.username is not None or parts.password is not None:
        # Credentials in the URL would be stored and listed in the clear; receivers verify the signature instead.
        raise DestinationRefused("A webhook URL may not carry a user name or password.")
    if parts.fragment:
        raise DestinationRefused("A webhook URL may not have a #fragment.")
    if port == 0:
        raise DestinationRefused("That is not a valid URL.")
    return parts


async def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(DNS_TIMEOUT_SECONDS):
            answers = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError, UnicodeError):
        raise DestinationRefused("The webhook URL's host name does not resolve.") from None
    found: list[IPAddress] = []
    for family, _, _, _, sockaddr in answers:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        # An IPv6 sockaddr may carry a zone ("fe80::1%eth0"); the zone is no part of the address.
        address = ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    if not found:
        raise DestinationRefused("The webhook URL's host name does not resolve.")
    return found


def _unwrapped(address: IPAddress) -> IPAddress:
    # ::ffff:127.0.0.1 reaches 127.0.0.1: judge an IPv4-mapped address by the IPv4 address it maps.
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _publicly_routable(address: IPAddress) -> bool:
    # is_global is false for loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16,
    # fe80::/10), shared (100.64/10), unspecified, reserved and documentation ranges; multicast is refused besides.
    return address.is_global and not address.is_multicast


def _allow_listed(address: IPAddress, settings: Settings) -> bool:
    return any(
        address.version == network.version and address in network for network in settings.webhook_allowed_networks
    )


async def check_destination(url: str, settings: Settings) -> list[IPAddress]:
    """The addresses a webhook URL may be called on now; raises DestinationRefused for a URL that must not be.

    Production: https:// only, and every address the host resolves to must be publicly routable (not loopback,
    private, link-local, unique-local, multicast, unspecified or a cloud metadata address) unless it lies in
    GATEWAY_WEBHOOK_ALLOWED_NETWORKS. Development also allows http:// and any address but the metadata ones, so
    tests and `make run` can use receivers on loopback. Checked at registration and before every delivery.
    """
    parts = _parse_url(url, settings)
    assert parts.hostname is not None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = await _resolve(parts.hostname, port)
    for address in addresses:
        judged = _unwrapped(address)
        if _allow_listed(judged, settings) or _allow_listed(address, settings):
            continue
        if judged in METADATA_ADDRESSES or address in METADATA_ADDRESSES:
            raise DestinationRefused("The webhook URL points at a cloud metadata address.")
        if not settings.is_development and not _publicly_routable(judged):
            raise DestinationRefused(
                "The webhook URL resolves to a loopback, private, link-local or reserved address; "
                "an operator can allow-list a network with GATEWAY_WEBHOOK_ALLOWED_NETWORKS."
            )
    return addresses
