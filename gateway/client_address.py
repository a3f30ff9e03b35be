"""Where a request came from: the peer, or what the proxies the settings trust say the peer was.

Every per-caller limit (the sign-in throttle, the self-referral limits) keys on `throttle_key(client_address(...))`,
so a forged `X-Forwarded-For` from an untrusted peer changes nothing, and one IPv6 subscriber (who is normally handed
a whole /64) counts as one caller however many addresses they rotate through.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address

from starlette.requests import Request

from gateway.settings import Settings

UNKNOWN = "unknown"  # no peer at all (an ASGI server that does not say): every such request shares one key
IPV6_THROTTLE_PREFIX = 64


def parse_address(text: str) -> IPv4Address | IPv6Address | None:
    """An IP address from a forwarding hop or a peer: plain, `[v6]`, `[v6]:port` or `v4:port`; None otherwise."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]  # IPv4 with a port; a bare IPv6 address has at least two colons
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # the same IPv4 caller over a dual-stack socket
    return address


def _trusted(address: IPv4Address | IPv6Address, settings: Settings) -> bool:
    return any(address in network for network in settings.trusted_proxies)


def client_address(request: Request, settings: Settings) -> str:
    """The caller's address: the peer, unless the peer is a trusted proxy, then the nearest hop no trusted proxy wrote.

    `X-Forwarded-For` is read from the right: each trusted proxy appends the address it saw, so the rightmost entry
    not written by a trusted proxy is the first one a caller could have forged nothing past. Entries further left are
    whatever the caller sent and are never believed. A hop that is not an address ends the walk at the last
    trusted proxy, which then stands for the caller.
    """
    if request.client is None:
        return UNKNOWN
    peer = parse_address(request.client.host)
    if peer is None:
        return request.client.host  # a Unix socket or a test transport: no address to trust or group
    current = peer
    if not _trusted(current, settings):
        return str(current)
    hops = [hop for header in request.headers.getlist("x-forwarded-for") for hop in header.split(",")]
    for hop in reversed(hops):
        forwarded = parse_address(hop)
        if forwarded is None:
            break
        current = forwarded
        if not _trusted(current, settings):
            break
    return str(current)


def throttle_key(address: str) -> str:
    """The caller a limit counts: an IPv4 address itself, an IPv6 address's /64 network, anything else as given."""
    parsed = parse_address(address)
    if isinstance(parsed, IPv6Address):
        return str(IPv6Network((parsed, IPV6_THROTTLE_PREFIX), strict=False))
    return str(parsed) if parsed is not None else address
