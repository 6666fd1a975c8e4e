"""HTTP requests to addresses tenants choose (webhook receivers), without letting them reach what they must not.

A tenant who can name a URL must not make Maestro's workers request its internal network: the cloud metadata service
(169.254.169.254), the database, Redis, or anything on loopback (server-side request forgery). So:

* the URL must be ``http`` or ``https`` with a host and no credentials;
* the host is resolved **at send time**, and every address it resolves to must be public: loopback, private,
  link-local, multicast, reserved, unspecified and otherwise not globally routable addresses are refused, IPv4 and
  IPv6 alike, including IPv4 addresses embedded in IPv6 ones (``::ffff:127.0.0.1``, 6to4, Teredo, NAT64). Operators
  allow specific ranges explicitly (``allowed`` networks, e.g. an internal receiver's subnet);
* the connection goes to the address that was checked — the name is not resolved a second time (no DNS rebinding
  between check and connect) — while the ``Host`` header and TLS SNI/certificate check still use the name;
* redirects are never followed (a 3xx is just a response), and connect, read and total time are bounded; only the
  first ``excerpt_bytes`` of the response body are read.

Written on the standard library (``http.client``, ``socket``, ``ssl``): pinning the address while keeping the name
for Host and TLS is a few lines there, and needs adapters and private hooks in higher-level clients.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

NAT64 = ipaddress.ip_network("64:ff9b::/96")
MAX_URL_LENGTH = 2000


class DestinationRefused(ValueError):
    """The URL may not be requested (bad form, or an address outside the allowed ones). The message says why."""


class SendFailed(Exception):
    """The request could not be completed: ``kind`` is dns, connect, timeout, tls or protocol."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str  # as written (IDNA-encoded), without brackets for IPv6 literals
    port: int
    target: str  # path and query sent in the request line

    @property
    def is_https(self) -> bool:
        return self.scheme == "https"


@dataclass(frozen=True)
class Response:
    status: int
    excerpt: bytes
    address: str
    duration_ms: int


