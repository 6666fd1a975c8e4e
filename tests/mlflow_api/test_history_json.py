"""MLflow's metric history as JSON text without a dict per point (``protocol.metric_points_json``): the same bytes
as ``orjson.dumps`` of the dicts, for every double and int64, and the history endpoints' bodies and pages."""

import math
import random
import struct

import numpy as np
import orjson
import pytest

from apps.metrics.validation import float64_to_json
from apps.mlflow_api.protocol import metric_points_json


def as_dicts(key, timestamps, steps, values, run_id=None) -> bytes:
    points = [
        {"key": key, "value": float64_to_json(v), "timestamp": t, "step": s, **({"run_id": run_id} if run_id else {})}
        for v, t, s in zip(values.tolist(), timestamps.tolist(), steps.tolist(), strict=True)
    ]
    return orjson.dumps(points)[1:-1]


def random_doubles(rng: random.Random, n: int) -> np.ndarray:
    return np.array([struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0] for _ in range(n)])


@pytest.mark.parametrize("run_id", [None, "0123456789abcdef0123456789abcdef"])
def test_same_bytes_as_the_dicts_for_any_double_and_int64(run_id):
    rng = random.Random(7)
    values = np.concatenate(
        [
            random_doubles(rng, 5000),  # every exponent, NaNs and infinities among them
            [0.0, -0.0, 5e-324, -5e-324, 1.7976931348623157e308, 1e16, 1e-7, 0.1, 1 / 3, math.nan, math.inf, -math.inf],
        ]
    )
    n = len(values)
    timestamps = np.array([rng.randrange(-(2**63), 2**63) for _ in range(n - 2)] + [-(2**63), 2**63 - 1], np.int64)
    steps = np.array([rng.randrange(-(2**63), 2**63) for _ in range(n)], dtype=np.int64)
    assert not np.isfinite(values).all()
    got = metric_points_json('we"ird\\key/ü', timestamps, steps, values, run_id)
    assert got == as_dicts('we"ird\\key/ü', timestamps, steps, values, run_id)
    parsed = orjson.loads(b"[" + got + b"]")
    assert [p["value"] for p in parsed[-3:]] == ["NaN", "Infinity", "-Infinity"]
    assert parsed[-12]["value"] == 0.0 and math.copysign(1, parsed[-11]["value"]) == -1


def test_columns_in_any_byte_order_or_layout():
    """Packed series are big-endian; a slice with a step is not contiguous: both are written like the plain form."""
    values = np.array([0.5, 1.5, 2.5, 3.5])
    steps = np.arange(4, dtype=np.int64)
    plain = metric_points_json("k", steps * 10, steps, values)
    assert metric_points_json("k", (steps * 10).astype(">i8"), steps.astype(">i8"), values.astype(">f8")) == plain
    assert metric_points_json("k", (steps * 10)[::2], steps[::2], values[::2]) == as_dicts(
        "k", (steps * 10)[::2], steps[::2], values[::2]
    )


def test_no_points_is_empty():
    empty = np.array([], dtype=np.float64)
    assert metric_points_json("k", empty.astype(np.int64), empty.astype(np.int64), empty) == b""
