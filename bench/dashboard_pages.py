"""Server-side render time of every dashboard page with a demo-sized tenant.

Target (issue 6): every page p95 ≤ 150 ms with the seeded demo tenant (600 projects, their runs and metrics).

The script creates a throwaway tenant in the dev database, seeds it with ``seed_demo`` (600 projects with teams,
artifact usage, runs with params and metric curves, outcomes, spec embeddings, a trained model and artifact impact)
plus people, a group, tokens and grants for the admin pages, starts gunicorn with
production settings (minus the HTTPS redirect), signs in through the real login form, then requests each page
``--requests`` times in sequence and prints p50/p95 latency and the server CPU (gunicorn workers + their PostgreSQL
backends) per request. Before that, each page is rendered once in this process with Django's test client to count
its SQL statements (the query-count tests in tests/dashboard/ bound the same pages on small data; this shows the
count on the demo-sized tenant). The tenant is dropped at the end, also on error or Ctrl-C.

    .venv/bin/python bench/dashboard_pages.py [--projects 600] [--runs-per-project 3] [--requests 100] [--workers 2]
        [--only "runs (" --only "models"]   # only pages whose label contains one of these
"""

from __future__ import annotations

import argparse
import http.client
import random
import re
import time
from urllib.parse import urlencode

from _harness import gunicorn, percentile, print_table, progress, setup_django, throwaway_tenant, verdict

TARGET_P95_MS = 150.0