def parse_destination(url: str) -> Destination:
    """The parts of ``url`` needed to send to it; DestinationRefused naming the problem otherwise."""
    if not isinstance(url, str) or not url:
        raise DestinationRefused("Enter a URL.")
    if len(url) > MAX_URL_LENGTH:
        raise DestinationRefused(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise DestinationRefused("The URL contains whitespace or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise DestinationRefused(f"The URL is malformed: {exc}.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise DestinationRefused("Only http:// and https:// URLs are allowed.")
    if parts.username is not None or parts.password is not None:
        raise DestinationRefused("The URL must not contain credentials (user:password@).")
    host = parts.hostname or ""
    if not host:
        raise DestinationRefused("The URL has no host.")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise DestinationRefused("The URL's host name is not a valid domain name.") from None
    if port == 0:
        raise DestinationRefused("The URL's port must be between 1 and 65535.")
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    return Destination(scheme=scheme, host=host, port=port or (443 if scheme == "https" else 80), target=target)


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Operator-configured networks (``10.1.2.0/24``, ``fd00::/8``, single addresses); ValueError for bad entries."""
    return tuple(ipaddress.ip_network(value.strip(), strict=False) for value in values if value and value.strip())


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    found = [address.ipv4_mapped, address.sixtofour, (address.teredo or (None, None))[1]]
    if address in NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [ip for ip in found if ip is not None]


def _reason(ip: IPAddress) -> str | None:
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_private:
        return "private"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "not globally routable"
    return None


def normalise(ip: IPAddress) -> IPAddress:
    """IPv4-mapped IPv6 addresses are the IPv4 address they map (that is where a connection goes)."""
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def refusal(ip: IPAddress, allowed: Iterable[IPNetwork] = ()) -> str | None:
    """Why ``ip`` may not be contacted (``"loopback"``, ``"private"``, …), or None when it may."""
    ip = normalise(ip)
    if any(ip.version == net.version and ip in net for net in allowed):
        return None
    candidates = [*(_embedded_ipv4(ip) if ip.version == 6 else []), ip]  # the embedded address says more
    for candidate in candidates:
        reason = _reason(candidate)
        if reason is not None:
            return reason if candidate is ip else f"{reason} (embedded {candidate})"
    return None


def check_literal(host: str, allowed: Iterable[IPNetwork] = (), *, what: str = "receive webhooks") -> None:
    """Refuse a host written as a refused IP address (no DNS lookup: for validating a URL when it is entered)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return
    reason = refusal(ip, allowed)
    if reason is not None:
        raise DestinationRefused(f"The address {ip} is {reason}; only public addresses may {what}.")


def resolve(
    destination: Destination, allowed: Iterable[IPNetwork] = (), *, what: str = "receive webhooks"
) -> IPAddress:
    """The address to connect to: the first one ``destination.host`` resolves to, if *every* address it resolves to
    may be contacted (a name that also resolves to a private address is refused as a whole)."""
    allowed = tuple(allowed)
    try:
        infos = socket.getaddrinfo(destination.host, destination.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise SendFailed("dns", f"{destination.host} could not be resolved ({exc}).") from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        ip = normalise(ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0]))
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise SendFailed("dns", f"{destination.host} resolved to no address.")
    for ip in addresses:
        reason = refusal(ip, allowed)
        if reason is not None:
            shown = destination.host if str(ip) == destination.host else f"{destination.host} resolves to {ip}, which"
            raise DestinationRefused(f"{shown} is {reason}; only public addresses may {what}.")
    return addresses[0]


def _connect(destination: Destination, ip: IPAddress, *, connect_timeout: float, read_timeout: float, ca_file):
    sock = socket.create_connection((str(ip), destination.port), timeout=connect_timeout)
    try:
        sock.settimeout(read_timeout)
        if destination.is_https:
            context = ssl.create_default_context(cafile=ca_file or None)
            sock = context.wrap_socket(sock, server_hostname=destination.host)
    except BaseException:
        sock.close()
        raise
    cls = http.client.HTTPSConnection if destination.is_https else http.client.HTTPConnection
    conn = cls(destination.host, destination.port, timeout=read_timeout)
    conn.sock = sock  # already connected to the checked address: http.client will not resolve the name again
    return conn


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    allowed: Iterable[IPNetwork] = (),
    connect_timeout: float = 5.0,
    read_timeout: float = 10.0,
    total_timeout: float = 30.0,
    excerpt_bytes: int = 1024,
    ca_file: str | None = None,
) -> Response:
    """POST ``body`` to ``url`` under the rules of the module docstring. Raises DestinationRefused (not sent) or
    SendFailed (sent or tried, no complete response); any HTTP status is a Response."""
    destination = parse_destination(url)
    started = time.monotonic()
    ip = resolve(destination, allowed)
    conn = None
    timer = None
    try:
        try:
            conn = _connect(
                destination, ip, connect_timeout=connect_timeout, read_timeout=read_timeout, ca_file=ca_file
            )
        except ssl.SSLError as exc:
            raise SendFailed("tls", f"TLS with {destination.host} failed: {exc.reason or exc}.") from None
        except TimeoutError:
            raise SendFailed("timeout", f"Connecting to {ip} timed out after {connect_timeout:g} s.") from None
        except OSError as exc:
            raise SendFailed(
                "connect", f"Connecting to {ip} port {destination.port} failed: {exc.strerror or exc}."
            ) from None
        # A receiver that answers slowly byte by byte never trips the read timeout; the total deadline cuts it off.
        remaining = max(total_timeout - (time.monotonic() - started), 0.1)
        timer = threading.Timer(remaining, _shutdown, args=(conn,))
        timer.daemon = True
        timer.start()
        try:
            conn.request("POST", destination.target, body=body, headers=dict(headers))
            response = conn.getresponse()
            excerpt = response.read(excerpt_bytes)
        except TimeoutError:
            raise SendFailed("timeout", f"No response from {destination.host} within {read_timeout:g} s.") from None
        except (http.client.HTTPException, OSError, ValueError) as exc:
            if time.monotonic() - started >= total_timeout:
                raise SendFailed("timeout", f"The exchange took longer than {total_timeout:g} s.") from None
            raise SendFailed("protocol", f"The response could not be read: {exc.__class__.__name__} {exc}.") from None
        return Response(
            status=response.status,
            excerpt=excerpt,
            address=str(ip),
            duration_ms=int((time.monotonic() - started) * 1000),
        )
    finally:
        if timer is not None:
            timer.cancel()
        if conn is not None:
            conn.close()


def _shutdown(conn) -> None:
    sock = getattr(conn, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
