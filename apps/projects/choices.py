from django.db import models


class ProblemClass(models.TextChoices):
    CLASSIFICATION = "classification", "Classification"
    REGRESSION = "regression", "Regression"
    FORECASTING = "forecasting", "Forecasting"
    NLP = "nlp", "NLP"
    VISION = "vision", "Vision"
    RECOMMENDATION = "recommendation", "Recommendation"
    OTHER = "other", "Other"


class ProjectStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class Visibility(models.TextChoices):
    PRIVATE = "private", "Private (team members and grants)"
    TENANT = "tenant", "Everyone in the organisation"


class MemberRole(models.TextChoices):
    ML_ENGINEER = "ml_engineer", "ML engineer"
    DATA_SCIENTIST = "data_scientist", "Data scientist"
    DATA_ENGINEER = "data_engineer", "Data engineer"
    MLOPS = "mlops", "MLOps"
    ANALYST = "analyst", "Analyst"
    PRODUCT_MANAGER = "product_manager", "Product manager"
    DOMAIN_EXPERT = "domain_expert", "Domain expert"
    OTHER = "other", "Other"


class ExperienceLevel(models.TextChoices):
    JUNIOR = "junior", "Junior"
    MID = "mid", "Mid"
    SENIOR = "senior", "Senior"
    STAFF = "staff", "Staff"
    PRINCIPAL = "principal", "Principal"


class SuccessScoreSource(models.TextChoices):
    COMPUTED = "computed", "Computed from outcome fields"
    EXPLICIT = "explicit", "Set explicitly"


class AttributeKind(models.TextChoices):
    NUMBER = "number", "Number"
    BOOLEAN = "boolean", "Yes / no"
    CATEGORY = "category", "Category"
