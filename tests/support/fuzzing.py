"""Schemathesis against Maestro's own OpenAPI schema, as three principals (admin, member, viewer) of one tenant.

Shared by the quick fuzz test in the suite (``tests/reliability/test_fuzz_api.py``) and the full run
(``bench/fuzz_api.py``, ``make fuzz``). The flow:

1. ``ensure_principal`` creates (or repairs) one user per role with an API token — ``fuzz-admin`` (role admin, admin
   scope), ``fuzz-member`` (member, write scope), ``fuzz-viewer`` (viewer, write scope: the role, not the token,
   limits what a viewer may do);
2. ``seed`` creates, through the API, a few objects of every kind, so that generated requests reach real objects
   (schemathesis also reuses the ids it sees in responses);
3. ``download_schema`` fetches ``/api/schema/`` as JSON — the operations are whatever the running code declares,
   so new endpoints are fuzzed without touching this module;
4. ``run_role`` runs ``st run`` (all phases: examples, coverage, fuzzing, stateful; positive and negative data) with
   the hooks in ``tests/support/fuzz_hooks.py``, and ``summarize`` reads its NDJSON event log into figures.

Fuzzing as an admin legitimately revokes tokens, deactivates users and changes roles — including those the run is
using. The hooks therefore hand every generated request a token from ``ensure_principal``, which repairs the
principal first (active, its role, a usable token), the way a real client would log in again.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
ROLES = ("admin", "member", "viewer")
TOKEN_SCOPES = {"admin": "admin", "member": "write", "viewer": "write"}
TOKEN_NAME = "fuzz"
# What must never happen, whatever the input (schemathesis check names and their failure codes).
REQUIRED_CHECKS = {
    "not_a_server_error": "ST101 server error",
    "status_code_conformance": "ST103 undocumented status code",
    "response_schema_conformance": "ST108 response violates schema",
    "content_type_conformance": "content type not documented",
    "response_headers_conformance": "response headers not documented",
}
# Everything else schemathesis checks: reported, and failing the run as well unless listed in ``tolerated``.
EXTRA_CHECKS = (
    "negative_data_rejection",
    "positive_data_acceptance",
    "missing_required_header",
    "unsupported_method",
    "use_after_free",
    "ensure_resource_availability",
    "ignored_auth",
)
PHASES = ("examples", "coverage", "fuzzing", "stateful")
# Schemathesis configuration of the top-up rounds (``top_up``): data generation that depends on no runtime state.
# In the main run, the fuzzing phase's strategies read two stores that change while an operation is being fuzzed —
# the error-feedback store (constraints learned from 4xx bodies) and the resource pool (ids seen in responses,
# tombstoned after a DELETE answered 204/404), both shared by the worker threads. Hypothesis notices that the same
# choices now draw different data, raises FlakyStrategyDefinition / FlakyFailure, and schemathesis 4.32 classifies
# that as "generation noise": the operation's fuzzing scenario ends, reported as passed, after a handful of cases.
TOP_UP_CONFIG = """\
[phases.fuzzing]
error-feedback = { enabled = false }
extra-data-sources = { responses = false }
"""
# Checks whose findings are reported but do not fail the run, with the reason (printed with the figures).
TOLERATED = {
    "positive_data_acceptance": "schema-valid requests refused with a 4xx naming the field, for rules OpenAPI cannot "
    "express: a taken username or version, an id that does not exist, the run-search grammar, cross-field rules",
    "negative_data_rejection": "requests outside the schema accepted by DRF's lenient scalar parsing (a JSON number "
    "for a string field is stored as its text; 0/1 as booleans; an empty or unparseable boolean or date filter is "
    "ignored); never a 500, and what is stored is what the response shows",
}


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---------------------------------------------------------------------------------------------- principals


def ensure_principal(schema: str, role: str, _tokens: dict = {}) -> str:  # noqa: B006  (process-wide token cache)
    """The plaintext of a usable token of the ``fuzz-<role>`` user in ``schema``; the user is created or repaired
    (active, the role, no password login) and a new token minted when the cached one was revoked or expired."""
    from django.db import transaction
    from django_tenants.utils import schema_context

    from apps.accounts.models import ApiToken, User
    from apps.accounts.services import token_create

    username = f"fuzz-{role}"
    with schema_context(schema), transaction.atomic():
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User(username=username, email=f"{username}@fuzz.test", role=role)
            user.set_unusable_password()
            user.save()
        elif not user.is_active or user.role != role or user.is_service_account:
            User.objects.filter(pk=user.pk).update(is_active=True, role=role, is_service_account=False)
        cached = _tokens.get((schema, role))
        if cached and ApiToken.objects.usable().filter(pk=cached[0], user=user).exists():
            return cached[1]
        created = token_create(user=user, name=TOKEN_NAME, scope=TOKEN_SCOPES[role])
        _tokens[(schema, role)] = (created.token.pk, created.plaintext)
        return created.plaintext


# ---------------------------------------------------------------------------------------------- HTTP helpers


def http(method: str, url: str, *, token: str | None = None, host: str | None = None, body=None, files=None):
    """One request with the standard library; returns (status, parsed JSON or raw bytes)."""
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if host:
        headers["Host"] = host
    data = None
    if files is not None:
        boundary = "fuzzseedboundary"
        parts = []
        for name, value in (body or {}).items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
        for name, (filename, content) in files.items():
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n".encode()
                + content
                + b"\r\n"
            )
        data = b"".join(parts) + f"--{boundary}--\r\n".encode()
        headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw


def _created(status: int, body, what: str) -> dict:
    if status not in (200, 201):
        raise RuntimeError(f"seeding {what} answered {status}: {str(body)[:300]}")
    return body


@dataclass
class FuzzTarget:
    """A running server and the tenant the fuzzing runs in."""

    base_url: str  # the platform host (requests are routed by the token's tenant)
    tenant_host: str  # the tenant's own host name, for the schema
    schema: str
    env: dict[str, str]  # environment of the schemathesis process (its hooks open the same database)


def seed(target: FuzzTarget) -> dict[str, int]:
    """Objects of every kind, created through the API: a project the member works on (and one private to the admin),
    a team, a run with params/tags/metrics, an artifact with a file version, a usage, an integration."""
    api = f"{target.base_url}/api/v1"
    admin = ensure_principal(target.schema, "admin")
    member = ensure_principal(target.schema, "member")
    with _django_schema(target.schema):
        from apps.accounts.models import User

        member_id = User.objects.get(username="fuzz-member").pk

    def post(path: str, token: str, body: dict, what: str, files=None) -> dict:
        return _created(*http("POST", f"{api}/{path}", token=token, body=body, files=files), what)

    project = post(
        "projects",
        member,
        {"name": "Fuzz churn", "problem_class": "classification", "status": "active", "tags": ["fuzz"],
         "visibility": "tenant", "spec": "Predict churn"},
        "project",
    )  # fmt: skip
    private = post("projects", admin, {"name": "Fuzz private", "visibility": "private"}, "private project")
    team = {"user": member_id, "display_name": "Member", "role": "data_scientist", "experience_level": "mid"}
    post(f"projects/{project['id']}/team-members", admin, team, "team member")
    run = post(
        "runs",
        member,
        {"project": project["id"], "name": "fuzz-run", "params": {"lr": "0.01"}, "tags": {"stage": "train"}},
        "run",
    )
    now = int(time.time() * 1000)
    metrics = [{"key": "loss", "value": 1.0 / (step + 1), "step": step, "timestamp": now + step} for step in range(50)]
    post(f"runs/{run['id']}/log-batch", member, {"metrics": metrics}, "metrics")
    artifact = post("artifacts", member, {"name": "fuzz-features", "type": "feature_pipeline"}, "artifact")
    version = post(
        f"artifacts/{artifact['id']}/versions",
        member,
        {"version": "1.0.0", "changelog": "first"},
        "version",
        files={"file": ("features.py", b"def features(df):\n    return df\n")},
    )
    usage = post(
        f"projects/{project['id']}/artifact-usages", member, {"artifact_version": version["id"]}, "artifact usage"
    )
    integration = post(
        f"projects/{project['id']}/integrations", member, {"provider": "github", "name": "fuzz-repo"}, "integration"
    )
    return {
        "project": project["id"],
        "private_project": private["id"],
        "run": run["id"],
        "artifact": artifact["id"],
        "version": version["id"],
        "usage": usage["id"],
        "integration": integration["id"],
    }


class _django_schema:
    def __init__(self, schema: str):
        self.schema = schema

    def __enter__(self):
        from django_tenants.utils import schema_context

        self._ctx = schema_context(self.schema)
        return self._ctx.__enter__()

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def download_schema(target: FuzzTarget, path: Path) -> int:
    """Save the tenant's ``/api/schema/`` as JSON at ``path``; return the number of operations in it."""
    token = ensure_principal(target.schema, "admin")
    status, body = http("GET", f"{target.base_url}/api/schema/?format=json", token=token, host=target.tenant_host)
    if status != 200 or not isinstance(body, dict):
        raise RuntimeError(f"/api/schema/ answered {status}")
    path.write_text(json.dumps(body))
    return len(operations(body))


