"""Server-side render time of every dashboard page with a demo-sized tenant.

Target (issue 6): every page p95 ≤ 150 ms with the seeded demo tenant (600 projects, their runs and metrics).

The script creates a throwaway tenant in the dev database, seeds it (600 projects with teams, artifact usages, runs
with params and metric curves, artifacts with versions, users, groups, grants, audit events), starts gunicorn with
production settings (minus the HTTPS redirect), signs in through the real login form, then requests each page
``--requests`` times in sequence and prints p50/p95 latency and the server CPU (gunicorn workers + their PostgreSQL
backends) per request. The tenant is dropped at the end, also on error or Ctrl-C.

    .venv/bin/python bench/dashboard_pages.py [--projects 600] [--runs-per-project 3] [--requests 100] [--workers 2]
"""

from __future__ import annotations

import argparse
import http.client
import math
import random
import re
import time
from datetime import timedelta
from urllib.parse import urlencode

from _harness import gunicorn, percentile, print_table, progress, setup_django, throwaway_tenant, verdict

TARGET_P95_MS = 150.0
METRIC_STEPS = 40
ROLES = ["data_scientist", "ml_engineer", "data_engineer", "mlops", "analyst"]
LEVELS = ["junior", "mid", "senior", "staff"]
CLASSES = ["classification", "regression", "forecasting", "nlp", "vision", "recommendation"]
TAGS = ["retail", "tabular", "nlp", "vision", "prod", "poc", "eu", "llm"]


