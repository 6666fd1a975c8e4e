from tests.projects.helpers import admin  # noqa: F401  (shared fixture)
