"""The OpenID Connect relying party of one tenant, on Authlib's Django client.

Why Authlib (compared for this work; docs/sso.md): mozilla-django-oidc reads one provider from settings
and, as released, skips the ``aud`` and ``iss`` checks of the ID token (``verify_aud: False``) and discovery, so it
would need a subclassed backend and hand-written claim checks; django-allauth's ``openid_connect`` provider keeps
per-tenant ``SocialApp`` rows and has PKCE, but sends no nonce, skips the signature check for tokens fetched from the
token endpoint, and brings its account app, models and a dozen routes. Authlib's client is built per request from the
tenant's row and does all of the protocol's security work itself:

* **state**: random, stored in this tenant's session with the flow's data and removed when the callback uses it, so
  a replayed callback finds nothing (``MismatchingStateError``);
* **PKCE** (``code_challenge_method=S256``): the verifier stays in the session, the challenge goes to the provider;
* **nonce**: generated per flow and compared with the ID token's;
* **ID token**: signature against the provider's JWKS (``jwks_uri`` from discovery, fetched again once for an unknown
  key id), then ``iss``, ``aud``, ``exp``/``iat`` (120 s leeway, Authlib's default), ``azp``, ``at_hash``, ``nonce``
  (joserfc's claim registry).

What this module adds is configuration, not checks: the client id, secret and issuer of *this* tenant; ``iss`` must
equal the issuer the owner configured and ``aud`` must contain this tenant's client id (passed to Authlib as claim
options: by default it takes ``iss`` from the discovery document and checks ``aud`` only through ``azp``); the redirect
URI is this host's callback; and a token response without an ID token is refused instead of passed over. Sessions
live in each tenant's schema and the cookie is host-only, so a flow started on one tenant's host cannot finish on
another's: the state is unknown there, and a token issued to another tenant's client fails the ``aud`` check.
"""

from __future__ import annotations

from dataclasses import dataclass

from authlib.integrations.base_client import MismatchingStateError, OAuthError
from authlib.integrations.django_client import DjangoIntegration, DjangoOAuth2App
from django.conf import settings
from django.db import connection
from django.urls import reverse
from joserfc.errors import ClaimError, ExpiredTokenError, JoseError
from requests import RequestException

from apps.sso.models import SsoConfig
from maestro import outbound
from maestro.encryption import DecryptionError, decrypt

CLIENT_NAME = "maestro-sso"  # Authlib keeps a flow's state under "_state_maestro-sso_<state>" in the session
FLOWS = "_sso_flows"  # session: state → {"tenant": schema, "next": path}, what Maestro keeps about a flow
ID_TOKEN = "_sso_id_token"  # session: the ID token of an SSO session, the hint for logging out at the provider
MAX_FLOWS = 5  # flows started in one session and not finished (several tabs); older ones are dropped

# What a provider answering something other than OpenID Connect (a non-JSON or non-object document, missing keys)
# raises inside Authlib and requests.
MALFORMED = (ValueError, KeyError, TypeError, AttributeError, RuntimeError)
# ID-token claim whose check failed → reason recorded in the audit trail
CLAIM_REASONS = {"aud": "wrong_audience", "azp": "wrong_audience", "iss": "wrong_issuer", "nonce": "nonce_mismatch"}


