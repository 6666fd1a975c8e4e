"""A small cookie-keeping HTTP client for the live server that connects *from* a chosen loopback address.

The whole 127.0.0.0/8 block is loopback on Linux, so binding the client's socket to 127.0.0.2 or 127.0.0.3 makes
gunicorn see two different peers (``REMOTE_ADDR``) — two people at two desks, as far as the server can tell —
without trusting any header.
"""

from __future__ import annotations

import http.client
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import urlencode

from django.conf import settings


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: str


@dataclass
class SourceBoundClient:
    port: int
    host: str  # the tenant's host name (sent as Host; the connection goes to 127.0.0.1)
    source: str  # the loopback address the connection comes from
    cookies: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, form: dict | None = None) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60, source_address=(self.source, 0))
        headers = {"Host": f"{self.host}:{self.port}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
            for value in response.headers.get_all("Set-Cookie") or []:
                for name, morsel in SimpleCookie(value).items():
                    self.cookies[name] = morsel.value
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, text)
        finally:
            conn.close()

    def post_form(self, path: str, form: dict) -> Reply:
        """POST ``form`` with the CSRF token of a GET of the same page (the cookie's secret, which Django accepts)."""
        if settings.CSRF_COOKIE_NAME not in self.cookies:
            self.request("GET", path)
        return self.request("POST", path, {**form, "csrfmiddlewaretoken": self.cookies[settings.CSRF_COOKIE_NAME]})

    def log_in(self, username: str, password: str) -> Reply:
        return self.post_form("/accounts/login/", {"username": username, "password": password})