def operations_without_inputs(schema: dict) -> set[str]:
    """Operations with no parameter and no body: only a handful of distinct requests exist for them."""
    found = set()
    for path, item in schema["paths"].items():
        shared = item.get("parameters", [])
        operations_here = {m: op for m, op in item.items() if isinstance(op, dict) and "responses" in op}
        for method, operation in operations_here.items():
            if not (shared or operation.get("parameters") or operation.get("requestBody")):
                found.add(f"{method.upper()} {path}")
    return found


def operations(schema: dict) -> list[str]:
    """``METHOD /path`` of every operation in an OpenAPI document."""
    methods = ("get", "put", "post", "patch", "delete", "head", "options", "trace")
    return [
        f"{method.upper()} {path}" for path, item in schema["paths"].items() for method in item if method in methods
    ]


# ---------------------------------------------------------------------------------------------- running and reading


@dataclass
class OperationFigures:
    cases: int = 0
    positive: int = 0
    negative: int = 0
    statuses: Counter = field(default_factory=Counter)


@dataclass
class RoleResult:
    role: str
    seconds: float
    exit_code: int
    operations: dict[str, OperationFigures]
    failures: dict[str, list[str]]  # check name → "METHOD /path: message" (first few per operation)
    failure_counts: Counter  # check name → failing cases
    report: Path
    command: str
    log_tail: str = ""
    phases: Counter = field(default_factory=Counter)  # phase → cases sent in it
    top_ups: list[str] = field(default_factory=list)  # one line per top-up round (``top_up``)

    @property
    def cases(self) -> int:
        return sum(op.cases for op in self.operations.values())

    @property
    def statuses(self) -> Counter:
        total = Counter()
        for op in self.operations.values():
            total.update(op.statuses)
        return total