class SsoFailure(Exception):
    """A sign-in that cannot go on: ``reason`` is recorded (``sso.login_failed``), ``message`` shown to the person."""

    def __init__(self, reason: str, message: str, status: int = 400, *, email: str = "", subject_id=None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = status
        self.email = email
        self.subject_id = subject_id


@dataclass(frozen=True)
class Verified:
    """A finished flow: the ID token's verified claims, the token itself, and where the person was going."""

    claims: dict
    id_token: str
    next_url: str


def _client(config: SsoConfig) -> DjangoOAuth2App:
    try:
        secret = decrypt(config.client_secret_encrypted) if config.client_secret_encrypted else None
    except DecryptionError as exc:
        raise SsoFailure(
            "secret_unreadable",
            "Single sign-on is misconfigured: the stored client secret cannot be decrypted (were the encryption keys "
            "changed?). An owner must enter the secret again.",
            status=503,
        ) from exc
    return DjangoOAuth2App(
        DjangoIntegration(CLIENT_NAME),
        name=CLIENT_NAME,
        client_id=config.client_id,
        client_secret=secret,
        server_metadata_url=config.discovery_url,
        client_kwargs={
            "scope": config.scopes,
            "code_challenge_method": "S256",
            "default_timeout": settings.SSO_HTTP_TIMEOUT_SECONDS,
        },
    )


def _unreachable(config: SsoConfig) -> SsoFailure:
    return SsoFailure(
        "provider_unreachable", f"{config.display_name} could not be reached. Try again in a moment.", status=502
    )


def refused_url(url: str) -> str | None:
    """Why Maestro's server will not call ``url`` (None: it may). An owner types the issuer, so without this check
    a tenant could make the server fetch internal addresses (cloud metadata, services on the cluster network) for
    discovery, signing keys or the token exchange: the webhooks' SSRF rules apply (``maestro.outbound``: loopback,
    private, link-local and other non-public addresses refused unless in ``SSO_ALLOWED_NETWORKS``; a name is refused
    when any address it resolves to is). A name that does not resolve is left to the fetch, which reports it. The
    check is made just before each fetch; the fetch resolves the name again (a DNS answer changed in between is not
    caught: set ``SSO_ALLOWED_NETWORKS`` narrowly and use names you control)."""
    try:
        destination = outbound.parse_destination(url)
        outbound.resolve(destination, outbound.parse_networks(settings.SSO_ALLOWED_NETWORKS), what="be called")
    except outbound.DestinationRefused as exc:
        return str(exc)
    except outbound.SendFailed:
        return None
    return None


def _guard(config: SsoConfig, *urls: str) -> None:
    for url in urls:
        reason = refused_url(url) if url else None
        if reason is not None:
            raise SsoFailure(
                "provider_refused",
                f"Single sign-on is misconfigured: {config.display_name} is at an address Maestro does not call "
                f"({reason}). An owner must change the issuer, or an operator allow its network.",
                status=503,
            )


def _metadata(client: DjangoOAuth2App, config: SsoConfig) -> dict:
    """The discovery document, fetched only from an address that may be called; the endpoints the server itself
    calls later (token exchange, signing keys) are checked too."""
    _guard(config, config.discovery_url)
    metadata = client.load_server_metadata()
    if isinstance(metadata, dict):
        _guard(config, *(str(metadata.get(key) or "") for key in ("token_endpoint", "jwks_uri")))
    return metadata


def callback_url(request) -> str:
    """The redirect URI of this tenant's host, registered at the provider (shown on the settings page)."""
    return request.build_absolute_uri(reverse("sso:callback"))


def start(request, config: SsoConfig, next_url: str) -> str:
    """Begin a sign-in: keep the flow's state, nonce and PKCE verifier in the session; the provider's URL to go to."""
    client = _client(config)
    redirect_uri = callback_url(request)
    try:
        _metadata(client, config)
        flow = client.create_authorization_url(redirect_uri)
    except (RequestException, *MALFORMED) as exc:
        raise _unreachable(config) from exc
    client.save_authorize_data(request, redirect_uri=redirect_uri, **flow)
    flows = dict(request.session.get(FLOWS) or {})
    flows[flow["state"]] = {"tenant": connection.schema_name, "next": next_url}
    request.session[FLOWS] = dict(list(flows.items())[-MAX_FLOWS:])
    return flow["url"]


def _claims_options(config: SsoConfig) -> dict:
    return {
        "iss": {"essential": True, "values": [config.issuer]},
        "aud": {"essential": True, "values": [config.client_id]},
        "sub": {"essential": True},
    }


def finish(request, config: SsoConfig) -> Verified:
    """Complete a sign-in on the callback: the state must be one this session started on this tenant's host; Authlib
    exchanges the code (with the PKCE verifier) and verifies the ID token. SsoFailure when anything does not hold."""
    flows = dict(request.session.get(FLOWS) or {})
    flow = flows.pop(request.GET.get("state", ""), None)
    request.session[FLOWS] = flows
    if flow is None or flow.get("tenant") != connection.schema_name:
        raise SsoFailure("state_mismatch", "This sign-in link is not valid here (used, or expired). Start again.")
    client = _client(config)
    try:
        _metadata(client, config)
        token = client.authorize_access_token(request, claims_options=_claims_options(config))
    except MismatchingStateError as exc:
        raise SsoFailure("state_mismatch", "This sign-in link is not valid here. Start again.") from exc
    except OAuthError as exc:
        reason = "provider_denied" if exc.error == "access_denied" else "provider_error"
        raise SsoFailure(reason, f"{config.display_name} did not sign you in ({exc.error or 'error'}).") from exc
    except ExpiredTokenError as exc:
        raise SsoFailure("token_expired", "The sign-in token has expired. Start again.") from exc
    except ClaimError as exc:
        reason = CLAIM_REASONS.get(exc.claim, "invalid_id_token")
        raise SsoFailure(reason, f"The sign-in token was not valid for this organisation ({exc.claim}).") from exc
    except JoseError as exc:
        raise SsoFailure("invalid_id_token", "The sign-in token could not be verified.") from exc
    except RequestException as exc:
        raise _unreachable(config) from exc
    except MALFORMED as exc:
        raise SsoFailure("provider_error", f"{config.display_name} answered unexpectedly.", status=502) from exc
    claims = token.get("userinfo")
    if not claims or not token.get("id_token"):
        raise SsoFailure("no_id_token", f"{config.display_name} sent no ID token.", status=502)
    return Verified(claims=dict(claims), id_token=token["id_token"], next_url=flow.get("next") or "")


def discovery_problems(config: SsoConfig) -> list[str]:
    """What is wrong with the provider's discovery document for this configuration (empty: nothing), for the
    settings form: the issuer must be the one configured, and the endpoints the flow needs must be there."""
    client = _client(config)
    try:
        metadata = _metadata(client, config)
    except SsoFailure as exc:
        return [exc.message]
    except (RequestException, *MALFORMED) as exc:
        return [f"{config.discovery_url} could not be read ({exc.__class__.__name__})."]
    if not isinstance(metadata, dict):
        return [f"{config.discovery_url} is not a discovery document."]
    problems = []
    if metadata.get("issuer") != config.issuer:
        problems.append(f"The provider calls itself '{metadata.get('issuer')}', not '{config.issuer}'.")
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not metadata.get(key):
            problems.append(f"The discovery document has no {key}.")
    methods = metadata.get("code_challenge_methods_supported")
    if methods is not None and "S256" not in methods:
        problems.append("The provider does not offer PKCE with S256 (code_challenge_methods_supported).")
    return problems


def logout_url(config: SsoConfig, *, id_token: str, post_logout_redirect_uri: str) -> str | None:
    """The provider's end-session URL for this sign-in (RP-initiated logout), or None when it offers none."""
    try:
        client = _client(config)
        metadata = _metadata(client, config)
    except (SsoFailure, RequestException, *MALFORMED):
        return None
    if not isinstance(metadata, dict) or not metadata.get("end_session_endpoint"):
        return None
    return client.create_logout_url(
        post_logout_redirect_uri=post_logout_redirect_uri, id_token_hint=id_token, client_id=config.client_id
    )["url"]
