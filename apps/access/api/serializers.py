from rest_framework import serializers

from apps.access import policy

OBJECT_TYPES = {"project": "projects.Project", "artifact": "artifacts.Artifact"}


class GrantTargetSerializer(serializers.Serializer):
    object_type = serializers.ChoiceField(choices=sorted(OBJECT_TYPES))
    object_id = serializers.IntegerField(min_value=1)


class GrantPrincipalSerializer(GrantTargetSerializer):
    user = serializers.IntegerField(required=False, min_value=1, help_text="User id (or give group).")
    group = serializers.IntegerField(required=False, min_value=1, help_text="Group id (or give user).")

    def validate(self, attrs):
        if ("user" in attrs) == ("group" in attrs):
            raise serializers.ValidationError({"user": "Give exactly one of user or group."})
        return attrs


class GrantSetSerializer(GrantPrincipalSerializer):
    level = serializers.ChoiceField(choices=policy.LEVELS)


class GrantSerializer(serializers.Serializer):
    principal_type = serializers.ChoiceField(choices=["user", "group"])
    principal_id = serializers.IntegerField()
    principal = serializers.CharField()
    level = serializers.ChoiceField(choices=policy.LEVELS)


class GrantListSerializer(serializers.Serializer):
    object_type = serializers.CharField()
    object_id = serializers.IntegerField()
    results = GrantSerializer(many=True)
