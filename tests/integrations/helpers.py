"""Helpers for integration tests that use committed data next to a live server, a worker or the browser."""

from concurrent.futures import ThreadPoolExecutor

from django.db import connection


def outside_event_loop(function):
    """Run ORM work in a fresh thread. Once the session's Playwright browser has started, Django refuses sync ORM
    calls from the main thread (it sees Playwright's running event loop); a worker thread has no loop."""

    def run():
        try:
            return function()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()
