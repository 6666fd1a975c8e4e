"""Dashboard forms for identity: API tokens."""

from __future__ import annotations

from datetime import datetime, time

from django import forms
from django.utils import timezone

from apps.accounts.choices import TokenScope
from apps.dashboard.forms import DateInput


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
