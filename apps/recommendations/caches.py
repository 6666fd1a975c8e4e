"""Per-process caches: each tenant's similarity index and loaded models.

Similarity index. Every web or worker process keeps one ``SimilarityIndex`` per tenant schema with the tenant's
spec embeddings. On each use it reads one integer, ``EmbeddingIndexState.version`` (a primary-key lookup); when
that moved past the version the process holds, it fetches only the embedding rows written since
(``index_version > held``) and upserts or removes them — never a full reload per request. Embedding writers bump
the version under the state row's lock in their own transaction, so versions become visible in commit order and no
row is skipped. Rows of deleted projects disappear with the project (cascade) without a version bump; searches
drop such ids when the project lookup misses them (``selectors.similar_projects``) and remove them here.

Text vectors. The embedding of a free text (a proposed spec) is kept in a small per-process LRU keyed by (tenant
schema, SHA-256 of the text), so re-asking for recommendations while editing the team or constraints of the same
spec does not run the model again.

Models. A ``Predictor`` is cached per (tenant schema, model id, version), a small LRU: loading parses the boosters
and reads the neighbour pool's embeddings once; a promotion or rollback changes the active id, so the next request
loads the other model, and nothing is ever served across tenants.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from django.db import connection

from apps.recommendations.ml import embeddings as emb
from apps.recommendations.ml.similarity import SimilarityIndex

_lock = threading.RLock()


@dataclass
class _TenantIndex:
    index: SimilarityIndex
    version: int


_indexes: dict[str, _TenantIndex] = {}


def current_index_version() -> int:
    from apps.recommendations.models import EmbeddingIndexState

    return EmbeddingIndexState.objects.filter(pk=1).values_list("version", flat=True).first() or 0


def _rows_since(version: int | None):
    from apps.recommendations.models import ProjectEmbedding

    rows = ProjectEmbedding.objects.all()
    if version is not None:
        rows = rows.filter(index_version__gt=version)
    return rows.order_by("project_id").values_list("project_id", "dim", "model_name", "vector")


def _apply(index: SimilarityIndex, rows) -> None:
    ids, blobs, gone = [], [], []
    for pid, dim, model_name, vector in rows.iterator(chunk_size=5000):
        if dim == emb.DIMENSION and model_name == emb.MODEL_NAME:
            ids.append(pid)
            blobs.append(vector)
        else:
            gone.append(pid)
        if len(ids) >= 5000:
            index.upsert(ids, emb.stack_bytes(blobs))
            ids, blobs = [], []
    index.upsert(ids, emb.stack_bytes(blobs))
    index.remove(gone)


def tenant_index() -> SimilarityIndex:
    """The current tenant's index, brought up to date incrementally."""
    schema = connection.schema_name
    version = current_index_version()
    with _lock:
        entry = _indexes.get(schema)
        if entry is None:
            index = SimilarityIndex(emb.DIMENSION)
            _apply(index, _rows_since(None))
            entry = _indexes[schema] = _TenantIndex(index, version)
        elif entry.version < version:
            _apply(entry.index, _rows_since(entry.version))
            entry.version = version
        return entry.index


def forget_projects(ids) -> None:
    """Remove ids (deleted projects) from this process's index of the current tenant."""
    with _lock:
        entry = _indexes.get(connection.schema_name)
        if entry is not None:
            entry.index.remove(ids)


_vectors: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
MAX_VECTORS = 512


def text_vector(text: str) -> np.ndarray:
    """The embedding of ``text`` (computed once per process while it stays among the recently used)."""
    key = (connection.schema_name, emb.text_sha256(text))
    with _lock:
        found = _vectors.get(key)
        if found is not None:
            _vectors.move_to_end(key)
            return found
    vector = emb.encode([text])[0]
    vector.setflags(write=False)
    with _lock:
        _vectors[key] = vector
        while len(_vectors) > MAX_VECTORS:
            _vectors.popitem(last=False)
    return vector


def clear() -> None:
    """Drop every cached index, text vector and model of this process (tests, after a tenant is reset)."""
    with _lock:
        _indexes.clear()
        _predictors.clear()
        _vectors.clear()


_predictors: OrderedDict[tuple[str, int, int], object] = OrderedDict()
MAX_PREDICTORS = 8


def predictor_for(model_id: int, version: int):
    """The loaded ``Predictor`` of model ``model_id`` in the current tenant (cached per process)."""
    from apps.recommendations import dataset
    from apps.recommendations.ml.predict import Predictor, deserialize
    from apps.recommendations.models import SuccessModel

    key = (connection.schema_name, int(model_id), int(version))
    with _lock:
        found = _predictors.get(key)
        if found is not None:
            _predictors.move_to_end(key)
            return found
    blob = SuccessModel.objects.filter(pk=model_id).values_list("booster", flat=True).get()
    data = deserialize(blob)
    pool_ids = [int(i) for i in data["pool_ids"]]
    matrix, has = dataset.embeddings_for(pool_ids)
    predictor = Predictor(data, matrix, has if len(pool_ids) else np.zeros(0, dtype=bool))
    with _lock:
        _predictors[key] = predictor
        while len(_predictors) > MAX_PREDICTORS:
            _predictors.popitem(last=False)
    return predictor
