"""Logging helpers: every record carries the request id, tenant and actor of the code that emitted it."""

import logging

from maestro.context import actor_var, request_id_var, tenant_var


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.tenant = tenant_var.get()
        record.actor = actor_var.get()
        return True
