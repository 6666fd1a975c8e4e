"""Script injection: names and texts holding ``<img src=x onerror=window.__xss=1>`` and
``<script>window.__xss=1</script>`` are rendered as text on every page that shows them — checked in Chromium.

A tenant is created whose name, admin, projects, team, runs (params, tags), artifacts and integrations all carry
both payloads. The pages are enumerated, not listed: every dashboard route of the tenant URL configuration (path
parameters filled with the ids of those objects) and, in the tenant's admin, the list and change page of every
registered model holding them. On each page: ``window.__xss`` stays undefined, no ``img[src=x]`` element and no
script holding the payload exists in the DOM (so the test does not depend on the Content-Security-Policy, which would
also block an inline script), and nothing fails in the console. At least the pages that render the project, the
tenant and the user must show the payload as text.
"""

from __future__ import annotations

import http.client
import itertools
import urllib.parse

import pytest
from django.contrib import admin
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from tests.integrations.helpers import outside_event_loop

pytestmark = [pytest.mark.browser, pytest.mark.slow]

IMG = "<img src=x onerror=window.__xss=1>"
SCRIPT = "<script>window.__xss=1</script>"
PAYLOAD = f"{IMG}{SCRIPT}"
SKIPPED_PREFIXES = ("api/", "admin/", "accounts/", "favicon.ico")
PROBE = """() => ({
  xss: window.__xss,
  images: document.querySelectorAll('img[src="x"]').length,
  scripts: Array.from(document.scripts).filter((s) => s.textContent.includes('__xss')).length,
  shown: document.body ? document.body.innerText.includes('onerror=window.__xss=1') : false,
})"""
# Elements that make htmx request more of the page by itself once it has loaded (the templates use ``load``), or a
# request of it still in flight. Only on a page holding one is there anything to wait for after the load event.
HTMX_PENDING = """() => document.querySelector(
  '[hx-trigger*="load"], [hx-trigger*="revealed"], [hx-trigger*="intersect"], [hx-trigger*="every"], .htmx-request'
) !== null"""


def _seed():
    from django.db import connection

    from apps.accounts.models import User
    from apps.artifacts.models import Artifact, ArtifactUsage, ArtifactVersion
    from apps.integrations.services import integration_create
    from apps.metrics.models import Run, RunParam, RunTag
    from apps.projects.models import Project, TeamMember
    from tests.support.tenants import make_tenant

    ctx = make_tenant("xssprobe", f"Org {PAYLOAD}")
    with ctx.context():
        owner = User.objects.get(username=ctx.admin_username)
        User.objects.filter(pk=owner.pk).update(first_name=IMG, last_name=SCRIPT)
        project = Project.objects.create(name=f"P {PAYLOAD}", slug="xss-project", spec=PAYLOAD, owner=owner,
                                         visibility="tenant", tags=["x"])  # fmt: skip
        member = TeamMember.objects.create(project=project, display_name=PAYLOAD, role="ml_engineer",
                                           experience_level="mid")  # fmt: skip
        run = Run.objects.create(project=project, name=PAYLOAD, start_time=timezone.now())
        RunParam.objects.create(run=run, key="p", value=PAYLOAD)
        RunTag.objects.create(run=run, key="t", value=PAYLOAD)
        artifact = Artifact.objects.create(name=f"A {PAYLOAD}", description=PAYLOAD, type="dataset", owner=owner)
        version = ArtifactVersion.objects.create(artifact=artifact, version="1.0.0", changelog=PAYLOAD)
        usage = ArtifactUsage.objects.create(project=project, artifact=artifact, artifact_version=version,
                                             used_by=owner, context=PAYLOAD)  # fmt: skip
        integration = integration_create(user=owner, project=project, provider="github", name=PAYLOAD).integration
        objects = [owner, project, member, run, artifact, version, usage, integration]
        ids = sorted({obj.pk for obj in objects})
        admin_pages = []
        for obj in objects:
            model = type(obj)
            if model in admin.site._registry:
                meta = model._meta
                admin_pages.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
                admin_pages.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk]))
    connection.set_schema_to_public()
    return ctx, ids, admin_pages, project.pk


