"""DRF authentication with Maestro API tokens (``Authorization: Bearer mae_<tenant>_<prefix>_<secret>``)."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone
from rest_framework import authentication, exceptions

from apps.accounts import token_cache
from apps.accounts.models import ApiToken
from maestro.api.throttling import note_auth_failure
from maestro.context import actor_var
from maestro.net import client_ip
from maestro.tokens import parse_token, secret_matches, token_from_authorization

logger = logging.getLogger("maestro.auth")


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """Verify a token against the hash stored in the current tenant's schema.

    A token naming another tenant than the one this request is routed to, an unknown prefix, a wrong secret, a
    revoked or expired token, or an inactive user all answer the same plain 401. Failures are counted per client
    address; past ``MAESTRO_RATE_LIMIT_AUTH_FAILURES`` they answer 429 instead.
    """

    keyword = "Bearer"

    def authenticate(self, request):
        raw = token_from_authorization(request.META.get("HTTP_AUTHORIZATION", ""))
        if raw is None:
            return None
        parsed = parse_token(raw)
        if parsed is None or parsed.schema != connection.schema_name:
            self._fail(request, None, "malformed or other tenant")
        token = token_cache.tokens.lookup(parsed.prefix)
        if token is None or not secret_matches(parsed.secret, token.key_hash):
            self._fail(request, parsed.prefix, "unknown prefix or wrong secret")
        if not token.is_active or not token.user.is_active:
            self._fail(request, parsed.prefix, "revoked, expired or user inactive")
        self._touch(token)
        actor_var.set(f"token:{token.prefix}")
        return token.user, token

    @staticmethod
    def _fail(request, prefix: str | None, reason: str):
        logger.info(
            "token authentication failed", extra={"token_prefix": prefix, "reason": reason, "ip": client_ip(request)}
        )
        note_auth_failure(request)
        raise exceptions.AuthenticationFailed("Invalid token.")

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'

    @staticmethod
    def _touch(token: ApiToken) -> None:
        """Record last use, at most once per resolution window (one cheap UPDATE, not one per request)."""
        now = timezone.now()
        window = timedelta(seconds=settings.API_TOKEN_LAST_USED_RESOLUTION_SECONDS)
        if token.last_used_at is None or now - token.last_used_at >= window:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
            token_cache.tokens.note_last_used(token)
