"""Password change through ``authenticate()``, for every page that checks a signed-in user's old password.

Django's password-change form compares the old password with ``check_password`` directly, outside the authentication
backends, so django-axes neither counts wrong guesses nor locks out: a stolen session could guess the password there
without limit. These classes check it through ``authenticate()`` instead, so guesses count and lock out exactly as at
login, and failures are audited. The dashboard's page and both admin sites (tenant and platform) use them.
"""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordChangeForm
from django.core.exceptions import ValidationError
from django.urls import reverse


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
