import pytest
from django.db import connection

from apps.webhooks.models import Event
from tests.webhooks.receiver import Receiver


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _no_earlier_events(request, _session_tenants, django_db_blocker):
    """Each test here starts with no events in either tenant: committed fixtures of other test files (the seeded
    tenants, which train and promote models) leave real events behind, and these tests count events. In a test's
    transaction (``django_db``) the deletion is rolled back with it; for the tests that commit (``committed``) it is
    real, as their own cleanup is."""
    if request.node.get_closest_marker("django_db"):
        request.getfixturevalue("db")
        _delete_events(_session_tenants)
    else:
        with django_db_blocker.unblock():
            _delete_events(_session_tenants)


def _delete_events(tenants) -> None:
    for ctx in tenants:
        with ctx.context():
            Event.objects.all().delete()  # their deliveries and notifications' references go with them
    connection.set_schema_to_public()
