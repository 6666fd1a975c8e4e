"""Run the tests' OpenID provider: ``TEST_IDP_CONFIG=<json> python -m tests.support.oidc_provider <port>``.

Creates the SQLite database, the people and the clients from the config, then serves on 127.0.0.1:<port> until
terminated."""

import os
import sys

os.environ["DJANGO_SETTINGS_MODULE"] = "tests.support.oidc_provider.settings"

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.servers.basehttp import run  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from oauth2_provider.models import Application  # noqa: E402


def seed() -> None:
    call_command("migrate", verbosity=0, interactive=False)
    for person in settings.CONFIG["people"]:
        User.objects.create_user(username=person["username"], password=person["password"], email=person["email"])
    for client in settings.CONFIG["clients"]:
        Application.objects.create(
            name=client["client_id"],
            client_id=client["client_id"],
            client_secret=client["client_secret"],
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
            redirect_uris=" ".join(client["redirect_uris"]),
            post_logout_redirect_uris=" ".join(client["post_logout_redirect_uris"]),
            algorithm=Application.RS256_ALGORITHM,
            skip_authorization=False,
        )


if __name__ == "__main__":
    seed()
    run("127.0.0.1", int(sys.argv[1]), get_wsgi_application(), threading=True)