def seed(slug: str, *, projects: int, runs_per_project: int, rng: random.Random) -> dict:
    """Bulk-insert a demo-sized tenant; returns ids the page URLs need."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.utils import timezone
    from django_tenants.utils import schema_context

    from apps.access.services import grant_set
    from apps.accounts.services import token_create
    from apps.artifacts.models import Artifact, ArtifactUsage, ArtifactVersion
    from apps.metrics.models import LatestMetric, MetricPoint, Run, RunParam, RunTag
    from apps.projects.models import Project, TeamMember

    User = get_user_model()
    now = timezone.now()
    with schema_context(slug):
        admin = User.objects.get(username="admin")
        people = User.objects.bulk_create(
            [User(username=f"person{i}", email=f"person{i}@bench.test", role=rng.choice(["lead", "member", "viewer"]))
             for i in range(40)]
        )  # fmt: skip
        group = Group.objects.create(name="Bench team")
        group.user_set.add(*people[:10])
        for person in people[:10]:
            token_create(user=person, name="bench")
        progress("seeding artifacts")
        artifacts = Artifact.objects.bulk_create(
            [Artifact(name=f"artifact-{i}", type=rng.choice(["prompt", "dataset", "feature_pipeline", "model"]),
                      description=f"Reusable artifact number {i}.", tags=rng.sample(TAGS, 2), owner=admin)
             for i in range(60)]
        )  # fmt: skip
        versions = ArtifactVersion.objects.bulk_create(
            [ArtifactVersion(artifact=a, version=f"1.{m}.0", major=1, minor=m, changelog="Release.", created_by=admin)
             for a in artifacts for m in range(3)]
        )  # fmt: skip
        progress(f"seeding {projects} projects with teams and usages")
        rows = []
        for i in range(projects):
            status = rng.choice(["planned", "active", "active", "completed", "completed", "cancelled"])
            start = (now - timedelta(days=rng.randint(30, 700))).date()
            done = status == "completed"
            rows.append(Project(
                name=f"Project {i} {rng.choice(['churn', 'forecast', 'search', 'ranking', 'vision', 'fraud'])}",
                slug=f"project-{i}", spec=f"Build a model for use case {i}. " * 6, status=status,
                problem_class=rng.choice(CLASSES), complexity_score=rng.randint(1, 100), tags=rng.sample(TAGS, 2),
                owner=rng.choice(people), visibility=rng.choice(["tenant", "tenant", "private"]), start_date=start,
                target_end_date=start + timedelta(days=rng.randint(30, 200)),
                completion_date=start + timedelta(days=rng.randint(30, 300)) if done else None,
                model_performance=rng.random() if done else None, business_impact=rng.random() * 100 if done else None,
                success_score=rng.random() * 100 if done else None, success_score_source="computed" if done else "",
            ))  # fmt: skip
        project_rows = Project.objects.bulk_create(rows)
        members, usages = [], []
        for project in project_rows:
            for _ in range(rng.randint(2, 6)):
                person = rng.choice(people)
                members.append(TeamMember(
                    project=project, user=person, display_name=person.username, role=rng.choice(ROLES),
                    experience_level=rng.choice(LEVELS), years_experience=rng.randint(0, 20),
                    contribution_hours=rng.randint(10, 500),
                ))  # fmt: skip
            for version in rng.sample(versions, 3):
                usages.append(ArtifactUsage(project=project, artifact_version=version, artifact_id=version.artifact_id,
                                            used_by=admin))  # fmt: skip
        TeamMember.objects.bulk_create(members)
        ArtifactUsage.objects.bulk_create(usages, ignore_conflicts=True)
        for artifact in artifacts:
            artifact.usage_count = ArtifactUsage.objects.filter(artifact=artifact).count()
        Artifact.objects.bulk_update(artifacts, ["usage_count"])
        progress(f"seeding {projects * runs_per_project} runs with params and {METRIC_STEPS}-step metric curves")
        run_rows = [Run(project=project, name=f"run-{project.pk}-{r}", status=rng.choice(["finished", "running"]),
                        start_time=now - timedelta(hours=rng.randint(1, 5000)), created_by=admin)
                    for project in project_rows for r in range(runs_per_project)]  # fmt: skip
        runs = Run.objects.bulk_create(run_rows)
        params, tags, points, latest = [], [], [], []
        for run in runs:
            lr, depth = rng.choice(["0.1", "0.01", "0.001"]), str(rng.randint(2, 12))
            params += [RunParam(run=run, key="lr", value=lr), RunParam(run=run, key="depth", value=depth),
                       RunParam(run=run, key="optimizer", value=rng.choice(["adam", "sgd"]))]  # fmt: skip
            tags.append(RunTag(run=run, key="stage", value="train"))
            for key, curve in (("loss", lambda s: math.exp(-s / 10) + rng.random() * 0.05),
                               ("val/accuracy", lambda s: 1 - 0.5 * math.exp(-s / 12)),
                               ("val/f1", lambda s: 0.9 - 0.4 * math.exp(-s / 15))):  # fmt: skip
                values = [curve(step) for step in range(METRIC_STEPS)]
                points += [MetricPoint(run=run, key=key, value=v, step=s, timestamp=1_767_225_600_000 + s)
                           for s, v in enumerate(values)]  # fmt: skip
                latest.append(LatestMetric(run=run, key=key, value=values[-1], step=METRIC_STEPS - 1,
                                           timestamp=1_767_225_600_000 + METRIC_STEPS - 1))  # fmt: skip
        RunParam.objects.bulk_create(params)
        RunTag.objects.bulk_create(tags)
        MetricPoint.objects.bulk_create(points, batch_size=10_000)
        LatestMetric.objects.bulk_create(latest)
        for person in people[:20]:
            grant_set(actor=admin, obj=project_rows[0], level="view", user=person)
        return {"project": project_rows[0].pk, "runs": [runs[0].pk, runs[1].pk], "artifact": artifacts[0].pk,
                "user": people[0].pk, "group": group.pk}  # fmt: skip


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


def pages(ids: dict) -> list[tuple[str, str]]:
    project, (run_a, run_b), artifact = ids["project"], ids["runs"], ids["artifact"]
    return [
        ("home", "/"),
        ("projects (first page)", "/projects/"),
        ("projects (filtered, sorted by success)", "/projects/?status=completed&tag=retail&sort=-success"),
        ("projects (page 12)", "/projects/?page=12"),
        ("project detail", f"/projects/{project}/"),
        ("project edit form", f"/projects/{project}/edit"),
        ("delivery panel (htmx)", f"/projects/{project}/delivery-panel"),
        ("runs (first page)", "/runs/"),
        ("runs (sorted by a metric)", "/runs/?sort=-metrics.val/accuracy"),
        ("runs (search expression)", "/runs/?" + urlencode({"q": "params.optimizer = 'adam' AND metrics.loss < 0.1"})),
        ("run detail (3 charts)", f"/runs/{run_a}/"),
        ("compare 2 runs", f"/runs/compare?ids={run_a}&ids={run_b}"),
        ("artifacts (by impact)", "/artifacts/"),
        ("artifacts (search)", "/artifacts/?q=number+1&sort=usage"),
        ("artifact detail", f"/artifacts/{artifact}/"),
        ("API tokens", "/account/tokens"),
        ("admin: users", "/manage/users"),
        ("admin: user", f"/manage/users/{ids['user']}"),
        ("admin: groups", "/manage/groups"),
        ("admin: group", f"/manage/groups/{ids['group']}"),
        ("admin: grants", f"/manage/grants?object_type=project&object_id={project}"),
        ("admin: tokens", "/manage/tokens"),
        ("admin: audit log", "/manage/audit"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=600)
    parser.add_argument("--runs-per-project", type=int, default=3)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=6)
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
        with gunicorn(args.workers) as server:
            browser = Browser(server.port, tenant.host)
            browser.login("admin", password)
            rows = []
            for label, path in pages(ids):
                for _ in range(5):
                    browser.get(path)
                before = server.cpu_snapshot()
                latencies = [browser.get(path)[1] for _ in range(args.requests)]
                cpu = server.cpu_ms_per_request(before, args.requests)
                p95 = percentile(latencies, 95)
                rows.append([label, f"{percentile(latencies, 50):.1f}", f"{p95:.1f}", f"{cpu:.1f}",
                             verdict(p95, TARGET_P95_MS)])  # fmt: skip
                progress(f"{label}: p95 {p95:.1f} ms")
    print_table(
        f"Dashboard pages, signed in as the owner, {args.projects} projects × {args.runs_per_project} runs",
        ["page", "p50 ms", "p95 ms", "server CPU ms/request", f"p95 ≤ {TARGET_P95_MS:.0f} ms"],
        rows,
        notes=[
            f"{args.requests} sequential requests per page after 5 warm-up requests; gunicorn {args.workers} sync "
            "workers, production settings; latency measured by the client (includes HTTP on loopback)",
            "server CPU = gunicorn workers + their PostgreSQL backends, which does not depend on other load",
        ],
    )


if __name__ == "__main__":
    main()
