"""The authentication generation (``AuthGeneration``): one row per tenant schema and the triggers that give it a new
value on every change to a user or to the authentication columns of an API token (not ``last_used_at``, which every
request may stamp). ``apps/accounts/token_cache.py`` explains what reads it. The value is random, not a counter: a
schema restored from an archive (``apps/ops/archive.py``) brings back an old value, and a counter would then reach
values again that processes cached other data under; a random 63-bit value is not met twice."""

from django.db import migrations, models

BUMP = """
CREATE FUNCTION accounts_auth_generation_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('UPDATE %I.accounts_authgeneration SET value = (random() * 9.2e18)::bigint', TG_TABLE_SCHEMA);
    RETURN NULL;
END $$;
INSERT INTO accounts_authgeneration (value) VALUES ((random() * 9.2e18)::bigint);
CREATE TRIGGER accounts_token_auth_change
    AFTER UPDATE OF user_id, prefix, key_hash, scope, expires_at, revoked_at OR DELETE ON accounts_apitoken
    FOR EACH STATEMENT EXECUTE FUNCTION accounts_auth_generation_bump();
CREATE TRIGGER accounts_token_auth_truncate AFTER TRUNCATE ON accounts_apitoken
    FOR EACH STATEMENT EXECUTE FUNCTION accounts_auth_generation_bump();
CREATE TRIGGER accounts_user_auth_change AFTER UPDATE OR DELETE ON accounts_user
    FOR EACH STATEMENT EXECUTE FUNCTION accounts_auth_generation_bump();
CREATE TRIGGER accounts_user_auth_truncate AFTER TRUNCATE ON accounts_user
    FOR EACH STATEMENT EXECUTE FUNCTION accounts_auth_generation_bump();
"""

UNBUMP = """
DROP TRIGGER accounts_token_auth_change ON accounts_apitoken;
DROP TRIGGER accounts_token_auth_truncate ON accounts_apitoken;
DROP TRIGGER accounts_user_auth_change ON accounts_user;
DROP TRIGGER accounts_user_auth_truncate ON accounts_user;
DROP FUNCTION accounts_auth_generation_bump();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_username_characters_token_names"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuthGeneration",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("value", models.BigIntegerField(default=0)),
            ],
            options={
                "verbose_name": "authentication generation",
            },
        ),
        migrations.RunSQL(BUMP, UNBUMP),
    ]
