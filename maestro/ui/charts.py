"""Chart.js configurations built on the server (rendered with ``json_script``, drawn by ``static/js/charts.js``).

JSON has no NaN or Infinity: every value goes through :func:`finite`, so a non-finite point becomes ``null`` (a
gap in a line) and the page says how many there were.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any


def finite(value: Any) -> float | None:
    """``value`` as a float, or None when it is missing or not finite."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def chart(
    kind: str,
    *,
    datasets: list[dict],
    labels: Sequence[Any] | None = None,
    options: dict | None = None,
    zoom: bool = False,
    colour_by_point: bool = False,
) -> dict:
    data: dict[str, Any] = {"datasets": datasets}
    if labels is not None:
        data["labels"] = list(labels)
    config = {"type": kind, "data": data, "options": options or {}, "zoom": zoom}
    if colour_by_point:
        config["colourByPoint"] = True
    return config


def xy_points(xs: Iterable[Any], ys: Iterable[Any], ts: Iterable[Any] | None = None) -> list[dict]:
    """Points ``{"x": …, "y": …}`` for a linear x axis; non-finite y values become null (gaps). With ``ts``
    (timestamps in ms) each point also carries ``"t"``, so the page can put wall-clock or relative time on x."""
    if ts is None:
        return [{"x": int(x), "y": finite(y)} for x, y in zip(xs, ys, strict=True)]
    return [{"x": int(x), "y": finite(y), "t": int(t)} for x, y, t in zip(xs, ys, ts, strict=True)]


def axis(title: str, **extra) -> dict:
    return {"title": {"display": True, "text": title}, **extra}