def run_role(
    target: FuzzTarget,
    role: str,
    schema_path: Path,
    report_dir: Path,
    *,
    max_examples: int,
    phases: tuple[str, ...] = PHASES,
    workers: int = 2,
    seed: int | None = None,
    max_time: int | None = None,
    request_timeout: float = 30.0,
    include: str | None = None,
    timing: bool = True,
    config_file: Path | None = None,
    tag: str = "",
) -> RoleResult:
    """Run schemathesis as ``role`` against ``target`` and read its event log. ``timing=False`` leaves out the
    response-time check (10 s per response): the suite checks behaviour, speed is for the benchmark scripts."""
    report_dir.mkdir(parents=True, exist_ok=True)
    ndjson = report_dir / f"events-{role}{tag}.ndjson"
    command = [str(Path(sys.executable).with_name("st"))]
    if config_file is not None:
        command += ["--config-file", str(config_file)]
    command += [
        "run", str(schema_path), "--url", target.base_url,
        "--checks", "all" if timing else ",".join([*REQUIRED_CHECKS, *EXTRA_CHECKS]),
        "--exclude-checks", "object_level_authorization",
        "--mode", "all", "--phases", ",".join(phases), "--max-examples", str(max_examples),
        "--workers", str(workers), "--request-timeout", str(request_timeout), "--continue-on-failure",
        "--generation-database", "none", "--no-color", "--warnings", "off",
        "--report", "ndjson", "--report-ndjson-path", str(ndjson), "--output-truncate", "true",
    ]  # fmt: skip
    if seed is not None:
        command += ["--seed", str(seed)]
    if max_time is not None:
        command += ["--max-time", str(max_time)]
    if include:
        command += ["--include-name-regex", include]
    env = {
        **target.env,
        "SCHEMATHESIS_HOOKS": "tests.support.fuzz_hooks",
        "FUZZ_SCHEMA": target.schema,
        "FUZZ_ROLE": role,
        "PYTHONPATH": str(ROOT),
    }
    started = time.monotonic()
    log_path = report_dir / f"schemathesis-{role}{tag}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.run(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
    seconds = time.monotonic() - started
    ops, failures, counts = summarize(ndjson)
    return RoleResult(
        role=role, seconds=seconds, exit_code=proc.returncode, operations=ops, failures=failures,
        failure_counts=counts, report=ndjson, command=shlex.join(command),
        log_tail=log_path.read_text(errors="replace")[-4000:], phases=cases_per_phase(ndjson),
    )  # fmt: skip


