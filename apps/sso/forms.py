"""The SSO settings form: text the owner types (domains one per line, mappings as ``value = role``) parsed into the
configuration's fields; the service checks the rest."""

from __future__ import annotations

from django import forms

from apps.sso.models import DEFAULT_SCOPES, MAPPABLE_ROLES, SsoConfig

ROLE_VALUES = [role.value for role in MAPPABLE_ROLES]


class SsoConfigForm(forms.Form):
    enabled = forms.BooleanField(required=False, label="Enabled", help_text="Show “Sign in with …” on the login page.")
    display_name = forms.CharField(max_length=60, label="Provider name", help_text="e.g. Keycloak, Okta, Google.")
    issuer = forms.URLField(
        max_length=500,
        assume_scheme="https",
        label="Issuer URL",
        help_text="Exactly as the provider's discovery document says, e.g. https://id.example.com/realms/acme.",
    )
    client_id = forms.CharField(max_length=255, label="Client ID")
    client_secret = forms.CharField(
        required=False,
        strip=False,
        label="Client secret",
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}, render_value=False),
        help_text="Stored encrypted and never shown again. Leave empty to keep the current one.",
    )
    scopes = forms.CharField(max_length=255, initial=DEFAULT_SCOPES, help_text="Must include openid.")
    allowed_domains = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Allowed e-mail domains",
        help_text="One per line. Only people whose e-mail address is in one of them can sign in.",
    )
    role_claim = forms.CharField(max_length=100, initial="groups", label="Role claim")
    role_mapping = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        label="Claim value → role",
        help_text=f"One per line: “claim value = role” with role one of {', '.join(ROLE_VALUES)}. "
        "The most powerful match wins. Owners are never made by the provider.",
    )
    default_role = forms.ChoiceField(
        required=False,
        choices=[("", "None: refuse sign-in"), *[(role.value, role.label) for role in MAPPABLE_ROLES]],
        label="Role when nothing matches",
    )
    sso_only = forms.BooleanField(
        required=False,
        label="SSO only",
        help_text="Turn password sign-in off for everyone but owners, who keep a password for emergencies.",
    )

    @classmethod
    def initial_for(cls, config: SsoConfig | None) -> dict:
        if config is None:
            return {}
        return {
            "enabled": config.enabled,
            "display_name": config.display_name,
            "issuer": config.issuer,
            "client_id": config.client_id,
            "scopes": config.scopes,
            "allowed_domains": "\n".join(config.allowed_domains),
            "role_claim": config.role_claim,
            "role_mapping": "\n".join(f"{entry['value']} = {entry['role']}" for entry in config.role_mapping),
            "default_role": config.default_role,
            "sso_only": config.sso_only,
        }

    def clean_allowed_domains(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["allowed_domains"].splitlines() if line.strip()]

    def clean_role_mapping(self) -> list[dict]:
        mapping = []
        for number, line in enumerate(self.cleaned_data["role_mapping"].splitlines(), start=1):
            if not line.strip():
                continue
            value, sep, role = line.rpartition("=")
            value, role = value.strip(), role.strip().lower()
            if not sep or not value or role not in ROLE_VALUES:
                raise forms.ValidationError(
                    f"Line {number} (“{line.strip()}”): write “claim value = role”, "
                    f"role one of {', '.join(ROLE_VALUES)}."
                )
            mapping.append({"value": value, "role": role})
        return mapping

    def config_data(self) -> dict:
        """The configuration's fields, for ``services.sso_config_save`` (the secret is passed apart)."""
        return {name: value for name, value in self.cleaned_data.items() if name != "client_secret"}
