import pytest

from apps.recommendations import caches


@pytest.fixture(autouse=True)
def _fresh_recommendation_caches():
    """A test's rolled-back writes must not survive in this process's similarity index or model cache."""
    yield
    caches.clear()