def top_up(
    target: FuzzTarget,
    result: RoleResult,
    schema_path: Path,
    report_dir: Path,
    *,
    labels: list[str],
    min_cases: int,
    max_examples: int,
    rounds: int = 3,
    seed: int | None = None,
    timing: bool = True,
) -> RoleResult:
    """Fuzz again, as ``result.role``, the operations of ``labels`` that got fewer than ``min_cases`` checked cases,
    in up to ``rounds`` extra fuzzing phases; return the figures of all runs added up.

    Why an operation falls short in the main run: its fuzzing scenario ended early on a Hypothesis ``Flaky`` error
    that schemathesis reports as a pass (see ``TOP_UP_CONFIG``). The rounds run the fuzzing phase alone, one worker
    thread, with ``TOP_UP_CONFIG`` — generation independent of what the server answered — so Hypothesis runs to
    ``max_examples``. Every case of a round is a request schemathesis generated, sent and checked like any other,
    with the same checks; each round is listed in the report with its command."""
    config = report_dir / "top-up.toml"
    config.write_text(TOP_UP_CONFIG)
    for number in range(1, rounds + 1):
        short = [label for label in labels if result.operations.get(label, OperationFigures()).cases < min_cases]
        if not short:
            break
        counts = ", ".join(f"{label} ({result.operations.get(label, OperationFigures()).cases})" for label in short)
        progress(f"{result.role}: top-up round {number}, {len(short)} operations under {min_cases} cases: {counts}")
        extra = run_role(
            target, result.role, schema_path, report_dir, max_examples=max_examples, phases=("fuzzing",), workers=1,
            seed=None if seed is None else seed + number, include="^(" + "|".join(map(re.escape, short)) + ")$",
            timing=timing, config_file=config, tag=f"-top-up-{number}",
        )  # fmt: skip
        added = ", ".join(f"{label} +{extra.operations.get(label, OperationFigures()).cases}" for label in short)
        summary = f"top-up {number}: {extra.cases} cases in {extra.seconds:.0f} s (exit {extra.exit_code}): {added}"
        progress(f"{result.role}: {summary}")
        note = f"{summary} — {extra.command}"
        result = _merge(result, extra, note)
    return result


def _merge(first: RoleResult, extra: RoleResult, note: str) -> RoleResult:
    operations = {}
    for label in {*first.operations, *extra.operations}:
        parts = [r.operations[label] for r in (first, extra) if label in r.operations]
        operations[label] = OperationFigures(
            cases=sum(p.cases for p in parts), positive=sum(p.positive for p in parts),
            negative=sum(p.negative for p in parts), statuses=sum((p.statuses for p in parts), Counter()),
        )  # fmt: skip
    failures = {name: [*first.failures.get(name, []), *extra.failures.get(name, [])]
                for name in {*first.failures, *extra.failures}}  # fmt: skip
    return RoleResult(
        role=first.role, seconds=first.seconds + extra.seconds, exit_code=max(first.exit_code, extra.exit_code),
        operations=operations, failures=failures, failure_counts=first.failure_counts + extra.failure_counts,
        report=first.report, command=first.command, log_tail=first.log_tail, phases=first.phases + extra.phases,
        top_ups=[*first.top_ups, note],
    )  # fmt: skip


def _checked(recorder: dict, case_id: str) -> bool:
    """A case counts when schemathesis sent it, got a response and ran its checks on it. Requests that checks send
    themselves (``ignored_auth`` repeating a case without or with a wrong token, …) are recorded as cases too, but
    nothing is checked on them: they are not generated cases of the operation."""
    interaction = recorder.get("interactions", {}).get(case_id)
    return bool(interaction and interaction.get("response") is not None and recorder.get("checks", {}).get(case_id))


def cases_per_phase(ndjson: Path) -> Counter:
    """Checked cases per schemathesis phase (examples, coverage, fuzzing, stateful)."""
    phases: Counter = Counter()
    if ndjson.exists():
        with open(ndjson, encoding="utf-8") as handle:
            for line in handle:
                if line.startswith('{"ScenarioFinished"'):
                    event = json.loads(line)["ScenarioFinished"]
                    recorder = event["recorder"]
                    checked = sum(1 for case_id in recorder.get("cases", {}) if _checked(recorder, case_id))
                    phases[event.get("phase", "?")] += checked
    return phases


