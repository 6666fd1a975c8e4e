"""The session backend of single sign-on.

``django.contrib.auth.login`` records which backend signed a session in, and every later request asks that backend
for the user. Sessions started by the OpenID Connect callback name this one: it restores active users by id and has
no ``authenticate`` of its own, so nothing can sign in through it except the callback, after the provider's ID token
was verified (``apps.sso.oidc``).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import BaseBackend

BACKEND_PATH = "apps.sso.backends.SsoSessionBackend"


class SsoSessionBackend(BaseBackend):
    def get_user(self, user_id):
        user = get_user_model()._default_manager.filter(pk=user_id).first()
        return user if user is not None and user.is_active else None
