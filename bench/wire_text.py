"""CPU of the two texts Maestro writes per point: an MLflow history body and a batch's columns for PostgreSQL.

    .venv/bin/python bench/wire_text.py [--points 25000] [--rounds 15]

Both are written from numbers in C (orjson) instead of one Python object per point (issue 24). This times each
against the plain way of writing the same text, alternating the two in rounds so both see the same machine load, and
checks that both write the same bytes first:

* history — ``protocol.metric_points_json`` (what ``metrics/get-history`` sends for a 25,000-point series, from the
  big-endian columns the packed series holds) against ``orjson.dumps`` of one dict per point;
* ingest columns — ``metrics.services._csv_numbers`` (a 1000-point batch's values, steps and timestamps, as the
  ingest statement takes them) against ``",".join(map(repr, …))``; the two differ only in how an exponent is spelled
  (``1e-07`` / ``1e-7``), so the check is that PostgreSQL's reading — Python's ``float``/``int`` of each — is the same.

Thread CPU time per call, median of the rounds.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time

import numpy as np
import orjson
from _harness import print_table, setup_django


def per_call_ms(function, calls: int) -> float:
    started = time.thread_time()
    for _ in range(calls):
        function()
    return (time.thread_time() - started) * 1000 / calls


def alternate(rounds: int, calls: int, **functions) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            times[name].append(per_call_ms(function, calls))
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=25_000, help="points in the history")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    setup_django()
    from apps.metrics.services import _csv_numbers
    from apps.metrics.validation import float64_to_json
    from apps.mlflow_api.protocol import metric_points_json

    n = args.points
    steps = np.arange(n, dtype=">i8")
    timestamps = (1_767_225_600_000 + steps).astype(">i8")
    values = np.exp(-np.arange(n) / 9000.0).astype(">f8")  # big-endian, as the packed series stores them

    def history_dicts() -> bytes:  # as the view wrote it before: non-finite values converted only when there are any
        numbers = values.tolist()
        if not np.isfinite(values).all():
            numbers = [float64_to_json(v) for v in numbers]
        points = [
            {"key": "loss", "value": v, "timestamp": t, "step": s}
            for v, t, s in zip(numbers, timestamps.tolist(), steps.tolist(), strict=True)
        ]
        return orjson.dumps({"metrics": points})

    def history_columns() -> bytes:
        return b'{"metrics":[' + metric_points_json("loss", timestamps, steps, values) + b"]}"

    if history_dicts() != history_columns():
        raise SystemExit("the two history texts differ")

    batch = 1000
    floats = [math.exp(-i / 5000) * (1 + 0.05 * math.sin(i * 0.37)) for i in range(batch)]
    ints = [1_767_225_600_000 + i for i in range(batch)]

    def columns_repr() -> tuple[str, str]:
        return ",".join(map(repr, floats)), ",".join(map(repr, ints))

    def columns_orjson() -> tuple[str, str]:
        return _csv_numbers(floats), _csv_numbers(ints)

    for plain, fast, cast in zip(columns_repr(), columns_orjson(), (float, int), strict=True):
        if list(map(cast, plain.split(","))) != list(map(cast, fast.split(","))):
            raise SystemExit("the two column texts read back differently")

    history = alternate(args.rounds, 5, dicts=history_dicts, columns=history_columns)
    ingest = alternate(args.rounds, 200, repr=columns_repr, orjson=columns_orjson)
    rows = [
        [f"get-history body, {n:,} points", f"{history['dicts']:.2f} (a dict per point)",
         f"{history['columns']:.2f} (metric_points_json)", f"{1 - history['columns'] / history['dicts']:.0%}"],
        [f"ingest columns, {batch:,}-point batch (values, timestamps)", f"{ingest['repr']:.3f} (join of repr)",
         f"{ingest['orjson']:.3f} (_csv_numbers)", f"{1 - ingest['orjson'] / ingest['repr']:.0%}"],
    ]  # fmt: skip
    print_table(
        "Text written per call, ms of thread CPU (median of rounds)",
        ["text", "plain way", "Maestro", "saved"],
        rows,
        notes=[f"{args.rounds} rounds, the two ways alternated; both write the same text (checked first)"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
