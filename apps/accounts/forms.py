"""Dashboard forms for identity: API tokens."""

from __future__ import annotations

from datetime import datetime, time

from django import forms
from django.utils import timezone

from apps.accounts.choices import Role, TokenScope
from apps.accounts.validators import USERNAME_CHARACTERS, validate_username
from maestro.ui.forms import DateInput


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. “laptop” or “CI”.")
    scope = forms.ChoiceField(
        choices=TokenScope.choices,
        initial=TokenScope.WRITE,
        help_text="read: only reads; write: also logs runs and edits; admin: also administers the organisation.",
    )
    expires_on = forms.DateField(
        required=False, widget=DateInput(), label="Expires on", help_text="Optional. The token stops at midnight UTC."
    )

    def expires_at(self) -> datetime | None:
        day = self.cleaned_data.get("expires_on")
        if day is None:
            return None
        return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def role_choices(actor) -> list[tuple[str, str]]:
    """Roles ``actor`` may hand out: only owners make owners."""
    return [(value, label) for value, label in Role.choices if value != Role.OWNER or actor.role == Role.OWNER]


class UserCreateForm(forms.Form):
    username = forms.CharField(
        max_length=150, validators=[validate_username], help_text=f"Only {USERNAME_CHARACTERS}; no spaces."
    )
    email = forms.EmailField(required=False)
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)
    is_service_account = forms.BooleanField(
        required=False, label="Service account", help_text="A non-human account for API tokens; it cannot log in."
    )
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        label="Initial password",
        help_text="People only. Without one they cannot sign in until an administrator sets it (Django admin).",
    )

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = role_choices(actor)


class UserEditForm(forms.Form):
    email = forms.EmailField(required=False)
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    role = forms.ChoiceField(choices=Role.choices)
    is_active = forms.BooleanField(required=False, label="Active", help_text="Deactivated users cannot sign in.")

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        if actor.role != Role.OWNER and self.initial.get("role") != Role.OWNER:
            self.fields["role"].choices = role_choices(actor)


class GroupForm(forms.Form):
    name = forms.CharField(max_length=150, label="New group")


class GroupMemberForm(forms.Form):
    user = forms.ModelChoiceField(queryset=None, label="Add a member")

    def __init__(self, *args, users, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = users


class ServiceTokenForm(TokenForm):
    user = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="Myself", label="For", help_text="Yourself or a service account."
    )

    def __init__(self, *args, service_accounts, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = service_accounts
        self.order_fields(["user", "name", "scope", "expires_on"])
