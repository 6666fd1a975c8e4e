"""Per-process caches: each tenant's similarity index and loaded models.

Keys. Every entry is keyed by the tenant's *identity* (``apps.tenants.selectors.tenant_identity``: schema name,
tenant row id and creation time), never by the schema name alone. A tenant dropped and provisioned again under the
same slug, or imported over a dropped one, is a new row with a new id, so no process serves it the old tenant's
index or model (whose ids and versions the new tenant's restart from 1); the old entries are never read again and
leave by eviction.

Bounds. Each cache is a small LRU (``_LRU``), so a long-lived process that serves many tenants over time holds at
most ``RECOMMENDATIONS_CACHED_INDEXES`` similarity indexes (each 1.5–3 kB per embedded project, at least 1.5 MB),
``RECOMMENDATIONS_CACHED_MODELS`` predictors and ``MAX_VECTORS`` text vectors; the least recently used goes first.

Similarity index. Every web or worker process keeps one ``SimilarityIndex`` per tenant with the tenant's spec
embeddings. On each use it reads one integer, ``EmbeddingIndexState.version`` (a primary-key lookup); when that
moved past the version the process holds, it fetches only the embedding rows written since
(``index_version > held``) and upserts or removes them — never a full reload per request. Embedding writers bump
the version under the state row's lock in their own transaction, so versions become visible in commit order and no
row is skipped. Rows of deleted projects disappear with the project (cascade) without a version bump; searches
drop such ids when the project lookup misses them (``selectors.similar_projects``) and remove them here.

Text vectors. The embedding of a free text (a proposed spec) is kept per (tenant, SHA-256 of the text), so
re-asking for recommendations while editing the team or constraints of the same spec does not run the model again.

Models. A ``Predictor`` is cached per (tenant, model id, version): loading parses the boosters and reads the
neighbour pool's embeddings once; a promotion or rollback changes the active id, so the next request loads the other
model, and nothing is ever served across tenants. The active model is read from PostgreSQL on every request, so a
promotion made through any host is used by every host's next request. The pool's embeddings are the one part of a
loaded model that can change (a pool project's spec re-embedded, or embedded after the training): each entry keeps
the index version it read them at and, when the version has moved, looks at the embedding rows written since; if one
belongs to the pool the model is loaded again. So two hosts that loaded one model at different times answer alike.
A pool project deleted later is the exception (deletions bump no version): a process that loaded the model before
keeps its vector among the neighbours until the next model version.

Several hosts. Every entry is either a pure function of immutable input (text vectors) or checked against
PostgreSQL on use (similarity index, models), so a write on any host is seen by the next request on every other
host; docs/deployment.md ("Deployment on Kubernetes") lists every per-process cache and how it stays correct.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
from django.conf import settings

from apps.recommendations import dataset
from apps.recommendations.ml import embeddings as emb
from apps.recommendations.ml.predict import Predictor, deserialize
from apps.recommendations.ml.similarity import SimilarityIndex
from apps.recommendations.models import EmbeddingIndexState, ProjectEmbedding, SuccessModel
from apps.tenants.selectors import TenantIdentity, tenant_identity

K = TypeVar("K")
V = TypeVar("V")

_lock = threading.RLock()


class _LRU(Generic[K, V]):
    """A least-recently-used map bounded by ``bound()`` entries, read when an entry is added (so a changed setting
    applies at once). Callers hold ``_lock``. Not ``functools.lru_cache``: entries are looked up, updated in place
    and removed by key; not ``cachetools``: a production dependency for twenty lines."""

    def __init__(self, bound: Callable[[], int]):
        self._bound = bound
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: K, value: V) -> V:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > max(1, self._bound()):
            self._items.popitem(last=False)
        return value

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._items))

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class _TenantIndex:
    index: SimilarityIndex
    version: int


_indexes: _LRU[TenantIdentity, _TenantIndex] = _LRU(lambda: settings.RECOMMENDATIONS_CACHED_INDEXES)


def current_index_version() -> int:
    return EmbeddingIndexState.objects.filter(pk=1).values_list("version", flat=True).first() or 0


def _rows_since(version: int | None):
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
    key = tenant_identity()
    version = current_index_version()
    with _lock:
        entry = _indexes.get(key)
        if entry is None:
            index = SimilarityIndex(emb.DIMENSION)
            _apply(index, _rows_since(None))
            entry = _indexes.put(key, _TenantIndex(index, version))
        elif entry.version < version:
            _apply(entry.index, _rows_since(entry.version))
            entry.version = version
        return entry.index


def forget_projects(ids) -> None:
    """Remove ids (deleted projects) from this process's index of the current tenant."""
    with _lock:
        entry = _indexes.get(tenant_identity())
        if entry is not None:
            entry.index.remove(ids)


MAX_VECTORS = 512
_vectors: _LRU[tuple[TenantIdentity, str], np.ndarray] = _LRU(lambda: MAX_VECTORS)


def text_vector(text: str) -> np.ndarray:
    """The embedding of ``text`` (computed once per process while it stays among the recently used)."""
    key = (tenant_identity(), emb.text_sha256(text))
    with _lock:
        found = _vectors.get(key)
    if found is not None:
        return found
    vector = emb.encode([text])[0]
    vector.setflags(write=False)
    with _lock:
        return _vectors.put(key, vector)


def clear() -> None:
    """Drop every cached index, text vector and model of this process (tests, after a tenant is reset)."""
    with _lock:
        _indexes.clear()
        _predictors.clear()
        _vectors.clear()


@dataclass
class _LoadedModel:
    predictor: object
    pool: frozenset[int]
    index_version: int  # the embedding index version before the pool's embeddings were read


_predictors: _LRU[tuple[TenantIdentity, int, int], _LoadedModel] = _LRU(lambda: settings.RECOMMENDATIONS_CACHED_MODELS)


def _pool_unchanged(entry: _LoadedModel, version: int) -> bool:
    """True when no embedding of ``entry``'s pool was written since it was loaded (then it is marked current)."""
    if entry.index_version >= version:
        return True
    written = ProjectEmbedding.objects.filter(index_version__gt=entry.index_version).values_list("project_id")
    if not entry.pool.isdisjoint(pid for (pid,) in written):
        return False
    with _lock:
        entry.index_version = max(entry.index_version, version)
    return True


def predictor_for(model_id: int, version: int):
    """The loaded ``Predictor`` of model ``model_id`` in the current tenant (cached per process; loaded again when
    an embedding of its neighbour pool changed since, on any host)."""
    key = (tenant_identity(), int(model_id), int(version))
    index_version = current_index_version()  # read before the pool's embeddings: a later write is seen next time
    with _lock:
        found = _predictors.get(key)
    if found is not None and _pool_unchanged(found, index_version):
        return found.predictor
    blob = SuccessModel.objects.filter(pk=model_id).values_list("booster", flat=True).get()
    data = deserialize(blob)
    pool_ids = [int(i) for i in data["pool_ids"]]
    matrix, has = dataset.embeddings_for(pool_ids)
    predictor = Predictor(data, matrix, has if len(pool_ids) else np.zeros(0, dtype=bool))
    with _lock:
        return _predictors.put(key, _LoadedModel(predictor, frozenset(pool_ids), index_version)).predictor
