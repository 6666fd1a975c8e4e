"""The client's IP address, for rate limits, login lockouts and the audit trail.

``X-Forwarded-For`` is trusted only as far as ``MAESTRO_TRUSTED_PROXY_COUNT`` says: with 0 (the default) the
address is the TCP peer (``REMOTE_ADDR``) and the header is ignored, so a client cannot pick its own address.
With N trusted proxies in front of the app, each appends the address it received the request from, so the client is
the N-th entry from the right; entries further left were written by the client and are ignored.

Hand-written rather than django-ipware: ipware's selection prefers "public" addresses and reads several headers,
which is the wrong default for a rate limit key; this rule is ten lines and is tested both ways.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings


def _valid(value: str) -> str | None:
    value = value.strip()
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def client_ip(request) -> str | None:
    remote = _valid(request.META.get("REMOTE_ADDR", "") or "")
    proxies = getattr(settings, "MAESTRO_TRUSTED_PROXY_COUNT", 0)
    if proxies <= 0:
        return remote
    forwarded = [part for part in (request.META.get("HTTP_X_FORWARDED_FOR") or "").split(",") if part.strip()]
    if len(forwarded) < proxies:
        return remote
    return _valid(forwarded[-proxies]) or remote


# django-axes needs an address string to key lockouts by. A request without a valid peer address (no REMOTE_ADDR, or
# a trusted proxy that forwarded garbage) gets the unspecified address: all such requests share one lockout bucket,
# so they cannot escape the lockout by sending no usable address. It is never used to bind a socket.
UNKNOWN_CLIENT_IP = "0.0.0.0"  # noqa: S104


LOCKOUT_IPV6_PREFIX = 64


def axes_client_ip(request) -> str:
    """django-axes' AXES_CLIENT_IP_CALLABLE: the address the rate limits use, with IPv6 addresses reduced to their
    /64 (written as its first address). One subscriber usually holds a whole /64, so counting single IPv6 addresses
    would give an attacker 2**64 fresh addresses, each allowed its own failures for a username."""
    address = client_ip(request)
    if address is None:
        return UNKNOWN_CLIENT_IP
    parsed = ipaddress.ip_address(address)
    if parsed.version == 6:
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/{LOCKOUT_IPV6_PREFIX}", strict=False).network_address)
    return address
