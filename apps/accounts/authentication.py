"""DRF authentication with Maestro API tokens (``Authorization: Bearer mae_<tenant>_<prefix>_<secret>``)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone
from rest_framework import authentication, exceptions

from apps.accounts.models import ApiToken
from apps.accounts.tokens import parse_token, secret_matches, token_from_authorization
from maestro.context import actor_var


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """Verify a token against the hash stored in the current tenant's schema.

    A token naming another tenant than the one this request is routed to, an unknown prefix, a wrong secret, a
    revoked or expired token, or an inactive user all answer the same plain 401.
    """

    keyword = "Bearer"

    def authenticate(self, request):
        raw = token_from_authorization(request.META.get("HTTP_AUTHORIZATION", ""))
        if raw is None:
            return None
        parsed = parse_token(raw)
        if parsed is None or parsed.schema != connection.schema_name:
            raise exceptions.AuthenticationFailed("Invalid token.")
        token = ApiToken.objects.select_related("user").filter(prefix=parsed.prefix).first()
        if token is None or not secret_matches(parsed.secret, token.key_hash):
            raise exceptions.AuthenticationFailed("Invalid token.")
        if not token.is_active or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid token.")
        self._touch(token)
        actor_var.set(f"token:{token.prefix}")
        return token.user, token

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
