"""The ``neighbor_success`` feature: similarity-weighted success of the nearest completed projects.

For a project p with spec embedding e_p, let N_k(p) be the k eligible projects whose embeddings are most similar
(cosine = dot product of unit vectors), and s_j = max(cos(e_p, e_j), 0). Then

    neighbor_success(p) = Σ_{j ∈ N_k(p)} s_j² · y_j  /  Σ_{j ∈ N_k(p)} s_j²

(missing when p has no embedding or no eligible neighbour has a positive similarity). Squaring the similarity lets
close matches dominate distant ones.

**No leakage.** Which projects are eligible depends on where the row is used:

* training rows of a model: projects in *other* folds of a K-fold split of the training set (out of fold), so a
  training row's feature never contains its own outcome nor those of rows it is trained with in its fold;
* validation rows in cross-validation: only that split's training rows;
* a prediction: every training project (except the project itself, when it is one).

Exact search over all pairs is done once (``candidates``: the ``m`` most similar rows of each row, a chunked matrix
product); eligibility is then applied to those candidate lists. When fewer than k of a row's m candidates are
eligible, that row is recomputed exactly against every eligible row (in batches, ``_exact``), so the feature is
always the exact k-NN value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_K = 10
DEFAULT_CANDIDATES = 64


@dataclass
class Candidates:
    """For each row, the ``m`` most similar other rows (indices, −1 when absent) and their similarities, best
    first."""

    idx: np.ndarray
    sims: np.ndarray


def candidates(embeddings: np.ndarray, has_embedding: np.ndarray, m: int = DEFAULT_CANDIDATES, chunk: int = 1024):
    n = embeddings.shape[0]
    m = max(0, min(m, int(has_embedding.sum()) - 1))
    idx = np.full((n, m), -1, dtype=np.int64)
    sims = np.full((n, m), -np.inf, dtype=np.float32)
    if m == 0:
        return Candidates(idx, sims)
    valid = np.flatnonzero(has_embedding)
    base = embeddings[valid]
    for start in range(0, len(valid), chunk):
        rows = valid[start : start + chunk]
        scores = embeddings[rows] @ base.T
        # a row is never its own neighbour
        scores[np.arange(len(rows)), np.arange(start, start + len(rows))] = -np.inf
        part = np.argpartition(scores, scores.shape[1] - m, axis=1)[:, -m:]
        part_scores = np.take_along_axis(scores, part, axis=1)
        order = np.argsort(-part_scores, axis=1, kind="stable")
        idx[rows] = valid[np.take_along_axis(part, order, axis=1)]
        sims[rows] = np.take_along_axis(part_scores, order, axis=1)
    return Candidates(idx, sims)


def _weighted(sims: np.ndarray, ys: np.ndarray) -> float:
    weights = np.square(np.maximum(sims, 0.0))
    total = weights.sum()
    return float(np.dot(weights, ys) / total) if total > 0 else np.nan


def neighbor_success(
    embeddings: np.ndarray,
    has_embedding: np.ndarray,
    y: np.ndarray,
    *,
    rows: np.ndarray,
    pool: np.ndarray,
    groups: np.ndarray | None = None,
    k: int = DEFAULT_K,
    cands: Candidates | None = None,
) -> np.ndarray:
    """``neighbor_success`` for ``rows``: neighbours j must satisfy ``pool[j]``, j ≠ i and, when ``groups`` is
    given, ``groups[j] != groups[i]`` (out of fold). Returns an array aligned with ``rows``."""
    rows = np.asarray(rows, dtype=np.int64)
    pool = np.asarray(pool, dtype=bool) & np.asarray(has_embedding, dtype=bool)
    groups_arr = None if groups is None else np.asarray(groups, dtype=np.int64)
    cands = cands if cands is not None else candidates(embeddings, has_embedding)
    out = np.full(len(rows), np.nan, dtype=np.float64)
    if len(rows) == 0 or not pool.any():
        return out
    cidx = cands.idx[rows]
    csims = cands.sims[rows]
    present = cidx >= 0
    safe = np.where(present, cidx, 0)
    eligible = present & pool[safe]
    if groups_arr is not None:
        eligible &= groups_arr[safe] != groups_arr[rows][:, None]
    rank = np.cumsum(eligible, axis=1)
    take = eligible & (rank <= k)
    weights = np.where(take, np.square(np.maximum(csims, 0.0)), 0.0)
    total = weights.sum(axis=1)
    values = (weights * np.where(take, y[safe], 0.0)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[:] = np.where(total > 0, values / np.where(total > 0, total, 1), np.nan)
    out[~has_embedding[rows]] = np.nan

    # Rows whose candidate list held fewer than k eligible neighbours while more eligible rows exist: exact recompute.
    short = np.flatnonzero(has_embedding[rows] & (eligible.sum(axis=1) < k))
    if len(short):
        _exact(embeddings, y, rows, short, pool, groups_arr, eligible.sum(axis=1), k, out)
    return out


def _exact(embeddings, y, rows, short, pool, groups, found, k, out, chunk: int = 1024) -> None:
    """Exact k-NN value for ``rows[short]`` against every eligible pool row, written into ``out[short]``.

    Batched: one matrix product per chunk of rows against the pool's rows only, instead of one product with the
    whole embedding matrix per row. Small pools (the learning curve's subsets of at most 2,000 of 10,000 projects)
    send nearly every row here: row by row, the learning curve took 50.5 s of a 65 s ``ml.training.train`` on 10,000
    demo projects; batched, 0.9 s of 15 s, with identical models and figures (2026-12-06, 2 cores, load average
    2.3–2.9; docs/performance.md, Recommendations)."""
    members = np.flatnonzero(pool)
    # eligible rows per query row: the pool minus the row itself, minus its own group when out of fold
    if groups is None:
        available = len(members) - pool[rows[short]].astype(np.int64)
    else:
        per_group = np.bincount(groups[members] - groups.min(), minlength=groups.max() - groups.min() + 1)
        available = len(members) - per_group[groups[rows[short]] - groups.min()]
    short = short[available > found[short]]  # otherwise the candidate list already held every eligible row
    if len(short) == 0:
        return
    pool_vectors = embeddings[members]
    position = np.full(len(pool), -1, dtype=np.int64)
    position[members] = np.arange(len(members))
    kk = min(k, len(members))
    for start in range(0, len(short), chunk):
        part = short[start : start + chunk]
        query = rows[part]
        scores = embeddings[query] @ pool_vectors.T
        own = position[query]
        mine = own >= 0
        scores[np.flatnonzero(mine), own[mine]] = -np.inf  # never its own neighbour
        if groups is not None:
            scores[groups[query][:, None] == groups[members][None, :]] = -np.inf
        top = np.argpartition(scores, scores.shape[1] - kk, axis=1)[:, -kk:]
        sims = np.take_along_axis(scores, top, axis=1)
        # fewer than k eligible rows: the ineligible ones picked (−inf) get weight 0
        weights = np.square(np.maximum(sims, 0.0))
        total = weights.sum(axis=1)
        values = np.where(weights > 0, weights * y[members][top], 0.0).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[part] = np.where(total > 0, values / np.where(total > 0, total, 1), np.nan)


def oof_groups(n: int, folds: int, seed: int) -> np.ndarray:
    """A deterministic K-fold assignment of n rows (shuffled, balanced sizes)."""
    rng = np.random.default_rng(seed)
    groups = np.empty(n, dtype=np.int64)
    groups[rng.permutation(n)] = np.arange(n) % max(1, folds)
    return groups


@dataclass(frozen=True)
class QueryNeighbors:
    value: float
    similarities: np.ndarray  # of the k nearest, best first
    positions: np.ndarray  # rows of the pool, best first


def query_neighbor_success(
    query: np.ndarray | None, pool_embeddings: np.ndarray, pool_y: np.ndarray, *, k: int = DEFAULT_K, exclude=None
) -> QueryNeighbors:
    """``neighbor_success`` of a new project against the training pool (``exclude``: pool row positions to skip)."""
    if query is None or pool_embeddings.shape[0] == 0:
        return QueryNeighbors(np.nan, np.zeros(0, np.float32), np.zeros(0, np.int64))
    scores = pool_embeddings @ np.asarray(query, dtype=np.float32)
    if exclude is not None and len(exclude):
        scores = scores.copy()
        scores[np.asarray(exclude, dtype=np.int64)] = -np.inf
    n_valid = int(np.isfinite(scores).sum())
    kk = min(k, n_valid)
    if kk == 0:
        return QueryNeighbors(np.nan, np.zeros(0, np.float32), np.zeros(0, np.int64))
    part = np.argpartition(scores, len(scores) - kk)[-kk:]
    order = part[np.argsort(-scores[part], kind="stable")]
    return QueryNeighbors(_weighted(scores[order], pool_y[order]), scores[order], order)
