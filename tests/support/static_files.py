"""One scan of the static files per test process, as a server process does it.

Django's test client builds a middleware chain of its own for every ``Client``/``APIClient`` instance
(``ClientHandler.load_middleware``), so ``WhiteNoiseMiddleware.__init__`` runs once per client. With
``WHITENOISE_USE_FINDERS`` (the test settings: static files are not collected) it then walks every staticfiles finder
and stats every file it lists, about 50 ms each time; a gunicorn worker does that once, at start-up. Tests that make a
client per request (the isolation sweeps over every route and method) spent most of their time there.

The finders' part of the scan is therefore done once and its entries (WhiteNoise's ``StaticFile`` objects, which one
server process shares between all its requests too) are copied into every later middleware instance. A change of a
setting the scan reads (``override_settings``, pytest-django's ``settings`` fixture) drops the cached scan, so the
next client scans again under the new settings.
"""

from __future__ import annotations

STATIC_SETTINGS = {"INSTALLED_APPS", "DEBUG", "FORCE_SCRIPT_NAME", "STORAGES"}
_scan: dict[str, object] = {}


def _reads_static_files(setting: str) -> bool:
    return setting in STATIC_SETTINGS or setting.startswith(("STATIC", "WHITENOISE_"))


def _install() -> None:
    from django.core.signals import setting_changed
    from whitenoise.middleware import WhiteNoiseMiddleware

    original = WhiteNoiseMiddleware.add_files_from_finders

    def add_files_from_finders(self) -> None:
        if not _scan:
            own, self.files = self.files, {}
            try:
                original(self)
                _scan.update(self.files)
            finally:
                self.files = own
        self.files.update(_scan)

    def forget(*, setting: str, **kwargs) -> None:
        if _reads_static_files(setting):
            _scan.clear()

    WhiteNoiseMiddleware.add_files_from_finders = add_files_from_finders
    setting_changed.connect(forget, weak=False, dispatch_uid="tests.support.static_files")


def pytest_sessionstart(session):
    _install()