def summarize(ndjson: Path) -> tuple[dict[str, OperationFigures], dict[str, list[str]], Counter]:
    """Per operation: generated cases (positive/negative) and response statuses; per check: failing cases."""
    ops: dict[str, OperationFigures] = defaultdict(OperationFigures)
    failures: dict[str, list[str]] = defaultdict(list)
    counts: Counter = Counter()
    if not ndjson.exists():
        return {}, {}, counts
    with open(ndjson, encoding="utf-8") as handle:
        for line in handle:
            if not line.startswith('{"ScenarioFinished"'):
                continue
            recorder = json.loads(line)["ScenarioFinished"]["recorder"]
            for case_id, node in recorder.get("cases", {}).items():
                case = node["value"]
                label = f"{case['method'].upper()} {case['path']}"
                if not _checked(recorder, case_id):
                    continue  # not sent (e.g. filtered out), or a request a check sent
                interaction = recorder["interactions"][case_id]
                figures = ops[label]
                figures.cases += 1
                mode = (case.get("meta") or {}).get("generation", {}).get("mode", "positive")
                if mode == "negative":
                    figures.negative += 1
                else:
                    figures.positive += 1
                figures.statuses[interaction["response"]["status_code"]] += 1
            for case_id, checks in recorder.get("checks", {}).items():
                for check in checks:
                    if check["status"] != "failure":
                        continue
                    counts[check["name"]] += 1
                    info = check.get("failure_info", {}).get("failure", {})
                    label = info.get("operation", "?")
                    example = f"{label}: {info.get('title', '')} — {str(info.get('message', ''))[:300]}"
                    request = recorder.get("interactions", {}).get(case_id, {}).get("request", {})
                    if request:
                        example += f" [{request.get('method')} {request.get('uri', '')[:300]}]"
                    if sum(1 for item in failures[check["name"]] if item.startswith(label + ":")) < 3:
                        failures[check["name"]].append(example)
    return dict(ops), dict(failures), counts


def print_targets(
    results: list[RoleResult], labels: list[str], no_inputs: set[str], *, min_cases: int, tolerated: dict[str, str]
) -> list[str]:
    """One row per target of issue 9, with what was measured and pass/FAIL; returns the targets missed."""
    roles = ", ".join(result.role for result in results)

    def fewest(result: RoleResult) -> int:
        counts = [result.operations.get(label, OperationFigures()).cases for label in labels if label not in no_inputs]
        return min(counts, default=0)

    def total(check: str) -> int:
        return sum(result.failure_counts[check] for result in results)

    untested = sum(
        1 for result in results for label in labels if result.operations.get(label, OperationFigures()).cases == 0
    )
    polarity = [
        (sum(op.positive for op in r.operations.values()), sum(op.negative for op in r.operations.values()))
        for r in results
    ]
    others = sum(
        count for r in results for name, count in r.failure_counts.items()
        if name not in REQUIRED_CHECKS and name not in tolerated
    )  # fmt: skip
    rows = [
        (f"every operation requested by every role ({roles})", f"{untested} (operation, role) pairs without a request",
         untested == 0),
        (f"≥ {min_cases} cases per operation and role", ", ".join(f"{r.role} fewest {fewest(r)}" for r in results),
         all(fewest(r) >= min_cases for r in results)),
        ("positive and negative data (positive/negative cases)",
         ", ".join(f"{r.role} {p}/{n}" for r, (p, n) in zip(results, polarity, strict=True)),
         all(p and n for p, n in polarity)),
        ("stateful sequences (links inferred from the schema)",
         ", ".join(f"{r.role} {r.phases['stateful']} requests" for r in results),
         all(r.phases["stateful"] for r in results)),
        ("0 server errors", str(total("not_a_server_error")), total("not_a_server_error") == 0),
        ("0 responses violating the schema", str(total("response_schema_conformance")),
         total("response_schema_conformance") == 0),
        ("0 undocumented status codes", str(total("status_code_conformance")), total("status_code_conformance") == 0),
        ("0 undocumented content types or headers",
         str(total("content_type_conformance") + total("response_headers_conformance")),
         total("content_type_conformance") + total("response_headers_conformance") == 0),
        ("0 failures of the other (not tolerated) checks", str(others), others == 0),
    ]  # fmt: skip
    print("| target | measured | verdict |")
    print("|---|---|---|")
    for target, measured, ok in rows:
        print(f"| {target} | {measured} | {'pass' if ok else 'FAIL'} |")
    return [f"target missed: {target} ({measured})" for target, measured, ok in rows if not ok]


