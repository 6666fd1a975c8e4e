"""Password change through ``authenticate()``, for every page that checks a signed-in user's old password.

Django's password-change form compares the old password with ``check_password`` directly, outside the authentication
backends, so django-axes neither counts wrong guesses nor locks out: a stolen session could guess the password there
without limit. These classes check it through ``authenticate()`` instead, so guesses count and lock out exactly as at
login, and failures are audited. The dashboard's page and both admin sites (tenant and platform) use them.

Password policies: an app that can turn password sign-in off for some users (single sign-on's "SSO only" mode,
``apps.sso``) registers a policy here at start-up (``register_password_policy``). ``PasswordPolicyBackend`` (in
``AUTHENTICATION_BACKENDS`` instead of Django's ``ModelBackend``) then refuses a correct password for such a user, so
the dashboard login, the admin login and every other ``authenticate()`` call refuse alike, and the password-change
pages answer 403 instead of the form. The refusal happens after the password check and looks like a wrong password
(and counts towards the lockout like one), so it tells nothing about the account.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth import authenticate
from django.contrib.auth import views as auth_views
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import PasswordChangeForm
from django.core.exceptions import ValidationError
from django.shortcuts import render
from django.urls import reverse

# user → why password sign-in is off for them (shown to them), or None when it is allowed
PasswordPolicy = Callable[[object], str | None]
_policies: list[PasswordPolicy] = []


def register_password_policy(policy: PasswordPolicy) -> PasswordPolicy:
    """Consult ``policy`` for every password sign-in and password change (idempotent; usable as a decorator)."""
    if policy not in _policies:
        _policies.append(policy)
    return policy


def password_refusal(user) -> str | None:
    """Why ``user`` may not use a password at all (the first registered policy that refuses), or None."""
    for policy in _policies:
        reason = policy(user)
        if reason:
            return reason
    return None


class PasswordPolicyBackend(ModelBackend):
    """Django's ``ModelBackend``, refusing users for whom a registered policy turns passwords off."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None and password_refusal(user):
            return None
        return user


class LockoutAwarePasswordChangeForm(PasswordChangeForm):
    """Checks the old password through ``authenticate()`` (see the module docstring)."""

    required_css_class = "required"  # as the admin's own form, so its template marks the fields

    def __init__(self, user, *args, request=None, **kwargs):
        self.request = request
        super().__init__(user, *args, **kwargs)

    def clean_old_password(self):
        old_password = self.cleaned_data["old_password"]
        if authenticate(self.request, username=self.user.get_username(), password=old_password) is None:
            raise ValidationError(self.error_messages["password_incorrect"], code="password_incorrect")
        return old_password


class LockoutAwarePasswordChangeView(auth_views.PasswordChangeView):
    form_class = LockoutAwarePasswordChangeForm

    def dispatch(self, request, *args, **kwargs):
        reason = password_refusal(request.user) if request.user.is_authenticated else None
        if reason:
            return render(request, "registration/password_change_refused.html", {"reason": reason}, status=403)
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}


class LockoutAwareAdminSiteMixin:
    """For ``AdminSite`` subclasses: the admin's own "change password" page through the lockout-aware form."""

    def password_change(self, request, extra_context=None):
        defaults = {
            "success_url": reverse("admin:password_change_done", current_app=self.name),
            "extra_context": {**self.each_context(request), **(extra_context or {})},
        }
        if self.password_change_template is not None:
            defaults["template_name"] = self.password_change_template
        request.current_app = self.name
        return LockoutAwarePasswordChangeView.as_view(**defaults)(request)
