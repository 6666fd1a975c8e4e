"""Screenshots of the running dashboard for the manual (docs/screenshots/*.png), taken from the real product.

The script creates a throwaway tenant in the dev database, seeds it with the demo data (``seed_demo``'s code:
projects with teams, artifact usage, runs with metric curves, outcomes, spec embeddings, a trained success model
and artifact impact), starts gunicorn with production settings (minus the HTTPS redirect), signs in through the
login form in the system Chromium (Playwright) and saves one PNG per page, 1280 px wide (the top 860–1500 px), plus
the what-if page on a phone (390 × 844, what the screen shows).
The tenant is dropped at the end, also on error or Ctrl-C. It stops with an error on any JavaScript console error
or failed request, so a broken page is never published.

    .venv/bin/python scripts/dashboard_screenshots.py [--projects 120] [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from _harness import gunicorn, progress, setup_django, throwaway_tenant  # noqa: E402

PASSWORD = "screenshots-password-7391"
VIEWPORT = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
TENANT_NAME = "Acme ML (demo data)"


def seed(slug: str, *, projects: int, seed_value: int) -> dict:
    """Seed the tenant with the demo data; return the ids the pages need and set the admin's password."""
    from django.contrib.auth import get_user_model
    from django.db.models import Count
    from django_tenants.utils import schema_context

    from apps.metrics.models import Run
    from apps.projects.models import Project
    from apps.recommendations.demo.seed import seed_tenant
    from apps.recommendations.models import ArtifactImpact
    from apps.tenants.models import Tenant

    with schema_context(slug):
        result = seed_tenant(projects=projects, seed=seed_value, runs_per_project=3, progress=progress)
        progress(f"seeded {result.created} projects; training {getattr(result.training, 'status', None)}")
        Tenant.objects.filter(schema_name=slug).update(name=TENANT_NAME)
        admin = get_user_model().objects.get(username="admin")
        admin.set_password(PASSWORD)
        admin.save(update_fields=["password"])
        project = (
            Project.objects.filter(status="completed")
            .annotate(run_count=Count("runs"))
            .filter(run_count__gte=2)
            .order_by("id")
            .first()
        )
        runs = list(Run.objects.filter(project=project).order_by("id").values_list("pk", flat=True)[:2])
        impact = ArtifactImpact.objects.filter(status="ok").order_by("-impact").first()
        return {"project": project.pk, "runs": runs, "artifact": impact.artifact_id}


def shoot(port: int, host: str, ids: dict, out: Path) -> list[Path]:
    """Sign in and save one screenshot per page; raise on any console error or failed request."""
    from playwright.sync_api import sync_playwright

    from tests.support.live_server import CHROMIUM_ARGS, CHROMIUM_PATH

    base = f"http://{host}:{port}"
    # (file name, path, selector that shows the page has settled, height of the picture in CSS pixels)
    shots = [
        ("home", "/", None, 1000),
        ("what-if", f"/what-if?project={ids['project']}", '[data-testid="predicted-success"]', 1000),
        ("project-detail", f"/projects/{ids['project']}/", "#similar-title", 1500),
        ("compare-runs", f"/runs/compare?ids={ids['runs'][0]}&ids={ids['runs'][1]}", "[data-chart-ready='1']", 1100),
        ("artifact-detail", f"/artifacts/{ids['artifact']}/", None, 860),
        # linked from docs/dashboard.md (not shown inline)
        ("runs", "/runs/?sort=-metrics.val_accuracy", None, 900),
        ("run-detail", f"/runs/{ids['runs'][0]}/", "[data-chart-ready='1']", 1100),
        ("models", "/models", "[data-chart-ready='1']", 1300),
        ("help-log-runs", f"/help/log-runs?project={ids['project']}", None, 1300),
    ]
    problems: list[str] = []
    saved = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM_PATH, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport=VIEWPORT).new_page()
        page.on("console", lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None)
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        page.on("requestfailed", lambda req: problems.append(f"request failed: {req.url} {req.failure}"))
        page.on(
            "response", lambda resp: problems.append(f"HTTP {resp.status}: {resp.url}") if resp.status >= 400 else None
        )
        page.goto(f"{base}/accounts/login/")
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{base}/")
        for name, path, ready, height in shots:
            progress(f"screenshot {name}: {path}")
            page.goto(base + path)
            if ready:
                page.wait_for_selector(ready, timeout=60_000)
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(600)  # chart animations settle
            target = out / f"{name}.png"
            height = min(height, page.evaluate("() => document.documentElement.scrollHeight"))
            page.screenshot(path=str(target), full_page=True, clip={"x": 0, "y": 0, "width": 1280, "height": height})
            saved.append(target)
        phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
        phone.add_cookies(page.context.cookies())
        small = phone.new_page()
        small.on("console", lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None)
        small.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        progress("screenshot what-if-phone")
        small.goto(f"{base}/what-if?project={ids['project']}")
        small.wait_for_selector('[data-testid="sticky-summary"]', timeout=60_000)
        small.wait_for_load_state("networkidle")
        small.wait_for_timeout(600)
        target = out / "what-if-phone.png"
        small.screenshot(path=str(target))
        saved.append(target)
        browser.close()
    if problems:
        raise RuntimeError("browser problems:\n" + "\n".join(problems))
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=120, help="demo projects to seed (the screenshots' data)")
    parser.add_argument("--seed", type=int, default=11, help="demo data seed: the same seed gives the same data")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    os.chdir(ROOT)
    setup_django()
    from django.core.management import call_command

    args.out.mkdir(parents=True, exist_ok=True)
    progress("collectstatic (production settings serve hashed static files from the manifest)")
    call_command("collectstatic", interactive=False, verbosity=0)
    started = time.monotonic()
    with throwaway_tenant() as tenant:
        ids = seed(tenant.slug, projects=args.projects, seed_value=args.seed)
        with gunicorn(2) as server:
            # Playwright's sync API runs an event loop in this thread; no ORM call happens until it has stopped.
            saved = shoot(server.port, tenant.host, ids, args.out)
    for path in saved:
        progress(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {path.stat().st_size // 1024} KB")
    progress(f"done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
