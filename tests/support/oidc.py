"""The tests' OpenID provider as a process (``tests/support/oidc_provider``), and a person signing in at it.

``OidcProvider`` writes the provider's config (people, clients, a fresh RS256 key), starts it on a free loopback port
and waits for its discovery document. ``ProviderUser`` plays the browser on the provider's side with ``requests``:
it follows Maestro's redirect to the authorization endpoint, signs in on the provider's login form, consents, and
returns the callback URL the provider sends back to Maestro (code and state), for the Django test client or a real
browser to deliver.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings

from tests.support.live_server import free_port


@dataclass
class Person:
    username: str
    password: str
    email: str
    email_verified: bool = True
    groups: list[str] = field(default_factory=list)
    given_name: str = "Test"
    family_name: str = "Person"


@dataclass
class Client:
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    audience: str | None = None  # put this instead of the client id in the ID tokens' aud
    id_token_lifetime: int | None = None  # seconds; negative: tokens already expired


def rsa_private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


class OidcProvider:
    """One running provider; ``issuer`` is its issuer URL (``http://127.0.0.1:<port>/o``)."""

    def __init__(self, workdir: Path, *, people: list[Person], clients: list[Client]):
        self.workdir = workdir
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}/o"
        self.people = {person.username: person for person in people}
        self.clients = {client.client_id: client for client in clients}
        self.log_path = workdir / "provider.log"
        config = {
            "issuer": self.issuer,
            "database": str(workdir / "provider.sqlite3"),
            "rsa_private_key": rsa_private_key_pem(),
            "people": [asdict(person) for person in people],
            "clients": [asdict(client) for client in clients],
        }
        self.config_path = workdir / "provider.json"
        self.config_path.write_text(json.dumps(config))
        self.proc: subprocess.Popen | None = None

    def start(self) -> OidcProvider:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "MAESTRO_TEST"))}
        env["TEST_IDP_CONFIG"] = str(self.config_path)
        log = open(self.log_path, "ab")  # noqa: SIM115  (closed with the process)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.oidc_provider", str(self.port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=settings.BASE_DIR,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the OpenID provider exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if requests.get(self.discovery_url, timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the OpenID provider did not answer; see {self.log_path}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def discovery(self) -> dict:
        return requests.get(self.discovery_url, timeout=5).json()


class _Forms(HTMLParser):
    """The forms of a page: action and every named input's value (the submit button named ``allow`` included)."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action") or "", "fields": {}})
        elif tag == "input" and self.forms and attrs.get("name"):
            self.forms[-1]["fields"][attrs["name"]] = attrs.get("value") or ""


def _form(html: str) -> dict:
    parser = _Forms()
    parser.feed(html)
    assert parser.forms, f"no form on the provider's page:\n{html[:2000]}"
    return parser.forms[0]


class ProviderUser:
    """A person at the provider, with the provider's cookies (a ``requests`` session)."""

    def __init__(self, provider: OidcProvider, person: Person):
        self.provider = provider
        self.person = person
        self.http = requests.Session()

    def _post_form(self, page: requests.Response, **values) -> requests.Response:
        form = _form(page.text)
        data = {**form["fields"], **values}
        return self.http.post(urljoin(page.url, form["action"]), data=data, allow_redirects=False, timeout=10)

    def authorize(self, authorize_url: str, *, consent: bool = True) -> str:
        """Go to ``authorize_url`` (Maestro's redirect), sign in if the provider asks, consent; the callback URL the
        provider redirects back to (``?code=…&state=…``, or ``?error=access_denied`` without consent)."""
        page = self.http.get(authorize_url, allow_redirects=True, timeout=10)
        if urlsplit(page.url).path.endswith("/accounts/login/"):
            signed_in = self._post_form(page, username=self.person.username, password=self.person.password)
            assert signed_in.status_code == 302, f"provider login failed: {signed_in.status_code}"
            page = self.http.get(urljoin(page.url, signed_in.headers["Location"]), timeout=10)
        assert page.status_code == 200 and "authorizationForm" in page.text, page.text[:2000]
        form = _form(page.text)
        fields = {name: value for name, value in form["fields"].items() if name != "allow"}
        if consent:
            fields["allow"] = "Authorize"
        answer = self.http.post(page.url, data=fields, allow_redirects=False, timeout=10)
        assert answer.status_code == 302, f"provider consent failed: {answer.status_code} {answer.text[:500]}"
        return answer.headers["Location"]
