"""Locust scenario for bench/load_api.py (run by it; not on its own).

``LOAD_CONFIG`` names a JSON file written by the driver: the base URL and, per tenant, the tokens of its admin,
member and viewer and the ids of seeded projects and runs. ``LOAD_TENANTS`` picks the tenants this process drives
("A", or "B" for the noisy neighbour). ``LOAD_PROFILE`` is ``mixed`` (80 % reads / 20 % writes, below) or ``heavy``
(the neighbour: large batch ingest and searches only).

Mixed, per user: a role is drawn (admin, member, viewer in turn). Admins and members do 70 % reads and 30 % writes,
viewers only read, so the whole mix is 80 % reads / 20 % writes. Reads: project list and detail, run list and detail,
metric history (downsampled), run search, artifact list, recommendations for a proposal, similar projects of a demo
project. Writes: a 50-point log batch, a project edit.

Every answer is recorded by the ``request`` event listener (tenant, status, milliseconds) and written to
``LOAD_RESULT`` when the run stops; the driver computes the figures from it.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time

from locust import HttpUser, between, events, task

CONFIG = json.loads(open(os.environ["LOAD_CONFIG"]).read())  # noqa: SIM115
TENANTS = os.environ.get("LOAD_TENANTS", "A").split(",")
PROFILE = os.environ.get("LOAD_PROFILE", "mixed")
RECORD: list[tuple[str, int, float]] = []
_roles = itertools.cycle(["admin", "member", "viewer"])
_tenants = itertools.cycle(TENANTS)
_steps = itertools.count(1)
PROBLEM_CLASSES = ["classification", "regression", "forecasting", "nlp", "vision"]


@events.request.add_listener
def _record(request_type, name, response_time, response_length, response=None, exception=None, context=None, **_):
    status = getattr(response, "status_code", 0) or 0
    RECORD.append(((context or {}).get("tenant", "?"), status, response_time))


@events.quitting.add_listener
def _dump(environment, **_):
    with open(os.environ["LOAD_RESULT"], "w") as handle:
        json.dump(RECORD, handle)


class ApiUser(HttpUser):
    host = CONFIG["base_url"]
    wait_time = between(0.05, 0.15)

    def on_start(self):
        self.tenant = next(_tenants)
        self.data = CONFIG["tenants"][self.tenant]
        self.role = next(_roles) if PROFILE == "mixed" else "admin"
        self.client.headers["Authorization"] = f"Bearer {self.data['tokens'][self.role]}"

    def context(self):
        return {"tenant": self.tenant}

    def _get(self, path: str, name: str):
        with self.client.get(path, name=name, context=self.context(), catch_response=True) as response:
            if response.status_code == 429:
                response.success()  # counted separately by the driver

    def _post(self, path: str, body: dict, name: str, method: str = "post"):
        call = getattr(self.client, method)
        with call(path, json=body, name=name, context=self.context(), catch_response=True) as response:
            if response.status_code == 429:
                response.success()

    @task
    def step(self):
        if PROFILE == "heavy":
            return self.heavy()
        writes = 0.3 if self.role in ("admin", "member") else 0.0
        if random.random() < writes:
            return self.write()
        return self.read()

    def read(self):
        project = random.choice(self.data["projects"])
        run = random.choice(self.data["runs"])
        choice = random.random()
        if choice < 0.14:
            self._get("/api/v1/projects?page_size=20", "GET projects")
        elif choice < 0.24:
            self._get(f"/api/v1/projects/{project}", "GET project")
        elif choice < 0.36:
            self._get(f"/api/v1/runs?project={project}&page_size=20", "GET runs")
        elif choice < 0.48:
            self._get(f"/api/v1/runs/{run}", "GET run")
        elif choice < 0.62:
            self._get(f"/api/v1/runs/{run}/metrics/loss/history?max_points=500", "GET history")
        elif choice < 0.72:
            _demo, spec = random.choice(self.data["demo_projects"])
            body = {"spec": spec, "problem_class": random.choice(PROBLEM_CLASSES), "complexity_score": 50,
                    "planned_duration_days": 120}  # fmt: skip
            self._post("/api/v1/recommendations", body, "POST recommendations")
        elif choice < 0.8:
            demo, _spec = random.choice(self.data["demo_projects"])
            self._get(f"/api/v1/projects/{demo}/similar?k=10", "GET similar")
        elif choice < 0.93:
            self._post(
                "/api/v1/runs/search",
                {"filter": f"metrics.loss < {random.random():.2f} AND params.lr < 0.05", "max_results": 20},
                "POST search",
            )
        else:
            self._get("/api/v1/artifacts?page_size=20", "GET artifacts")

    def write(self):
        if random.random() < 0.7:
            run = random.choice(self.data["runs"])
            base = next(_steps) * 100 + 1_000_000
            now = int(time.time() * 1000)
            metrics = [{"key": "load", "value": random.random(), "step": base + i, "timestamp": now} for i in range(50)]
            self._post(f"/api/v1/runs/{run}/log-batch", {"metrics": metrics}, "POST log-batch")
        else:
            project = random.choice(self.data["projects"])
            self._post(f"/api/v1/projects/{project}", {"spec": f"edited {time.time()}"}, "PATCH project", "patch")

    def heavy(self):
        if random.random() < 0.6:
            run = random.choice(self.data["runs"])
            base = next(_steps) * 1000 + 5_000_000
            now = int(time.time() * 1000)
            metrics = [{"key": f"heavy{i % 10}", "value": random.random(), "step": base + i, "timestamp": now}
                       for i in range(1000)]  # fmt: skip
            self._post(f"/api/v1/runs/{run}/log-batch", {"metrics": metrics}, "B POST log-batch 1000")
        else:
            self._post(
                "/api/v1/runs/search",
                {"filter": "metrics.loss < 0.5 OR params.lr LIKE '%1%'", "order_by": ["metrics.loss DESC"],
                 "max_results": 500},
                "B POST search",
            )  # fmt: skip
