from __future__ import annotations

from django import forms

from apps.webhooks.choices import PayloadFormat
from maestro.events import EVENT_TYPES


class SubscriptionForm(forms.Form):
    name = forms.CharField(max_length=100)
    url = forms.CharField(
        label="URL",
        max_length=2000,
        help_text="Where deliveries are POSTed (http or https); private and loopback addresses are refused.",
    )
    event_types = forms.MultipleChoiceField(
        label="Events",
        choices=[(name, name) for name in EVENT_TYPES],
        widget=forms.CheckboxSelectMultiple,
    )
    payload_format = forms.ChoiceField(label="Format", choices=PayloadFormat.choices, initial=PayloadFormat.MAESTRO)
    is_active = forms.BooleanField(label="Active", required=False, initial=True)
