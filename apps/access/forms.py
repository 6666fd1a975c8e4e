"""Dashboard forms for object permission grants."""

from __future__ import annotations

from django import forms

from apps.access import policy

LEVEL_CHOICES = [
    ("view", "View — see it"),
    ("change", "Change — edit it, log runs"),
    ("manage", "Manage — also delete and grant"),
]


class GrantForm(forms.Form):
    """Give a user or a group a level on the object. ``principal`` is ``user:<id>`` or ``group:<id>``."""

    principal = forms.ChoiceField(label="User or group")
    level = forms.ChoiceField(choices=LEVEL_CHOICES, initial=policy.VIEW)

    def __init__(self, *args, users, groups, **kwargs):
        super().__init__(*args, **kwargs)
        self.users = {str(user.pk): user for user in users}
        self.groups = {str(group.pk): group for group in groups}
        self.fields["principal"].choices = [
            ("", "Choose…"),
            ("Users", [(f"user:{pk}", user.username) for pk, user in self.users.items()]),
            ("Groups", [(f"group:{pk}", group.name) for pk, group in self.groups.items()]),
        ]

    def principal_kwargs(self) -> dict:
        kind, _, pk = self.cleaned_data["principal"].partition(":")
        return {"user": self.users[pk]} if kind == "user" else {"group": self.groups[pk]}
