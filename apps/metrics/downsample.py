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
    # A (buckets × width) view of the interior, padded with NaN where a bucket is one point shorter.
    offsets = starts[:, None] + np.arange(width)[None, :]
    valid = offsets < ends[:, None]
    grid = np.where(valid, values[np.minimum(offsets, n - 1)], np.nan)
    all_nan = np.isnan(grid).all(axis=1)
    safe = np.where(all_nan[:, None] & valid, 0.0, grid)  # nanargmin refuses all-NaN rows
    low = starts + np.nanargmin(safe, axis=1)
    high = starts + np.nanargmax(safe, axis=1)
    low = np.where(all_nan, starts, low)
    high = np.where(all_nan, starts, high)
    keep = np.concatenate(([0], low, high, [n - 1]))
    return np.unique(keep)
