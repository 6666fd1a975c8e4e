"""The packed metric series copy under concurrency, on two real connections (outside a test transaction)."""

import time

import pytest

from apps.metrics import selectors, services
from apps.metrics.models import MetricSeries
from apps.metrics.validation import parse_log_batch
from tests.metrics.factories import points
from tests.support.batch_in_flight import batch_in_flight, committed_run


def series_row(ctx, run_id, key):
    with ctx.context():
        return MetricSeries.objects.filter(run_id=run_id, key=key).values("points", "packed_points").first()


@pytest.mark.slow
def test_a_read_during_a_batch_neither_waits_nor_stores_a_stale_copy(committed, settings):
    """A batch in flight holds the series row; a history read beside it answers at once with the committed points
    and leaves the copy unstored (SKIP LOCKED), so the batch's points are never hidden behind an old copy."""
    settings.METRIC_HISTORY_PACK_MIN_POINTS = 4
    settings.METRIC_HISTORY_PACK_QUIET_SECONDS = 0
    alpha, _ = committed
    with committed_run(alpha, "pack-concurrent") as run:
        with alpha.context():
            services.run_log_batch(run=run, batch=parse_log_batch({"metrics": points("loss", [1.0, 2.0, 3.0, 4.0])}))
        more = parse_log_batch({"metrics": points("loss", [5.0, 6.0], start_step=4)})
        with batch_in_flight(alpha, run.pk, more, hold_seconds=1.5) as errors:
            started = time.monotonic()
            with alpha.context():
                during = selectors._load_series(run.pk, "loss", None)
            waited = time.monotonic() - started
        assert not errors, errors
        assert waited < 1.0  # did not wait for the batch's commit
        assert list(during.values) == [1.0, 2.0, 3.0, 4.0] and during.source == selectors.Source.POINTS
        assert series_row(alpha, run.pk, "loss") == {"points": 6, "packed_points": None}
        with alpha.context():
            after = selectors._load_series(run.pk, "loss", None)
            assert list(after.values) == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
            assert selectors._load_series(run.pk, "loss", None).source == selectors.Source.COPY