def print_report(
    results: list[RoleResult],
    schema: dict,
    *,
    title: str,
    min_cases: int,
    tolerated: dict[str, str],
    all_targets: bool = False,
    include: str | None = None,
) -> list[str]:
    """Print per-role and per-operation figures and the targets; return the problems (empty when the run passed).
    Operations without any input need only be requested (``operations_without_inputs``); the others ``min_cases``
    times. With ``all_targets`` (the full run) every target of the table must be met, including positive and negative
    data and stateful sequences for every role. ``include`` (a regular expression on ``METHOD /path``) restricts the
    report to the operations a partial run selected."""
    operation_labels = [label for label in operations(schema) if not include or re.search(include, label)]
    no_inputs = operations_without_inputs(schema) & set(operation_labels)
    problems = []
    print(f"\n## {title}")
    print(f"command: {shlex.join([Path(sys.executable).name, *sys.argv])}")
    print(f"host: {os.cpu_count()} CPUs, load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"operations in the schema: {len(operation_labels)}")
    print()
    header = ["role", "cases", "positive", "negative", "2xx", "4xx", "5xx", "server errors", "schema violations",
              "undocumented status", "other failures", "seconds"]  # fmt: skip
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for result in results:
        statuses = result.statuses
        by_class = Counter(f"{code // 100}xx" for code in statuses.elements())
        others = sum(
            count for name, count in result.failure_counts.items() if name not in REQUIRED_CHECKS or name in tolerated
        )
        row = [
            result.role, result.cases,
            sum(op.positive for op in result.operations.values()),
            sum(op.negative for op in result.operations.values()),
            by_class["2xx"], by_class["4xx"], by_class["5xx"],
            result.failure_counts["not_a_server_error"], result.failure_counts["response_schema_conformance"],
            result.failure_counts["status_code_conformance"], others, f"{result.seconds:.0f}",
        ]  # fmt: skip
        print("| " + " | ".join(str(cell) for cell in row) + " |")
    print()
    print("Cases per operation (all roles; fewest first):")
    per_op = Counter()
    for result in results:
        for label, figures in result.operations.items():
            per_op[label] += figures.cases
    fewest = sorted(operation_labels, key=lambda label: per_op[label])
    for label in fewest[:8]:
        roles = ", ".join(f"{r.role} {r.operations.get(label, OperationFigures()).cases}" for r in results)
        print(f"  {label}: {per_op[label]} ({roles})")
    print(f"  … median {sorted(per_op[label] for label in operation_labels)[len(operation_labels) // 2]}, "
          f"max {max(per_op[label] for label in operation_labels)}")  # fmt: skip
    if no_inputs:
        print(f"Operations without parameters or body (a few distinct requests exist): {', '.join(sorted(no_inputs))}")
    for result in results:
        untested = [label for label in operation_labels if result.operations.get(label, OperationFigures()).cases == 0]
        if untested:
            problems.append(f"{result.role}: {len(untested)} operations got no request: {', '.join(untested[:10])}")
        short = [
            label for label in operation_labels
            if label not in no_inputs and 0 < result.operations.get(label, OperationFigures()).cases < min_cases
        ]  # fmt: skip
        if short:
            problems.append(
                f"{result.role}: {len(short)} operations got fewer than {min_cases} cases: "
                + ", ".join(f"{label} ({result.operations[label].cases})" for label in short[:10])
            )
        for name, count in result.failure_counts.items():
            if name in tolerated:
                continue
            problems.append(f"{result.role}: {count} cases failed {name}")
            for example in result.failures.get(name, [])[:6]:
                problems.append(f"    {example}")
        if not result.operations:
            problems.append(f"{result.role}: schemathesis produced no results (exit {result.exit_code}):\n"
                            f"{result.log_tail}")  # fmt: skip
    for result in results:
        for note in result.top_ups:
            print(f"{result.role} {note}")
    for name, reason in tolerated.items():
        total = sum(result.failure_counts[name] for result in results)
        if total:
            print(f"tolerated: {total} cases of {name} — {reason}")
    print()
    missed = print_targets(results, operation_labels, no_inputs, min_cases=min_cases, tolerated=tolerated)
    if all_targets:
        problems += [item for item in missed if item not in problems]
    print("verdict: " + ("PASS" if not problems else "FAIL"))
    for problem in problems:
        print(f"- {problem}")
    print(flush=True)
    return problems
