"""Min/max-per-bucket downsampling keeps the curve's shape: endpoints, global extremes, spikes, NaN stretches."""

import itertools
import math

import numpy as np
import pytest

from apps.metrics.downsample import _extremes, _extremes_nan_aware, minmax_indices


def test_short_series_is_returned_whole():
    assert minmax_indices(np.array([3.0, 1.0, 2.0]), 10).tolist() == [0, 1, 2]


@pytest.mark.parametrize("n", [1001, 5000, 25_000, 99_999])
@pytest.mark.parametrize("max_points", [4, 5, 100, 1000])
def test_bound_endpoints_and_global_extremes_survive(n, max_points):
    rng = np.random.default_rng(n + max_points)
    values = np.cumsum(rng.normal(size=n))
    keep = minmax_indices(values, max_points)
    assert len(keep) <= max_points
    assert keep[0] == 0 and keep[-1] == n - 1
    assert np.all(np.diff(keep) > 0)  # ascending, no duplicates: still in step order
    assert int(np.argmin(values)) in keep
    assert int(np.argmax(values)) in keep


def test_a_single_spike_is_never_averaged_away():
    values = np.ones(25_000)
    values[12_345] = 1000.0
    values[777] = -50.0
    keep = minmax_indices(values, 100)
    assert 12_345 in keep and 777 in keep
    assert values[keep].max() == 1000.0 and values[keep].min() == -50.0


def test_every_bucket_keeps_its_own_extremes():
    """The envelope of the downsampled curve equals the envelope of the full curve bucket by bucket."""
    n, max_points = 10_000, 202
    values = np.sin(np.arange(n) / 37.0) + np.random.default_rng(1).normal(scale=0.1, size=n)
    keep = set(minmax_indices(values, max_points).tolist())
    buckets = (max_points - 2) // 2
    edges = 1 + (np.arange(buckets + 1) * (n - 2)) // buckets
    for start, end in itertools.pairwise(edges):
        chunk = values[start:end]
        assert start + int(np.argmin(chunk)) in keep
        assert start + int(np.argmax(chunk)) in keep


def test_infinities_are_extremes_and_nan_is_kept_only_where_a_bucket_is_all_nan():
    n = 1000
    values = np.linspace(0, 1, n)
    values[100] = math.inf
    values[200] = -math.inf
    values[300] = math.nan  # inside a finite bucket: ignored
    values[600:700] = math.nan  # whole buckets of NaN: visible
    keep = minmax_indices(values, 40)
    kept = values[keep]
    assert 100 in keep and 200 in keep
    assert 300 not in keep
    assert np.isnan(kept).any()
    assert all(600 <= i < 700 for i in keep[np.isnan(kept)])


def test_too_small_budget_is_refused():
    with pytest.raises(ValueError):
        minmax_indices(np.arange(10.0), 3)


@pytest.mark.parametrize("seed", range(20))
def test_the_nan_free_shortcut_picks_what_the_nan_aware_version_picks(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 3000))
    values = np.round(np.cumsum(rng.normal(size=n)), 1)  # rounding makes ties within buckets
    values[rng.integers(0, n, size=3)] = rng.choice([np.inf, -np.inf], size=3)
    rows, width = int(rng.integers(1, 60)), int(rng.integers(1, 40))
    grid = rng.choice(values, size=(rows, width))
    valid = np.arange(width)[None, :] < rng.integers(1, width + 1, size=rows)[:, None]  # short rows padded at the end
    fast, slow = _extremes(grid, valid), _extremes_nan_aware(grid, valid)
    assert fast[0].tolist() == slow[0].tolist() and fast[1].tolist() == slow[1].tolist()
    max_points = int(rng.integers(4, 200))
    keep = minmax_indices(values, max_points)
    assert keep[0] == 0 and keep[-1] == n - 1 and len(keep) <= max_points
    assert {int(np.argmin(values)), int(np.argmax(values))} <= set(keep.tolist()) or n <= max_points
