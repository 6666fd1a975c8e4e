"""django-oauth-toolkit's validator with the people's claims from the config, and the clients' deliberate faults."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from oauth2_provider.oauth2_validators import OAuth2Validator


def _client(client_id: str) -> dict:
    return next((c for c in settings.CONFIG["clients"] if c["client_id"] == client_id), {})


class Validator(OAuth2Validator):
    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, "groups": "groups"}

    def get_additional_claims(self, request):
        person = next(p for p in settings.CONFIG["people"] if p["username"] == request.user.username)
        return {
            "email": person["email"],
            "email_verified": person["email_verified"],
            "given_name": person["given_name"],
            "family_name": person["family_name"],
            "groups": person["groups"],
        }

    def get_id_token_dictionary(self, token, token_handler, request):
        claims, expiration_time = super().get_id_token_dictionary(token, token_handler, request)
        lifetime = _client(request.client_id).get("id_token_lifetime")
        if lifetime is not None:
            expiration_time = timezone.now() + timedelta(seconds=lifetime)
            claims["exp"] = int(expiration_time.timestamp())
        return claims, expiration_time

    def finalize_id_token(self, id_token, token, token_handler, request):
        audience = _client(request.client_id).get("audience")
        if audience:
            id_token["aud"] = audience
        return super().finalize_id_token(id_token, token, token_handler, request)
