"""The recommendation engine's computations on plain arrays and dataclasses — no Django, no ORM — so they can be
tested and benchmarked on synthetic data. ``apps.recommendations.services`` feeds them from the database."""
