"""Writes of spec embeddings: compute what is stale, schedule recomputation when a spec changes."""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection, transaction
from django.utils import timezone

from apps.projects.models import Project
from apps.recommendations.choices import RunKind, RunReason, RunStatus
from apps.recommendations.ml import embeddings as emb
from apps.recommendations.models import EmbeddingIndexState, ProjectEmbedding, TrainingRun
from apps.recommendations.services.runs import RunOutcome, run_request
from maestro.observability.metrics import set_embedding_backlog

CHUNK = 256

# Projects whose embedding is missing or stale: the spec's SHA-256 (computed by PostgreSQL over the same UTF-8
# bytes as ``emb.text_sha256``) or the model differs, or the spec became blank while a vector is stored.
_STALE_SQL = """
SELECT p.id
FROM projects_project p
LEFT JOIN recommendations_projectembedding e ON e.project_id = p.id
WHERE (%(ids)s::bigint[] IS NULL OR p.id = ANY(%(ids)s::bigint[]))
  AND CASE
    WHEN btrim(p.spec, E' \\t\\r\\n') = '' THEN e.project_id IS NOT NULL AND e.dim <> 0
    ELSE e.project_id IS NULL
         OR e.model_name <> %(model)s
         OR e.dim <> %(dim)s
         OR e.text_sha256 <> encode(sha256(convert_to(p.spec, 'UTF8')), 'hex')
  END
ORDER BY p.id
"""


def embeddings_stale_project_ids(project_ids: list[int] | None = None) -> list[int]:
    """Ids of projects (all, or among ``project_ids``) whose embedding must be (re)computed or cleared."""
    if project_ids is not None and not project_ids:
        return []
    params = {
        "ids": None if project_ids is None else [int(i) for i in project_ids],
        "model": emb.MODEL_NAME,
        "dim": emb.DIMENSION,
    }
    with connection.cursor() as cursor:
        cursor.execute(_STALE_SQL, params)
        return [row[0] for row in cursor.fetchall()]


def _bump_index_version() -> int:
    """Take the next index version (holding the state row's lock until the caller's transaction ends)."""
    table = EmbeddingIndexState._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (id, version) VALUES (1, 1) "  # noqa: S608 (table name from model meta)
            f"ON CONFLICT (id) DO UPDATE SET version = {table}.version + 1 RETURNING version"
        )
        return cursor.fetchone()[0]


def embeddings_compute(
    *, project_ids: list[int] | None = None, progress: Callable[[int, int], None] | None = None
) -> dict:
    """Embed the specs of ``project_ids`` (default: every stale project) that are stale; returns counts.

    The hash stored is that of the text actually embedded: a spec edited meanwhile stays stale and is picked up
    again. A spec that became blank gets a tombstone row (dim 0) so every process's index drops its vector.

    The tenant's ``maestro_embedding_backlog`` gauge (every stale project, not only ``project_ids``) is measured
    again at the end; when every stale project is computed it is also set before the first chunk and counted down
    after each. (With ``project_ids`` — usually one edited project — the extra scan of every spec is skipped.)
    """
    targets = embeddings_stale_project_ids(project_ids)
    backlog = len(targets)
    if project_ids is None:
        set_embedding_backlog(backlog)
    done = {"embedded": 0, "cleared": 0, "checked": len(project_ids) if project_ids is not None else len(targets)}
    for start in range(0, len(targets), CHUNK):
        chunk = targets[start : start + CHUNK]
        rows = list(Project.objects.filter(pk__in=chunk).order_by("pk").values_list("pk", "spec"))
        texts = [(pid, spec) for pid, spec in rows if not emb.is_blank(spec)]
        blank = [pid for pid, spec in rows if emb.is_blank(spec)]
        vectors = emb.encode([spec for _, spec in texts])
        now = timezone.now()
        with transaction.atomic():
            version = _bump_index_version()
            objs = [
                ProjectEmbedding(
                    project_id=pid,
                    vector=emb.to_bytes(vec),
                    dim=emb.DIMENSION,
                    model_name=emb.MODEL_NAME,
                    text_sha256=emb.text_sha256(spec),
                    index_version=version,
                    computed_at=now,
                )
                for (pid, spec), vec in zip(texts, vectors, strict=True)
            ] + [
                ProjectEmbedding(
                    project_id=pid,
                    vector=b"",
                    dim=0,
                    model_name=emb.MODEL_NAME,
                    text_sha256="",
                    index_version=version,
                    computed_at=now,
                )
                for pid in blank
            ]
            existing = set(Project.objects.filter(pk__in=[o.project_id for o in objs]).values_list("pk", flat=True))
            ProjectEmbedding.objects.bulk_create(
                [o for o in objs if o.project_id in existing],
                update_conflicts=True,
                unique_fields=["project"],
                update_fields=["vector", "dim", "model_name", "text_sha256", "index_version", "computed_at"],
            )
        done["embedded"] += len(texts)
        done["cleared"] += len(blank)
        backlog -= len(chunk)
        if project_ids is None:
            set_embedding_backlog(backlog)
        if progress:
            progress(min(start + CHUNK, len(targets)), len(targets))
    if targets:
        set_embedding_backlog(len(embeddings_stale_project_ids()))
    return done


def embedding_schedule_for_project(project_id: int) -> TrainingRun | None:
    """Call after a project's spec may have changed (``receivers``: on every project write, after the write).

    Does nothing when the stored embedding matches the spec. Otherwise queues a ``recompute_embeddings`` run that is
    sent to the ``ml`` queue when the caller's transaction commits; returns it (or the identical queued one).
    """
    if not embeddings_stale_project_ids([project_id]):
        return None
    return run_request(kind=RunKind.EMBEDDINGS, reason=RunReason.SPEC_CHANGED, params={"project_ids": [project_id]})


def embeddings_request_stale(*, reason: str = RunReason.RECONCILE) -> TrainingRun | None:
    """Queue one run that embeds every stale project, unless nothing is stale or such a run is already waiting.
    Publishes the backlog it measured (reconciliation calls this periodically for every tenant)."""
    stale = embeddings_stale_project_ids()
    set_embedding_backlog(len(stale))
    if not stale:
        return None
    pending = TrainingRun.objects.filter(
        kind=RunKind.EMBEDDINGS, status__in=[RunStatus.QUEUED, RunStatus.RUNNING], params={}
    ).first()
    return pending or run_request(kind=RunKind.EMBEDDINGS, reason=reason, params={})


def embeddings_run(run: TrainingRun) -> RunOutcome:
    """Body of a ``recompute_embeddings`` run: the listed projects, or every stale one."""
    ids = run.params.get("project_ids")
    counts = embeddings_compute(project_ids=ids)
    status = RunStatus.SUCCEEDED if counts["embedded"] or counts["cleared"] else RunStatus.SKIPPED
    detail = "" if status == RunStatus.SUCCEEDED else "Nothing was stale."
    return RunOutcome(status, detail=detail, result=counts | {"schema": connection.schema_name})
