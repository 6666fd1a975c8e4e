"""Issue 22 item 10: error pages that look like the product. `make run` serves no debug page (DEBUG is off unless a
developer turns it on with `make dev`), unknown URLs and refusals get styled 404/403 pages, the 500 page needs
neither the database nor a context processor, and the Django admin carries the product's name and colours."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import RequestFactory

from maestro.api.errors import server_error
from tests.dashboard.helpers import signed_in, text

pytestmark = pytest.mark.django_db


def test_local_settings_leave_debug_off_unless_asked_and_make_dev_asks():
    env = {key: value for key, value in os.environ.items() if key != "DEBUG"}
    probe = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"

    def debug(extra: dict) -> str:
        run = subprocess.run(
            [sys.executable, "-c", probe], env={**env, "DJANGO_SETTINGS_MODULE": "maestro.settings.local", **extra},
            capture_output=True, text=True, cwd=settings.BASE_DIR, timeout=120, check=True,
        )  # fmt: skip
        return run.stdout.strip().splitlines()[-1]

    assert debug({}) == "False"  # what `make run` gets
    assert debug({"DEBUG": "1"}) == "True"  # what `make dev` passes
    makefile = (Path(settings.BASE_DIR) / "Makefile").read_text()
    assert "dev:\n\t$(MAKE) run DEBUG=1" in makefile and "DEBUG=$(if $(DEBUG),$(DEBUG),false)" in makefile


def test_an_unknown_url_gets_the_styled_404_without_the_url_list(tenant_a):
    assert settings.DEBUG is False
    response = signed_in(tenant_a, role="lead").client.get("/no/such/page")
    html = response.content.decode()
    assert response.status_code == 404 and 'data-testid="error-404"' in html
    assert "Page not found" in html and 'href="/projects/"' in html and "css/maestro.css" in html
    assert "URLconf" not in html and "api/v1/" not in html  # none of Django's debug listing


def test_a_lead_opening_the_admin_area_gets_a_styled_403_that_says_why_and_where_to_go(tenant_a):
    response = signed_in(tenant_a, role="lead").client.get("/manage/")
    page = text(response.content.decode())
    assert response.status_code == 403 and "You can't open this page" in page
    assert "The lead role may not create users and service accounts." in page
    assert "ask an owner or admin of your organisation" in page and "Object grants you manage" in page


def test_the_500_page_needs_no_database_and_no_context(django_assert_num_queries):
    request = RequestFactory().get("/projects/", HTTP_HOST="alpha.localhost")
    with django_assert_num_queries(0):
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            response = server_error(request)
    html = response.content.decode()
    assert response.status_code == 500 and 'data-testid="error-500"' in html
    assert "Something went wrong on our side" in html and f"{settings.STATIC_URL}css/maestro.css" in html


def test_django_admin_wears_the_product_name_colours_and_plain_model_names(tenant_a):
    html = signed_in(tenant_a).client.get("/admin/").content.decode()
    assert "Maestro admin" in html and "css/admin.css" in html and "Django administration" not in html
    assert ">API tokens<" in html and ">CI runs<" in html and "Api tokens" not in html and "Ci runs" not in html
