"""Database expressions shared by the models and the search compiler."""

from django.db.models import FloatField, Func

# What counts as a number inside a param or tag value: at most 20 digits before and after the point and a two-digit
# exponent, so the cast to float8 can never overflow (a cast error would abort the query or the insert).
NUMERIC_TEXT_PATTERN = r"^\s*[-+]?(\d{1,20}(\.\d{0,20})?|\.\d{1,20})([eE][-+]?\d{1,2})?\s*$"


class NumericText(Func):
    """``text`` as float8 when it looks like a number (NUMERIC_TEXT_PATTERN), else NULL — never a cast error.

    Immutable (a regex match and a cast), so PostgreSQL can store it in a generated column."""

    output_field = FloatField()

    def as_sql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return (
            f"(CASE WHEN {sql} ~ %s THEN ({sql})::double precision END)",
            [*params, NUMERIC_TEXT_PATTERN, *params],
        )
