"""Receivers of the access app: grants do not outlive the object they are about.

Guardian's generic rows reference objects by (content type, primary key) without a foreign key, so deleting a
project would leave its grants behind. Connected per guarded model (``sender=``), so no other model loses Django's
fast delete.
"""

from django.apps import apps
from django.db.models.signals import post_delete

from apps.access import policy
from apps.access.services import grants_remove_all


def _remove_grants(sender, instance, **kwargs):
    grants_remove_all(instance)


def connect() -> None:
    for label in policy.ANCHOR_MODELS.values():
        try:
            model = apps.get_model(label)
        except LookupError:
            continue
        post_delete.connect(_remove_grants, sender=model, weak=False, dispatch_uid=f"access:grants:{label}")