def seed(slug: str, *, projects: int, runs_per_project: int, rng: random.Random) -> dict:
    """The demo tenant: ``seed_demo``'s projects (teams, artifact usage, runs with metric curves, outcomes), spec
    embeddings and a trained model with artifact impact; plus people, a group, tokens and grants for the admin
    pages. Returns ids the page URLs need."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django_tenants.utils import schema_context

    from apps.access.services import grant_set
    from apps.accounts.services import token_create
    from apps.artifacts.models import Artifact
    from apps.metrics.models import Run
    from apps.projects.models import Project
    from apps.recommendations.demo.seed import seed_tenant

    User = get_user_model()
    with schema_context(slug):
        result = seed_tenant(projects=projects, seed=rng.randint(1, 10_000), runs_per_project=runs_per_project,
                             progress=progress)  # fmt: skip
        progress(f"seed_demo: {result.created} projects, training {getattr(result.training, 'status', None)}")
        admin = User.objects.get(username="admin")
        people = User.objects.bulk_create(
            [User(username=f"person{i}", email=f"person{i}@bench.test", role=rng.choice(["lead", "member", "viewer"]))
             for i in range(40)]
        )  # fmt: skip
        group = Group.objects.create(name="Bench team")
        group.user_set.add(*people[:10])
        for person in people[:10]:
            token_create(user=person, name="bench")
        project = Project.objects.filter(status="completed").order_by("id").first()
        for person in people[:20]:
            grant_set(actor=admin, obj=project, level="view", user=person)
        runs = list(Run.objects.filter(project=project).order_by("id").values_list("pk", flat=True))
        if len(runs) < 2:
            runs = list(Run.objects.order_by("id").values_list("pk", flat=True)[:2])
        artifact = Artifact.objects.order_by("-usage_count", "id").first()
        return {"project": project.pk, "runs": runs[:2], "artifact": artifact.pk, "user": people[0].pk,
                "group": group.pk}  # fmt: skip


class Browser:
    """Signs in through the login form (CSRF cookie and token, session cookie), then GETs pages."""

    def __init__(self, port: int, host: str):
        self.port, self.host, self.cookies = port, host, {}

    def _request(self, method: str, path: str, body: str | None = None, headers: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        all_headers = {"Host": self.host, "Cookie": cookie, **(headers or {})}
        started = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=all_headers)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        elapsed = (time.perf_counter() - started) * 1000
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";", 1)[0]
        return response.status, data, elapsed

    def login(self, username: str, password: str) -> None:
        status, page, _ = self._request("GET", "/accounts/login/")
        if status != 200:
            raise RuntimeError(f"the login page answered {status}: {page[:300]!r}")
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()
        body = urlencode({"csrfmiddlewaretoken": token, "username": username, "password": password})
        status, _, _ = self._request("POST", "/accounts/login/", body,
                                     {"Content-Type": "application/x-www-form-urlencoded",
                                      "Referer": f"http://{self.host}/accounts/login/"})  # fmt: skip
        if status != 302:
            raise RuntimeError(f"login answered {status}")

    def get(self, path: str) -> tuple[int, float]:
        status, data, ms = self._request("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {data[:300]!r}")
        return status, ms

    def post(self, path: str, form: list[tuple[str, str]]) -> tuple[int, float]:
        """An htmx-style form POST (CSRF token in the header, as the page sends it)."""
        token = next(value for name, value in self.cookies.items() if name.endswith("csrftoken"))
        headers = {"Content-Type": "application/x-www-form-urlencoded", "X-CSRFToken": token, "HX-Request": "true",
                   "Referer": f"http://{self.host}/what-if"}  # fmt: skip
        status, data, ms = self._request("POST", path, urlencode(form), headers)
        if status != 200:
            raise RuntimeError(f"POST {path} answered {status}: {data[:300]!r}")
        return status, ms


def pages(ids: dict) -> list[tuple[str, str | list]]:
    """(label, path) for GETs; (label, form) for the what-if POST. The ``LOGIN`` page is fetched signed out."""
    project, (run_a, run_b), artifact = ids["project"], ids["runs"], ids["artifact"]
    return [
        (LOGIN, "/accounts/login/"),
        ("password change form", "/accounts/password/"),
        ("home", "/"),
        ("projects (first page)", "/projects/"),
        ("projects (filtered, sorted by success)", "/projects/?status=completed&tag=retail&sort=-success"),
        ("projects (page 12)", "/projects/?page=12"),
        ("project detail", f"/projects/{project}/"),
        ("project edit form", f"/projects/{project}/edit"),
        ("project create form", "/projects/new"),
        ("delivery panel (htmx)", f"/projects/{project}/delivery-panel"),
        ("runs (first page)", "/runs/"),
        ("runs (sorted by a metric)", "/runs/?sort=-metrics.val/accuracy"),
        ("runs (search expression)", "/runs/?" + urlencode({"q": "params.optimizer = 'adam' AND metrics.loss < 0.1"})),
        ("run detail (3 charts)", f"/runs/{run_a}/"),
        ("compare 2 runs", f"/runs/compare?ids={run_a}&ids={run_b}"),
        ("artifacts (by impact)", "/artifacts/"),
        ("artifacts (search)", "/artifacts/?q=number+1&sort=usage"),
        ("artifact detail", f"/artifacts/{artifact}/"),
        ("artifact create form", "/artifacts/new"),
        ("API tokens", "/account/tokens"),
        ("admin: users", "/manage/users"),
        ("admin: user", f"/manage/users/{ids['user']}"),
        ("admin: groups", "/manage/groups"),
        ("admin: group", f"/manage/groups/{ids['group']}"),
        ("admin: grants", f"/manage/grants?object_type=project&object_id={project}"),
        ("admin: grants search", "/manage/grants?q=forecast"),
        ("admin: tokens", "/manage/tokens"),
        ("admin: audit log", "/manage/audit"),
        ("admin: audit log filtered", "/manage/audit?category=security&action_prefix=auth."),
        ("admin: audit CSV export (security)", "/manage/audit/export?category=security"),
        ("what-if (empty)", "/what-if"),
        ("what-if (from a project)", f"/what-if?project={project}"),
        ("similar projects (htmx)", f"/projects/{project}/similar"),
        ("models", "/models"),
        ("what-if prediction (htmx POST)", WHAT_IF),
        ("what-if prediction saved (Predict)", [*WHAT_IF, ("predict", "1")]),
        ("projects CSV (filtered)", "/projects/?status=completed&sort=-success&format=csv"),
        ("runs CSV (one project)", f"/runs/?project={project}&format=csv"),
        ("models CSV", "/models?format=csv"),
        ("help: how to log runs", f"/help/log-runs?project={project}"),
        ("help: run search", "/help/run-search"),
    ]


LOGIN = "login form (signed out)"


def count_queries(host: str, slug: str, entries: list[tuple[str, str | list]]) -> dict[str, int]:
    """SQL statements each page runs, rendered in this process with Django's test client as the tenant's admin
    (django-tenants' search_path statements included, as in the query-count tests); each page is rendered twice and
    the second render counts."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django_tenants.utils import schema_context

    signed_out, client = Client(HTTP_HOST=host), Client(HTTP_HOST=host)
    with schema_context(slug):
        client.force_login(get_user_model().objects.get(username="admin"))
    counts = {}
    for label, path in [*entries, *entries]:  # the second round counts, with caches as warm as in the timed runs
        with CaptureQueriesContext(connection) as captured:
            if isinstance(path, list):
                form: dict[str, list[str]] = {}
                for key, value in path:
                    form.setdefault(key, []).append(value)
                response = client.post("/what-if/predict", form, headers={"HX-Request": "true"})
            else:
                response = (signed_out if label == LOGIN else client).get(path)
            if response.streaming:
                b"".join(response.streaming_content)
        if response.status_code != 200:
            raise RuntimeError(f"{label}: {path} answered {response.status_code} in the test client")
        counts[label] = len(captured.captured_queries)
        connection.set_schema_to_public()
    return counts


# A proposal as the what-if page posts it while the lead edits (a preview with suggestions, not stored); with
# ("predict", "1") added it is the Predict button, which stores the prediction like the API.
WHAT_IF = [
    ("spec", "Forecast weekly demand per store and product family from point-of-sale history and promotions."),
    ("problem_class", "forecasting"),
    ("complexity_score", "55"),
    ("planned_duration_days", "120"),
    ("member_role", "data_scientist"),
    ("member_level", "senior"),
    ("member_years", "6"),
    ("member_hours", "400"),
    ("member_role", "data_engineer"),
    ("member_level", "mid"),
    ("member_years", "3"),
    ("member_hours", "300"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=600)
    parser.add_argument("--runs-per-project", type=int, default=3)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--only", action="append", default=[], help="time only pages whose label contains this")
    args = parser.parse_args()
    setup_django()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django_tenants.utils import schema_context

    progress("collectstatic (production settings serve hashed static files from the manifest)")
    call_command("collectstatic", interactive=False, verbosity=0)

    with throwaway_tenant() as tenant:
        started = time.monotonic()
        ids = seed(tenant.slug, projects=args.projects, runs_per_project=args.runs_per_project,
                   rng=random.Random(args.seed))  # fmt: skip
        progress(f"seeded in {time.monotonic() - started:.0f} s")
        password = "bench-password-7391"
        with schema_context(tenant.slug):
            admin = get_user_model().objects.get(username="admin")
            admin.set_password(password)
            admin.save(update_fields=["password"])
        progress("counting each page's SQL statements")
        chosen = [(label, path) for label, path in pages(ids) if not args.only or any(o in label for o in args.only)]
        queries = count_queries(tenant.host, tenant.slug, chosen)
        with gunicorn(args.workers) as server:
            browser = Browser(server.port, tenant.host)
            browser.login("admin", password)
            signed_out = Browser(server.port, tenant.host)
            rows = []
            for label, path in chosen:
                if isinstance(path, list):
                    fetch = lambda p=path: browser.post("/what-if/predict", p)  # noqa: E731
                else:
                    fetch = lambda p=path, b=(signed_out if label == LOGIN else browser): b.get(p)  # noqa: E731
                for _ in range(5):
                    fetch()
                before = server.cpu_snapshot()
                latencies = [fetch()[1] for _ in range(args.requests)]
                cpu = server.cpu_ms_per_request(before, args.requests)
                p95 = percentile(latencies, 95)
                rows.append([label, f"{percentile(latencies, 50):.1f}", f"{p95:.1f}", f"{cpu:.1f}", queries[label],
                             verdict(p95, TARGET_P95_MS)])  # fmt: skip
                progress(f"{label}: p95 {p95:.1f} ms")
    print_table(
        f"Dashboard pages, signed in as the owner, {args.projects} projects × {args.runs_per_project} runs",
        ["page", "p50 ms", "p95 ms", "server CPU ms/request", "SQL statements", f"p95 ≤ {TARGET_P95_MS:.0f} ms"],
        rows,
        notes=[
            f"{args.requests} sequential requests per page after 5 warm-up requests; gunicorn {args.workers} sync "
            "workers, production settings; latency measured by the client (includes HTTP on loopback)",
            "server CPU = gunicorn workers + their PostgreSQL backends, which does not depend on other load",
            "SQL statements = a second render in-process (test client, local settings), counting django-tenants' "
            "search_path statements as the query-count tests do",
            f"{sum(r[-1] == 'met' for r in rows)} of {len(rows)} pages meet the target",
        ],
    )


if __name__ == "__main__":
    main()