def _drop(ctx):
    from django.db import connection

    from apps.tenants.models import Tenant

    connection.set_schema_to_public()
    Tenant.objects.get(schema_name=ctx.schema).delete(force_drop=True)


def dashboard_paths(ids: list[int]) -> list[list[str]]:
    """For every dashboard route: the candidate paths (one per way of filling its parameters with ``ids``)."""
    routes = []

    def walk(patterns, prefix: str, converters: dict):
        for entry in patterns:
            text = str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + text, {**converters, **entry.pattern.converters})
            elif isinstance(entry, URLPattern):
                routes.append((prefix + text, {**converters, **getattr(entry.pattern, "converters", {})}))

    walk(get_resolver("maestro.urls").url_patterns, "", {})
    found = []
    for route, converters in routes:
        # a regular-expression route (re_path, also under a path() prefix: MLflow's ajax-api/) has no parameters to
        # fill in: its candidate would be the pattern's own text, which no request matches (it answers 404)
        if route.startswith(SKIPPED_PREFIXES) or "^" in route:
            continue
        names = list(converters)
        candidates = []
        for values in itertools.product(ids, repeat=len(names)):
            path = route
            for name, value in zip(names, values, strict=True):
                path = path.replace(f"<int:{name}>", str(value)).replace(f"<{name}>", str(value))
            candidates.append("/" + path)
        found.append(candidates)
    return found


def _is_html_page(page, url: str) -> bool:
    """Whether GET ``url`` answers 200 with an HTML page shown inline (not a POST-only route, a miss, a redirect or a
    download), asked from Python with the browser's session cookie (Python cannot resolve ``*.localhost``, so it
    connects to loopback and sends the host name)."""
    parts = urllib.parse.urlsplit(url)
    cookies = "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies())
    connection = http.client.HTTPConnection("127.0.0.1", parts.port, timeout=30)
    try:
        connection.request("GET", parts.path, headers={"Host": parts.netloc, "Cookie": cookies})
        response = connection.getresponse()
        return (
            response.status == 200
            and (response.getheader("Content-Type") or "").startswith("text/html")
            and "attachment" not in (response.getheader("Content-Disposition") or "")
        )
    finally:
        connection.close()


def test_no_script_runs_on_any_page_that_renders_hostile_text(committed, live_server_url, page):
    ctx, ids, admin_pages, project_pk = outside_event_loop(_seed)
    try:
        page.goto(live_server_url.url(ctx.host, "/accounts/login/"))
        page.get_by_label("Username").fill(ctx.admin_username)
        page.get_by_label("Password").fill(ctx.admin_password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(live_server_url.url(ctx.host, "/"))

        checked, shown = [], []
        page._expect_http_errors = True  # candidate paths of routes may 404; real failures are asserted below
        for candidates in [*dashboard_paths(ids), *([p] for p in admin_pages)]:
            for path in candidates:
                # ask first without navigating: POST-only routes (405) and misses (404) are not pages, and a
                # navigation to an empty error answer makes Chromium log a failed request
                if not _is_html_page(page, live_server_url.url(ctx.host, path)):
                    continue
                response = page.goto(live_server_url.url(ctx.host, path))
                if page.evaluate(HTMX_PENDING):
                    page.wait_for_load_state("networkidle")  # parts loaded by htmx after the page are probed too
                if response is None or response.status != 200:
                    continue
                probe = page.evaluate(PROBE)
                assert probe["xss"] is None, f"a script ran on {path}"
                assert probe["images"] == 0 and probe["scripts"] == 0, f"the payload became markup on {path}"
                checked.append(path)
                if probe["shown"]:
                    shown.append(path)
                break
        print(f"\nXSS probe: {len(checked)} pages checked, payload shown as text on {len(shown)}: {shown}")
        assert "/" in shown, "the home page shows the tenant and user names"
        assert f"/projects/{project_pk}/delivery-panel" in shown
        assert len([p for p in shown if p.startswith("/admin/")]) >= len(admin_pages) // 2
    finally:
        outside_event_loop(lambda: _drop(ctx))
