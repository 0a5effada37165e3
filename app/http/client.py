"""Who is on the other end of a request."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from litestar.connection import ASGIConnection


@lru_cache(maxsize=64)
def _networks(
    trusted: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(t, strict=False) for t in trusted)


def _is_trusted(address: str, trusted: Sequence[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in _networks(tuple(trusted)))


def client_ip(
    connection: ASGIConnection[Any, Any, Any, Any], trusted_proxies: Sequence[str]
) -> str | None:
    """The client's address. `X-Forwarded-For` is believed only hop by hop from the right,
    and only while each hop is a configured trusted proxy, so a client cannot spoof it."""
    peer = connection.client.host if connection.client else None
    if not peer or not trusted_proxies or not _is_trusted(peer, trusted_proxies):
        return _valid(peer)
    forwarded = connection.headers.get("x-forwarded-for", "")
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    address = peer
    while hops and _is_trusted(address, trusted_proxies):
        address = hops.pop()
    return _valid(address)


# Every request normalises its peer's address; a server sees the same few again and again.
@lru_cache(maxsize=4096)
def _valid(address: str | None) -> str | None:
    if address is None:
        return None
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None
