"""Where MLflow artifact files may live: the *roots* under ``/api/2.0/mlflow-artifacts/artifacts/``, and the path
rules every proxied artifact path obeys.

A run's ``artifact_uri`` is ``mlflow-artifacts:/<experiment id>/<run id>/artifacts``; MLflow's client turns it into
paths below ``/api/2.0/mlflow-artifacts/artifacts/``. Such a path is ``<experiment id>/<owner…>/artifacts/<file>``:

* the first segment names the experiment — the Maestro project whose permissions govern every file below it (read
  access to list and download, write access to upload and delete);
* what follows must lead to an existing root of that experiment. Runs are built in: ``<exp>/<run id>/artifacts``
  for a run of that experiment (any lifecycle stage: a deleted run can be restored). Other kinds of roots are
  registered by the code that owns them, keyed by the path's second segment — logged models, for example, with
  ``register_artifact_root("models", resolver)`` for ``<exp>/models/<model id>/artifacts``.

A resolver is called as ``resolver(project, segments)`` with the experiment's project and every segment of the path
(the experiment id and the kind included) and returns the ``ArtifactRoot`` the path lies in — its ``path`` the
root's own segments joined, e.g. ``"7/models/m-1f…/artifacts"`` — or None when no such owner exists in that
experiment. Nothing may be read or written outside a root: a path no resolver claims answers RESOURCE_DOES_NOT_EXIST,
as does a root of another experiment (a run id under the wrong experiment id).

Path rules (``artifact_path_segments``), MLflow's ``validate_path_is_safe`` and more: no ``..`` or ``.`` segment, no
empty segment (so no absolute path and no ``//``), no backslash, ``#``, ``:`` drive prefix or control character —
checked on the path and on its percent-decoded forms, so ``%2e%2e`` cannot smuggle a ``..`` past the check.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from apps.metrics.models import Run
from apps.mlflow_api.models import ARTIFACT_PATH_MAX_LENGTH
from apps.mlflow_api.protocol import MlflowError, not_found
from apps.projects.models import Project

ROOT_MARKER = "artifacts"
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_UNSAFE_CHARS = re.compile(r"[\\#\x00-\x1f\x7f]")


@dataclass(frozen=True)
class ArtifactRoot:
    """A directory that holds artifact files: ``path`` (``"<exp>/<run id>/artifacts"``) inside ``project``, owned by
    ``owner`` (the run, the logged model, …)."""

    project: Project
    path: str
    owner: Any = None

    def contains(self, path: str) -> bool:
        return path == self.path or path.startswith(self.path + "/")

    def relative(self, path: str) -> str:
        """``path`` relative to the root ("" for the root itself)."""
        return path[len(self.path) + 1 :] if path != self.path else ""


Resolver = Callable[[Project, list[str]], ArtifactRoot | None]
_RESOLVERS: dict[str, Resolver] = {}


def register_artifact_root(kind: str, resolver: Resolver) -> None:
    """Make ``<exp>/<kind>/…`` paths resolvable by ``resolver`` (see the module docstring). Call once at start-up
    (``AppConfig.ready`` or module import); registering a kind twice with another resolver is a programming error."""
    if not kind or "/" in kind or _RUN_ID.match(kind):
        raise ValueError(f"{kind!r} cannot name a kind of artifact root.")
    if _RESOLVERS.get(kind, resolver) is not resolver:
        raise ValueError(f"An artifact root resolver for {kind!r} is already registered.")
    _RESOLVERS[kind] = resolver


def run_root(project: Project, segments: list[str]) -> ArtifactRoot | None:
    """``<exp>/<run id>/artifacts``: a run of ``project`` (in any lifecycle stage)."""
    if len(segments) < 3 or segments[2] != ROOT_MARKER or not _RUN_ID.match(segments[1]):
        return None
    run = Run.objects.filter(project=project, uuid=segments[1]).first()
    return None if run is None else ArtifactRoot(project, "/".join(segments[:3]), run)


def resolve_root(project: Project, segments: list[str]) -> ArtifactRoot:
    """The root holding the path ``segments`` (whose first segment is ``project``'s id), or RESOURCE_DOES_NOT_EXIST."""
    path = "/".join(segments)
    resolver = _RESOLVERS.get(segments[1]) if len(segments) > 1 else None
    if resolver is None and len(segments) > 1 and _RUN_ID.match(segments[1]):
        resolver = run_root
    root = resolver(project, segments) if resolver is not None else None
    if root is None or root.project.pk != project.pk or not root.contains(path):
        raise not_found(f"No artifact root at '{path}': artifacts live under <experiment id>/<run id>/artifacts.")
    return root


def _unsafe(path: str) -> bool:
    return (
        bool(_UNSAFE_CHARS.search(path))
        or any(part in ("", ".", "..") for part in path.split("/"))
        or bool(re.match(r"^[A-Za-z]:", path))
    )


def artifact_path_segments(raw: str | None) -> list[str]:
    """The segments of a proxied artifact path, or MLflow's "Invalid path" (INVALID_PARAMETER_VALUE) for a path that
    could leave its root: see the module docstring."""
    if not isinstance(raw, str) or not raw:
        raise MlflowError("Invalid path: an artifact path is required.")
    if len(raw.encode()) > ARTIFACT_PATH_MAX_LENGTH:
        raise MlflowError(f"Invalid path: artifact paths may be at most {ARTIFACT_PATH_MAX_LENGTH} bytes long.")
    decoded = raw
    for _ in range(10):
        if _unsafe(decoded):
            raise MlflowError("Invalid path")
        once = unquote(decoded)
        if once == decoded:
            return raw.split("/")
        decoded = once
    raise MlflowError("Invalid path")


def experiment_pk(segment: str) -> int:
    """The project id a path's first segment names; only the canonical decimal form is accepted, so one experiment
    has one set of keys (``007`` or ``0`` — the Default experiment's alias — name no root)."""
    if not segment.isdecimal() or segment != str(int(segment)) or int(segment) <= 0 or int(segment) >= 2**63:
        raise not_found(f"No Experiment with id={segment} exists")
    return int(segment)


def is_run_id(segment: str) -> bool:
    return bool(_RUN_ID.match(segment))


def registered_kinds() -> list[str]:
    return sorted(_RESOLVERS)
