"""SSRF rules and limits of the outbound sender (maestro.outbound), against a real local HTTP receiver."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time

import pytest

from maestro import outbound
from tests.webhooks.receiver import Receiver

LOOPBACK = outbound.parse_networks(["127.0.0.0/8"])


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.3.2.1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped IPv6: where the connection would really go
        ("::ffff:169.254.169.254", "link-local"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("100.64.0.1", "not globally routable"),
        ("2002:7f00:1::", "embedded 127.0.0.1"),  # 6to4 of loopback
        ("64:ff9b::a9fe:a9fe", "embedded 169.254.169.254"),  # NAT64 of the metadata service
    ],
)
def test_non_public_addresses_are_refused_with_the_reason(address, reason):
    refused = outbound.refusal(ipaddress.ip_address(address))
    assert refused is not None and reason in refused


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address):
    assert outbound.refusal(ipaddress.ip_address(address)) is None


def test_an_operator_allowed_network_admits_that_range_only():
    allowed = outbound.parse_networks(["10.1.0.0/16", "fd00:1::/64"])
    assert outbound.refusal(ipaddress.ip_address("10.1.2.3"), allowed) is None
    assert outbound.refusal(ipaddress.ip_address("::ffff:10.1.2.3"), allowed) is None
    assert outbound.refusal(ipaddress.ip_address("fd00:1::5"), allowed) is None
    assert outbound.refusal(ipaddress.ip_address("10.2.0.1"), allowed) == "private"
    assert outbound.refusal(ipaddress.ip_address("127.0.0.1"), allowed) == "loopback"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "file:///etc/passwd",
        "http://user:pw@example.com/",
        "http:///path-only",
        "http://exa mple.com/",
        "http://example.com:0/",
        "http://example.com:99999/",
        "gopher://127.0.0.1:6379/_INFO",
    ],
)
def test_urls_of_the_wrong_form_are_refused(url):
    with pytest.raises(outbound.DestinationRefused):
        outbound.parse_destination(url)


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",  # a DNS name resolving to a loopback address
        "[::1]",
        "[::ffff:127.0.0.1]",
    ],
)
def test_sending_to_a_loopback_receiver_is_refused_and_nothing_arrives(receiver, host):
    with pytest.raises(outbound.DestinationRefused) as refused:
        outbound.post(receiver.url(host=host), b"{}", {"Content-Type": "application/json"})
    assert "only public addresses" in str(refused.value)
    if host == "localhost":
        assert "localhost resolves to 127.0.0.1" in str(refused.value)
    time.sleep(0.2)
    assert receiver.received() == []


def test_the_metadata_service_address_is_refused_without_connecting():
    started = time.monotonic()
    with pytest.raises(outbound.DestinationRefused, match=r"169\.254\.169\.254 is link-local"):
        outbound.post("http://169.254.169.254/latest/meta-data/", b"{}", {}, connect_timeout=5)
    assert time.monotonic() - started < 1  # refused before any connection attempt


def test_an_allowed_network_reaches_the_receiver_by_name_with_its_host_header(receiver):
    response = outbound.post(receiver.url("/in", host="localhost"), b'{"a":1}', {"X-Test": "1"}, allowed=LOOPBACK)
    assert response.status == 200 and response.address == "127.0.0.1"
    (request,) = receiver.received()
    assert request.path == "/in" and request.body == b'{"a":1}'
    assert request.headers["host"] == f"localhost:{receiver.port}"


def test_redirects_are_not_followed(receiver):
    receiver.status = 302
    receiver.extra_headers = {"Location": receiver.url("/elsewhere")}
    response = outbound.post(receiver.url("/first"), b"{}", {}, allowed=LOOPBACK)
    assert response.status == 302
    time.sleep(0.2)
    assert [r.path for r in receiver.received()] == ["/first"]


def test_only_an_excerpt_of_the_response_is_read(receiver):
    receiver.answer = b"x" * 50_000
    response = outbound.post(receiver.url(), b"{}", {}, allowed=LOOPBACK, excerpt_bytes=1024)
    assert response.excerpt == b"x" * 1024


def test_a_receiver_that_is_down_fails_to_connect():
    port = Receiver.reserve_port()
    with pytest.raises(outbound.SendFailed) as failed:
        outbound.post(f"http://127.0.0.1:{port}/", b"{}", {}, allowed=LOOPBACK)
    assert failed.value.kind == "connect"


def test_a_receiver_dripping_its_answer_is_cut_off_by_the_total_timeout():
    """Each byte arrives within the read timeout, so only the total deadline ends the exchange."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    stop = threading.Event()

    def drip():
        conn, _ = server.accept()
        conn.recv(65536)
        try:
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 200:
                if stop.is_set():
                    break
                conn.sendall(bytes([byte]))
                time.sleep(0.2)
        except OSError:
            pass
        finally:
            conn.close()

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    started = time.monotonic()
    try:
        with pytest.raises(outbound.SendFailed) as failed:
            outbound.post(f"http://127.0.0.1:{port}/", b"{}", {}, allowed=LOOPBACK, read_timeout=1, total_timeout=1.5)
        assert failed.value.kind == "timeout"
        assert time.monotonic() - started < 4
    finally:
        stop.set()
        server.close()
