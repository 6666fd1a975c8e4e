"""factory_boy factories for projects (use inside a tenant's ``ctx.context()``)."""

import factory
from django.contrib.auth import get_user_model

from apps.projects.choices import ExperienceLevel, MemberRole, ProblemClass, ProjectStatus
from apps.projects.models import Project, TeamMember


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.test")


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")
    spec = "Predict churn for the retail segment."
    problem_class = ProblemClass.CLASSIFICATION
    complexity_score = 50
    status = ProjectStatus.ACTIVE
    tags = factory.LazyFunction(lambda: ["tabular"])
    owner = factory.SubFactory(UserFactory)


class TeamMemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TeamMember

    project = factory.SubFactory(ProjectFactory)
    display_name = factory.Sequence(lambda n: f"Member {n}")
    role = MemberRole.ML_ENGINEER
    experience_level = ExperienceLevel.SENIOR
    years_experience = 6
    contribution_hours = 120
    performance_score = 80
