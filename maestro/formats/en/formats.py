"""Date formats of the product: ISO 8601 everywhere (2026-12-06, 2026-12-06 14:05), so a date reads the same on
every page, in exports and in the API, instead of Django's English default ("Dec. 6, 2026") next to the ISO dates
that templates format explicitly. Formats not named here fall back to the settings' defaults."""

DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
TIME_FORMAT = "H:i"
