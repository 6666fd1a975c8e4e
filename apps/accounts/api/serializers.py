from django.db import connection
from rest_framework import serializers

from apps.accounts.choices import Role, TokenScope
from apps.accounts.models import ApiToken, User
from apps.accounts.validators import USERNAME_CHARACTERS


def _help(name: str) -> str:
    return str(User._meta.get_field(name).help_text)


# GET /api/v1/me. Declared field by field, not a ModelSerializer: that one introspects the model to build its fields on
# every instantiation, half of this serializer's cost on a call scripts make often (0.30 → 0.12-0.17 ms; issue 24).
# The fields are the ones the ModelSerializer had, with the model's help texts.
class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True, help_text=_help("username"))
    email = serializers.EmailField(read_only=True, allow_blank=True, label="Email address")
    first_name = serializers.CharField(read_only=True)
    last_name = serializers.CharField(read_only=True)
    role = serializers.ChoiceField(choices=Role.choices, read_only=True)
    is_service_account = serializers.BooleanField(read_only=True, help_text=_help("is_service_account"))
    tenant = serializers.SerializerMethodField()

    def get_tenant(self, obj) -> str:
        return connection.schema_name


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "email",
            "first_name",
            "last_name",
            "role",
            "is_service_account",
            "is_active",
            "date_joined",
            "last_login",
        ]
        read_only_fields = fields


class UserCreateSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150, help_text=f"150 characters or fewer: {USERNAME_CHARACTERS}.")
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)
    is_service_account = serializers.BooleanField(default=False)
    password = serializers.CharField(
        required=False,
        write_only=True,
        allow_blank=True,
        style={"input_type": "password"},
        help_text="Initial password (people only; service accounts never have one).",
    )


class UserUpdateSerializer(serializers.Serializer):
    email = serializers.EmailField(required=False, allow_blank=True)
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    is_active = serializers.BooleanField(required=False)


class ApiTokenSerializer(serializers.ModelSerializer):
    is_active = serializers.BooleanField(read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "scope",
            "user",
            "username",
            "created_at",
            "expires_at",
            "revoked_at",
            "last_used_at",
            "is_active",
        ]
        read_only_fields = ["id", "prefix", "user", "created_at", "revoked_at", "last_used_at", "is_active"]


class ApiTokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scope = serializers.ChoiceField(choices=TokenScope.choices, default=TokenScope.WRITE)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    user = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.all(),
        required=False,
        allow_null=True,
        help_text="Owners and admins: a service account to create the token for (default: yourself).",
    )


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The full token. Shown only in this response.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
