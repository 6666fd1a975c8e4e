"""Shape-preserving downsampling of a metric series for charts: min/max per bucket.

The series (already in step order) is cut into equal-count buckets; from each bucket the points with the smallest
and the largest value are kept, in their original order, plus the very first and very last point. Because every
bucket keeps its extremes, the global minimum and maximum always survive, spikes are never averaged away, and the
drawn envelope matches the full-resolution curve — the property a loss curve needs (LTTB, the alternative, picks
one visually salient point per bucket and can drop an extreme).

Non-finite values: ±Infinity take part as ordinary extremes; NaN points are ignored when a bucket has finite (or
infinite) values, and a bucket made only of NaN keeps its first point, so NaN stretches stay visible as such.

Written with numpy (already a dependency) rather than a downsampling package: it is a dozen vectorised lines, and the
guarantees above (endpoints, global extremes, the NaN rule) are ours to keep and test.
"""

from __future__ import annotations

import numpy as np


def minmax_indices(values: np.ndarray, max_points: int) -> np.ndarray:
    """Indices (ascending) of the points to keep so that at most ``max_points`` remain.

    ``max_points`` must be at least 4 (first, last, and one bucket's min and max). Series that already fit are
    returned whole.
    """
    n = len(values)
    if max_points < 4:
        raise ValueError("max_points must be at least 4")
    if n <= max_points:
        return np.arange(n)
    buckets = (max_points - 2) // 2
    # Interior points 1 … n-2 go into `buckets` buckets of (nearly) equal size; the endpoints are kept separately.
    edges = 1 + (np.arange(buckets + 1) * (n - 2)) // buckets
    starts, ends = edges[:-1], edges[1:]
    width = int((ends - starts).max())
    # A (buckets × width) view of the interior; a bucket one point shorter is padded (``valid`` marks real points).
    offsets = starts[:, None] + np.arange(width)[None, :]
    valid = offsets < ends[:, None]
    grid = values[np.minimum(offsets, n - 1)]
    pick = _extremes_nan_aware if np.isnan(values).any() else _extremes
    low, high = pick(grid, valid)
    return np.unique(np.concatenate(([0], starts + low, starts + high, [n - 1])))


def _extremes(grid: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the positions of the smallest and largest real value, for NaN-free data (the usual case): padding
    becomes ±Infinity and plain argmin/argmax do the rest, in half the time of the NaN-aware version. Padding sits
    after a row's points, so on ties (also with a real ±Infinity) the first real point wins, as there."""
    return np.where(valid, grid, np.inf).argmin(axis=1), np.where(valid, grid, -np.inf).argmax(axis=1)


def _extremes_nan_aware(grid: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the positions of the smallest and largest non-NaN value; a row of only NaN gives its first point."""
    grid = np.where(valid, grid, np.nan)
    all_nan = np.isnan(grid).all(axis=1)
    safe = np.where(all_nan[:, None] & valid, 0.0, grid)  # nanargmin refuses all-NaN rows
    low = np.where(all_nan, 0, np.nanargmin(safe, axis=1))
    high = np.where(all_nan, 0, np.nanargmax(safe, axis=1))
    return low, high
