"""The authentication generation (``AuthGeneration``): one counter row per tenant schema and the triggers that bump
it on every change to a user or to the authentication columns of an API token (not ``last_used_at``, which every
request may stamp). ``apps/accounts/token_cache.py`` explains what reads it."""

from django.db import migrations, models

BUMP = """
CREATE FUNCTION accounts_auth_generation_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('UPDATE %I.accounts_authgeneration SET value = value + 1', TG_TABLE_SCHEMA);
    RETURN NULL;
END $$;
INSERT INTO accounts_authgeneration (value) VALUES (0);
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
