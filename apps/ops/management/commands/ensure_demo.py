"""Development convenience for `make run`: make sure the demo tenant exists and print how to log in."""

import os
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django_tenants.utils import schema_context

from apps.ops.services import tenant_provision
from apps.tenants.models import Tenant

CREDENTIALS_FILE = Path(settings.BASE_DIR) / ".local" / "demo-credentials.txt"


class Command(BaseCommand):
    help = "Create the demo tenant once (generated admin password saved to .local/, mode 600) and print the login."

    def add_arguments(self, parser):
        parser.add_argument("--slug", default="demo")

    def handle(self, *args, slug, **opts):
        domain = f"{slug}.{settings.MAESTRO_TENANT_DOMAIN_SUFFIX}"
        url = f"http://{domain}:{settings.MAESTRO_BASE_PORT}/"
        if not Tenant.objects.filter(schema_name=slug).exists():
            self.stdout.write(f"Creating the '{slug}' tenant…")
            result = tenant_provision(slug=slug, name="Demo ML team", domain=domain, admin_email="admin@demo.test")
            CREDENTIALS_FILE.parent.mkdir(parents=True, exist_ok=True)
            CREDENTIALS_FILE.write_text(f"{result.admin_username}\n{result.password}\n")
            os.chmod(CREDENTIALS_FILE, 0o600)
        username, password = self._saved_credentials()
        self.stdout.write(self.style.SUCCESS(f"Demo tenant: {url}"))
        if username and self._still_valid(slug, username, password):
            self.stdout.write(f"  log in as:  {username}")
            self.stdout.write(f"  password:   {password}   (generated; also in {CREDENTIALS_FILE})")
        else:
            self.stdout.write(
                "  The generated admin password is no longer valid (changed or missing). Set a new one with:\n"
                f"  .venv/bin/python manage.py tenant_command changepassword --schema={slug} admin"
            )

    @staticmethod
    def _saved_credentials():
        try:
            username, password = CREDENTIALS_FILE.read_text().splitlines()[:2]
        except (OSError, ValueError):
            return None, None
        return username, password

    @staticmethod
    def _still_valid(slug, username, password) -> bool:
        with schema_context(slug):
            user = get_user_model().objects.filter(username=username).first()
            return bool(user and user.check_password(password))
