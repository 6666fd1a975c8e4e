"""factory_boy factories for the artifact library (use inside a tenant's ``ctx.context()``)."""

import factory

from apps.artifacts.choices import ArtifactType
from apps.artifacts.models import Artifact, ArtifactUsage, ArtifactVersion
from tests.projects.factories import ProjectFactory, UserFactory


class ArtifactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Artifact

    name = factory.Sequence(lambda n: f"artifact-{n}")
    type = ArtifactType.FEATURE_PIPELINE
    description = "Reusable feature pipeline."
    tags = factory.LazyFunction(lambda: ["features"])
    owner = factory.SubFactory(UserFactory)


class ArtifactVersionFactory(factory.django.DjangoModelFactory):
    """A version without a file; files are added through the service (it hashes and deduplicates them)."""

    class Meta:
        model = ArtifactVersion

    artifact = factory.SubFactory(ArtifactFactory)
    major = 1
    minor = factory.Sequence(lambda n: n)
    patch = 0
    version = factory.LazyAttribute(lambda v: f"{v.major}.{v.minor}.{v.patch}")
    changelog = "Initial."


class ArtifactUsageFactory(factory.django.DjangoModelFactory):
    """A usage row only; counts are the services' job — use ``artifact_usage_create`` when usage_count matters."""

    class Meta:
        model = ArtifactUsage

    project = factory.SubFactory(ProjectFactory)
    artifact_version = factory.SubFactory(ArtifactVersionFactory)
    artifact = factory.LazyAttribute(lambda usage: usage.artifact_version.artifact)
    used_by = factory.SubFactory(UserFactory)
    context = "Used for the baseline."
