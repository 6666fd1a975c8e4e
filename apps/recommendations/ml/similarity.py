"""Exact cosine top-k over an in-memory matrix of unit vectors.

Exact search is one matrix–vector product and an ``argpartition``: at 100,000 × 384 float32 that is ~40 M
multiply-adds, a few milliseconds on one core, so an approximate index (and its recall loss) buys nothing at this
scale. ``SimilarityIndex`` keeps rows in a pre-allocated buffer that grows by doubling, so upserting a handful of
changed embeddings never copies the whole matrix.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Hit:
    id: int
    similarity: float


def top_k(matrix: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row positions and similarities of the ``k`` rows most similar to ``query``, best first."""
    n = matrix.shape[0]
    if n == 0 or k <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    scores = matrix @ query
    part = np.argpartition(scores, n - k)[n - k :] if k < n else np.arange(n)
    order = part[np.argsort(-scores[part], kind="stable")]
    return order, scores[order]


class SimilarityIndex:
    """Ids ↔ rows of unit vectors, with exact top-k search. Not thread-safe by itself; callers hold a lock."""

    def __init__(self, dim: int, capacity: int = 1024):
        self.dim = dim
        self._matrix = np.zeros((max(capacity, 1), dim), dtype=np.float32)
        self._ids = np.zeros(max(capacity, 1), dtype=np.int64)
        self._row_of: dict[int, int] = {}
        self.size = 0

    @classmethod
    def from_arrays(cls, ids: np.ndarray, vectors: np.ndarray) -> SimilarityIndex:
        index = cls(vectors.shape[1] if vectors.ndim == 2 else 0, capacity=max(1024, int(len(ids) * 1.25)))
        index.upsert(ids, vectors)
        return index

    @property
    def matrix(self) -> np.ndarray:
        return self._matrix[: self.size]

    @property
    def ids(self) -> np.ndarray:
        return self._ids[: self.size]

    def __len__(self) -> int:
        return self.size

    def __contains__(self, item: int) -> bool:
        return int(item) in self._row_of

    def vector(self, item: int) -> np.ndarray | None:
        row = self._row_of.get(int(item))
        return None if row is None else self._matrix[row]

    def _grow(self, needed: int) -> None:
        capacity = self._matrix.shape[0]
        if needed <= capacity:
            return
        while capacity < needed:
            capacity *= 2
        matrix = np.zeros((capacity, self.dim), dtype=np.float32)
        matrix[: self.size] = self._matrix[: self.size]
        ids = np.zeros(capacity, dtype=np.int64)
        ids[: self.size] = self._ids[: self.size]
        self._matrix, self._ids = matrix, ids

    def upsert(self, ids: Iterable[int], vectors: np.ndarray) -> None:
        ids = [int(i) for i in ids]
        if not ids:
            return
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(ids), self.dim)
        new = sum(1 for i in dict.fromkeys(ids) if i not in self._row_of)
        self._grow(self.size + new)
        for item, vector in zip(ids, vectors, strict=True):
            row = self._row_of.get(item)
            if row is None:
                row = self.size
                self._row_of[item] = row
                self._ids[row] = item
                self.size += 1
            self._matrix[row] = vector

    def remove(self, ids: Iterable[int]) -> int:
        """Drop rows (swap with the last row, so the matrix stays contiguous); returns how many were present."""
        removed = 0
        for item in ids:
            row = self._row_of.pop(int(item), None)
            if row is None:
                continue
            last = self.size - 1
            if row != last:
                moved = int(self._ids[last])
                self._matrix[row] = self._matrix[last]
                self._ids[row] = moved
                self._row_of[moved] = row
            self.size -= 1
            removed += 1
        return removed

    def search(self, query: np.ndarray, k: int, *, exclude: Iterable[int] = ()) -> list[Hit]:
        """The ``k`` most similar ids (excluding ``exclude``), best first."""
        excluded = {int(i) for i in exclude}
        extra = sum(1 for i in excluded if i in self._row_of)
        rows, sims = top_k(self.matrix, np.asarray(query, dtype=np.float32), k + extra)
        hits = [Hit(int(self._ids[r]), float(s)) for r, s in zip(rows, sims, strict=True)]
        return [h for h in hits if h.id not in excluded][:k]
